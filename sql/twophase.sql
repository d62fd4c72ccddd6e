--
-- twophase: with two-phase, a prepared transaction is written at PREPARE
-- (its changes, then a prepare event) and later followed by
-- commit_prepared or rollback_prepared.  Without the option it is written
-- when COMMIT PREPARED commits it, like any transaction.
--
SELECT 'init' FROM pg_create_logical_replication_slot('tp', 'pg_eventstream', false, true);
CREATE TABLE tp(id int PRIMARY KEY);

BEGIN;
INSERT INTO tp VALUES (1);
INSERT INTO tp VALUES (2);
PREPARE TRANSACTION 'gid-commit';
BEGIN;
INSERT INTO tp VALUES (3);
PREPARE TRANSACTION 'gid-rollback';
SELECT * FROM es_changes('tp', 'two-phase', '1', 'include-transaction', '1');
COMMIT PREPARED 'gid-commit';
ROLLBACK PREPARED 'gid-rollback';
SELECT * FROM es_changes('tp', 'two-phase', '1', 'include-transaction', '1');
SELECT pg_drop_replication_slot('tp');

-- without two-phase the committed prepared transaction comes at commit
SELECT 'init' FROM pg_create_logical_replication_slot('tp2', 'pg_eventstream');
BEGIN;
INSERT INTO tp VALUES (4);
PREPARE TRANSACTION 'gid-late';
SELECT * FROM es_changes('tp2');
COMMIT PREPARED 'gid-late';
SELECT * FROM es_changes('tp2');
SELECT pg_drop_replication_slot('tp2');
