-- src/aggregate/distinct.sql: the value counts behind count(DISTINCT x),
-- and the refusal of deletes by hll sketches
-- (concatenated into the install script by the Makefile, and into the
-- update from 0.1.0, which adds it: hence OR REPLACE)
--
-- A continuous count(DISTINCT x) keeps, per group, how many rows hold each
-- value, as a jsonb object {"value as text": rows}; the count is the
-- number of values with rows.  A batch brings its rows as [value, +1 or
-- -1] pairs (statements.c), added here; a value whose rows reach zero
-- goes.  (Plain SQL, inlined into the maintenance statements; its cost per
-- group follows the group's distinct values.)

-- counts plus deltas: deltas are an object like counts, or an array of
-- [value, n] pairs
CREATE OR REPLACE FUNCTION eventstream._distinct_add(counts jsonb, deltas jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT coalesce(pg_catalog.jsonb_object_agg(u.v, u.n), '{}')
	  FROM (SELECT v, pg_catalog.sum(n) AS n
			  FROM (SELECT e.key AS v, e.value::bigint AS n FROM pg_catalog.jsonb_each(counts) e
					UNION ALL
					SELECT e.key, e.value::bigint
					  FROM pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(deltas) = 'object'
													  THEN deltas ELSE '{}' END) e
					UNION ALL
					SELECT p.value ->> 0, (p.value ->> 1)::bigint
					  FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(deltas) = 'array'
																THEN deltas ELSE '[]' END) p) a
			 GROUP BY v
			HAVING pg_catalog.sum(n) <> 0) u
$$;

-- the distinct values that have rows
CREATE OR REPLACE FUNCTION eventstream._distinct_count(counts jsonb)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_each(counts) e WHERE e.value::bigint > 0
$$;

-- hll_add_agg and hll_union_agg keep a sketch, which cannot take a row
-- out: a batch that deletes rows (or moves them to another group) fails
-- the aggregate, saying so, until refresh_aggregate computes it again
CREATE OR REPLACE FUNCTION eventstream._cannot_remove(aggregate text, removed bigint)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF removed > 0 THEN
		RAISE EXCEPTION 'a continuous %() cannot take out rows that were deleted or updated', aggregate
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'An hll sketch can add values, not remove them.',
				  HINT = 'Use it on tables that are only inserted into; eventstream.refresh_aggregate() computes it again.';
	END IF;
	RETURN true;
END
$$;

-- the value counts of several rows as one (windows: src/aggregate/window.c)
CREATE OR REPLACE AGGREGATE eventstream._distinct_union(jsonb) (
	SFUNC = eventstream._distinct_add,
	STYPE = jsonb,
	INITCOND = '{}'
);
