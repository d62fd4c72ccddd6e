/*-------------------------------------------------------------------------
 *
 * kafka.c
 *	  A librdkafka idempotent producer driven from the sink worker's wait
 *	  loop, and the reading of a partition's tail.
 *
 * librdkafka runs threads of its own; none of them may call PostgreSQL.
 * So the producer is made by the sink worker (after fork), with the event
 * API: delivery reports, errors and log lines all go to the handle's main
 * queue, which librdkafka signals by writing a byte to a pipe.  The worker
 * waits on that pipe in its WaitEventSet and serves the queue on its own
 * thread (es_kafka_serve): reports go to the caller's callback, log lines
 * to the server log, errors to the caller.
 *
 * es_kafka_tail reads the end of one partition with a short-lived consumer:
 * the eventstream-id headers of this stream's messages after a position,
 * which the Kafka sink skips when it starts again (exactly once).
 *
 * Nothing here touches the catalogs; kafka_sink.c records what happened.
 *
 * src/sink/kafka.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "utils/timestamp.h"

#include "kafka.h"

/* the producers open, flushed when the worker exits */
#define MAX_OPEN 64
static EsKafka *open_producers[MAX_OPEN];
static bool exit_hook = false;

/*
 * The cluster is asked in slices of a second, between which the worker
 * answers interrupts and the postmaster's death: a crash restart never
 * waits for a broker that does not answer
 */
#define SLICE_MS 1000

static void
check_alive(void)
{
	CHECK_FOR_INTERRUPTS();
	if (!PostmasterIsAlive())
		proc_exit(1);
}

/* (malloc'd: it lives as long as the producer, across transactions) */
struct EsKafka
{
	rd_kafka_t *rk;
	rd_kafka_queue_t *mainq;
	int			pipefd[2];		/* librdkafka writes, the worker waits */
	const char *brokers;		/* (the sink's options own these) */
	List	   *config;
};

/* a configuration: brokers (if any) and the properties given */
static rd_kafka_conf_t *
make_conf(const char *brokers, List *config, char *errbuf, size_t size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	ListCell   *lc;

	if (brokers != NULL &&
		rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errbuf, size) != RD_KAFKA_CONF_OK)
	{
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	for (lc = list_head(config); lc != NULL; lc = lnext(config, lc))
	{
		const char *name = lfirst(lc);
		const char *value;

		lc = lnext(config, lc);
		value = lfirst(lc);
		if (rd_kafka_conf_set(conf, name, value, errbuf, size) != RD_KAFKA_CONF_OK)
		{
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	return conf;
}

/*
 * es_kafka_check_config tells whether librdkafka takes these properties
 * (name, value, name, value, ...); if not, errbuf says why
 */
bool
es_kafka_check_config(List *config, char *errbuf, size_t size)
{
	rd_kafka_conf_t *conf = make_conf(NULL, config, errbuf, size);

	if (conf == NULL)
		return false;
	rd_kafka_conf_destroy(conf);
	return true;
}

/*
 * At exit (SIGTERM, the last sink dropped), give what was produced a
 * moment to be written: the next start finds it in the tails, so it is not
 * produced twice either way
 */
static void
flush_at_exit(int code, Datum arg)
{
	/* (not when the postmaster died: the restart must not wait for us) */
	if (!PostmasterIsAlive())
		return;
	for (int i = 0; i < MAX_OPEN; i++)
	{
		if (open_producers[i] != NULL)
			rd_kafka_flush(open_producers[i]->rk, 2000);
	}
}

static void
remember(EsKafka *k, EsKafka *old)
{
	for (int i = 0; i < MAX_OPEN; i++)
	{
		if (open_producers[i] == old)
		{
			open_producers[i] = k;
			return;
		}
	}
}

/*
 * es_kafka_open makes an idempotent producer whose reports, errors and
 * logs wait on its main queue; NULL (and errbuf) if librdkafka refuses
 */
EsKafka *
es_kafka_open(const char *brokers, List *config, char *errbuf, size_t size)
{
	rd_kafka_conf_t *conf = make_conf(brokers, config, errbuf, size);
	EsKafka    *k;

	if (conf == NULL)
		return NULL;
	if (rd_kafka_conf_set(conf, "enable.idempotence", "true", errbuf, size) != RD_KAFKA_CONF_OK ||
		rd_kafka_conf_set(conf, "log.queue", "true", errbuf, size) != RD_KAFKA_CONF_OK ||
		rd_kafka_conf_set(conf, "client.id", "pg_eventstream", errbuf, size) != RD_KAFKA_CONF_OK)
	{
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG);

	k = calloc(1, sizeof(EsKafka));
	if (k == NULL)
	{
		snprintf(errbuf, size, "out of memory");
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	k->brokers = brokers;
	k->config = config;
	if (pipe2(k->pipefd, O_NONBLOCK | O_CLOEXEC) != 0)
	{
		snprintf(errbuf, size, "could not make a pipe: %m");
		rd_kafka_conf_destroy(conf);
		free(k);
		return NULL;
	}
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, size);
	if (k->rk == NULL)
	{
		rd_kafka_conf_destroy(conf);
		close(k->pipefd[0]);
		close(k->pipefd[1]);
		free(k);
		return NULL;
	}
	k->mainq = rd_kafka_queue_get_main(k->rk);
	rd_kafka_set_log_queue(k->rk, NULL);
	rd_kafka_queue_io_event_enable(k->mainq, k->pipefd[1], "1", 1);
	if (!exit_hook)
	{
		before_shmem_exit(flush_at_exit, (Datum) 0);
		exit_hook = true;
	}
	remember(k, NULL);
	return k;
}

/*
 * es_kafka_close ends the producer: what is queued or in flight is given
 * up at once (purged), so its fate is only known by reading the tail
 */
void
es_kafka_close(EsKafka *k)
{
	if (k == NULL)
		return;
	remember(NULL, k);
	rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_queue_io_event_enable(k->mainq, -1, NULL, 0);
	rd_kafka_queue_destroy(k->mainq);
	rd_kafka_destroy(k->rk);
	close(k->pipefd[0]);
	close(k->pipefd[1]);
	free(k);
}

/* es_kafka_fd is readable while reports, errors or logs wait */
int
es_kafka_fd(EsKafka *k)
{
	return k->pipefd[0];
}

/*
 * es_kafka_partitions is the number of partitions of a topic, asking the
 * cluster; -1 (and errbuf) if it cannot tell, -2 if Kafka refuses us it
 */
int
es_kafka_partitions(EsKafka *k, const char *topic, int timeout_ms,
					char *errbuf, size_t size)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, topic, NULL);
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	int			n = -1;

	if (rkt == NULL)
	{
		snprintf(errbuf, size, "invalid topic \"%s\"", topic);
		return -1;
	}
	for (int waited = 0;; waited += SLICE_MS)
	{
		check_alive();
		err = rd_kafka_metadata(k->rk, 0, rkt, &md, Min(SLICE_MS, timeout_ms));
		if (err != RD_KAFKA_RESP_ERR__TIMED_OUT || waited + SLICE_MS >= timeout_ms)
			break;
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		snprintf(errbuf, size, "no metadata for topic \"%s\": %s", topic, rd_kafka_err2str(err));
	else
	{
		if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			rd_kafka_resp_err_t terr = md->topic_cnt == 1 ? md->topics[0].err :
				RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;

			snprintf(errbuf, size, "topic \"%s\": %s", topic, rd_kafka_err2str(terr));
			if (es_kafka_denial(terr))
				n = -2;
		}
		else if (md->topics[0].partition_cnt <= 0)
			snprintf(errbuf, size, "topic \"%s\" has no partitions yet", topic);
		else
			n = md->topics[0].partition_cnt;
		rd_kafka_metadata_destroy(md);
	}
	rd_kafka_topic_destroy(rkt);
	return n;
}

/*
 * es_kafka_produce queues one message for a partition: value NULL is a
 * tombstone; headers are name, value pairs.  tag comes back in its
 * delivery report.
 */
EsKafkaProduced
es_kafka_produce(EsKafka *k, const char *topic, int partition,
				 const char *key, size_t key_len, const char *value, size_t value_len,
				 const char *const *headers, int nheaders, uint64 tag,
				 char *errbuf, size_t size)
{
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(nheaders);
	rd_kafka_resp_err_t err;

	for (int i = 0; i < nheaders; i++)
		rd_kafka_header_add(hdrs, headers[2 * i], -1, headers[2 * i + 1], -1);
	err = rd_kafka_producev(k->rk,
							RD_KAFKA_V_TOPIC(topic),
							RD_KAFKA_V_PARTITION(partition),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_KEY(key, key_len),
							RD_KAFKA_V_VALUE((void *) value, value_len),
							RD_KAFKA_V_HEADERS(hdrs),
							RD_KAFKA_V_OPAQUE((void *) (uintptr_t) tag),
							RD_KAFKA_V_END);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return ES_KAFKA_QUEUED;
	rd_kafka_headers_destroy(hdrs);
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return ES_KAFKA_QUEUE_FULL;
	snprintf(errbuf, size, "%s", rd_kafka_err2str(err));
	if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
		return ES_KAFKA_TOO_LARGE;
	return ES_KAFKA_FAILED;
}

/* es_kafka_too_large: does a report's error say the message is too large? */
bool
es_kafka_too_large(int err)
{
	return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
}

/* es_kafka_denial: does an error say Kafka refuses us (for good)? */
bool
es_kafka_denial(int err)
{
	return err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
		err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ||
		err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
		err == RD_KAFKA_RESP_ERR__AUTHENTICATION;
}

/*
 * es_kafka_serve serves what waits on the main queue, on this thread:
 * delivery reports to the callback, log lines to the server log, and the
 * last error into problem (zeroed if none)
 */
void
es_kafka_serve(EsKafka *k, EsKafkaDelivered delivered, void *arg, EsKafkaProblem *problem)
{
	char		drain[256];
	rd_kafka_event_t *ev;

	memset(problem, 0, sizeof(EsKafkaProblem));
	while (read(k->pipefd[0], drain, sizeof(drain)) > 0)
		;
	while ((ev = rd_kafka_queue_poll(k->mainq, 0)) != NULL)
	{
		switch (rd_kafka_event_type(ev))
		{
			case RD_KAFKA_EVENT_DR:
				{
					const rd_kafka_message_t *m;

					while ((m = rd_kafka_event_message_next(ev)) != NULL)
						delivered(arg, (uint64) (uintptr_t) m->_private, m->err,
								  m->err ? rd_kafka_err2str(m->err) : NULL,
								  m->offset >= 0 ? m->offset : -1);
					break;
				}
			case RD_KAFKA_EVENT_ERROR:
				problem->err = rd_kafka_event_error(ev);
				problem->fatal = rd_kafka_event_error_is_fatal(ev);
				problem->denied = es_kafka_denial(problem->err);
				if (problem->fatal)
					rd_kafka_fatal_error(k->rk, problem->message, sizeof(problem->message));
				else
					strlcpy(problem->message, rd_kafka_event_error_string(ev),
							sizeof(problem->message));
				break;
			case RD_KAFKA_EVENT_LOG:
				{
					const char *fac;
					const char *str;
					int			level;

					rd_kafka_event_log(ev, &fac, &str, &level);
					ereport(level <= 4 ? LOG : DEBUG1,
							(errmsg_internal("librdkafka: %s: %s", fac, str)));
					break;
				}
			default:
				break;
		}
		rd_kafka_event_destroy(ev);
	}
}

/* the eventstream-id of a message of the stream, or -1 */
static int64
message_id(const rd_kafka_message_t *m, const char *stream)
{
	rd_kafka_headers_t *h;
	const void *val;
	size_t		len;
	char		buf[32];

	if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	if (rd_kafka_header_get_last(h, "eventstream-stream", &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		len != strlen(stream) || memcmp(val, stream, len) != 0)
		return -1;
	if (rd_kafka_header_get_last(h, "eventstream-id", &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, val, len);
	buf[len] = '\0';
	return strtoll(buf, NULL, 10);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/* a consumer of the topic for es_kafka_tail; NULL (and errbuf) if none */
static rd_kafka_t *
tail_consumer(EsKafka *k, char *errbuf, size_t size)
{
	rd_kafka_conf_t *conf = make_conf(k->brokers, k->config, errbuf, size);
	rd_kafka_t *c;

	if (conf == NULL)
		return NULL;
	rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
	rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", NULL, 0);
	/* (an offset retention already dropped: start at the first kept) */
	rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
	rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
	rd_kafka_conf_set(conf, "isolation.level", "read_committed", NULL, 0);
	rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", NULL, 0);
	rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
	c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, size);
	if (c == NULL)
		rd_kafka_conf_destroy(conf);
	return c;
}

/*
 * Read the partitions of a topic on queue q from start[p] (a logical
 * offset, or absolute) until each is done: an end of partition, or its
 * offset stop[p] (-1: only the end) reached.  For each message call
 * found(arg, partition, message).  False (and errbuf) on failure.
 */
static bool
read_until(rd_kafka_topic_t *rkt, rd_kafka_queue_t *q, const char *topic, int nparts,
		   const int64 *start, const int64 *stop, TimestampTz deadline,
		   void (*found) (void *arg, int p, rd_kafka_message_t *m), void *arg,
		   char *errbuf, size_t size)
{
	bool	   *done = palloc0(sizeof(bool) * nparts);
	int			ndone = 0;
	int			started = 0;
	bool		ok = false;

	for (int p = 0; p < nparts; p++)
	{
		if (start[p] == RD_KAFKA_OFFSET_INVALID)
		{
			done[p] = true;		/* nothing to read there */
			ndone++;
			continue;
		}
		if (rd_kafka_consume_start_queue(rkt, p, start[p], q) != 0)
		{
			snprintf(errbuf, size, "could not read topic \"%s\" partition %d: %s", topic, p,
					 rd_kafka_err2str(rd_kafka_last_error()));
			goto stop;
		}
		started = p + 1;
	}
	while (ndone < nparts)
	{
		rd_kafka_message_t *m;
		int			p;

		check_alive();
		if (GetCurrentTimestamp() > deadline)
		{
			snprintf(errbuf, size, "timed out reading the end of topic \"%s\"", topic);
			goto stop;
		}
		m = rd_kafka_consume_queue(q, 100);
		if (m == NULL)
			continue;
		p = m->partition;
		if (p < 0 || p >= nparts || done[p])
		{
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		{
			done[p] = true;
			ndone++;
		}
		else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			snprintf(errbuf, size, "reading topic \"%s\" partition %d: %s",
					 topic, p, rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			goto stop;
		}
		else
		{
			found(arg, p, m);
			if (stop[p] >= 0 && m->offset >= stop[p])
			{
				done[p] = true;
				ndone++;
			}
		}
		rd_kafka_message_destroy(m);
	}
	ok = true;
stop:
	for (int p = 0; p < started; p++)
	{
		if (start[p] != RD_KAFKA_OFFSET_INVALID)
			rd_kafka_consume_stop(rkt, p);
	}
	pfree(done);
	return ok;
}

/* what es_kafka_tail collects */
typedef struct TailState
{
	const char *stream;
	int64		after_id;
	int64	   *last;			/* per partition: the last message's offset */
	int64	  **codes;
	int		   *ncodes;
	int		   *cap;
} TailState;

static void
found_last(void *arg, int p, rd_kafka_message_t *m)
{
	((TailState *) arg)->last[p] = m->offset;
}

static void
found_code(void *arg, int p, rd_kafka_message_t *m)
{
	TailState  *st = arg;
	int64		id = message_id(m, st->stream);

	if (id <= st->after_id)
		return;
	if (st->ncodes[p] == st->cap[p])
	{
		st->cap[p] = Max(st->cap[p] * 2, 64);
		st->codes[p] = st->codes[p] ? repalloc(st->codes[p], sizeof(int64) * st->cap[p]) :
			palloc(sizeof(int64) * st->cap[p]);
	}
	st->codes[p][st->ncodes[p]++] = id * 2 + (m->payload == NULL ? 1 : 0);
}

/*
 * es_kafka_tail reads the last max_messages messages of each of a topic's
 * nparts partitions (to their ends, as they are now), with a consumer of
 * its own, and gives per partition the codes (id * 2, + 1 for a
 * tombstone) of the stream's messages after after_id, sorted, in
 * codes[p] (ncodes[p] of them).  The sink never has more than that many
 * ids past its position in flight.  False (and errbuf) on failure.  (Only
 * the consumer's own poll loop waits, and only until timeout_ms, whatever
 * the brokers do.)
 *
 * First each partition's last message (its offset: where the end is),
 * then, from max_messages before it, absolute offsets (a logical "tail"
 * offset before a partition's start is not reset to its start).
 */
/* read_until on a consumer of its own (one per pass: a partition once
 * stopped is not started again reliably on the same handle) */
static bool
read_pass(EsKafka *k, const char *topic, int nparts, const int64 *start, const int64 *stop,
		  TimestampTz deadline, void (*found) (void *arg, int p, rd_kafka_message_t *m),
		  void *arg, char *errbuf, size_t size)
{
	rd_kafka_t *c = tail_consumer(k, errbuf, size);
	rd_kafka_topic_t *rkt;
	rd_kafka_queue_t *q;
	bool		ok = false;

	if (c == NULL)
		return false;
	q = rd_kafka_queue_new(c);
	rkt = rd_kafka_topic_new(c, topic, NULL);
	if (rkt == NULL)
		snprintf(errbuf, size, "invalid topic \"%s\"", topic);
	else
	{
		ok = read_until(rkt, q, topic, nparts, start, stop, deadline, found, arg,
						errbuf, size);
		rd_kafka_topic_destroy(rkt);
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(c);
	return ok;
}

bool
es_kafka_tail(EsKafka *k, const char *topic, int nparts, int64 after_id,
			  const char *stream, int max_messages, int timeout_ms,
			  int64 **codes, int *ncodes, char *errbuf, size_t size)
{
	TimestampTz deadline = GetCurrentTimestamp() + (int64) timeout_ms * 1000;
	int64	   *start = palloc(sizeof(int64) * nparts);
	int64	   *stop = palloc(sizeof(int64) * nparts);
	TailState	st;
	bool		ok;

	st.stream = stream;
	st.after_id = after_id;
	st.last = palloc(sizeof(int64) * nparts);
	st.codes = codes;
	st.ncodes = ncodes;
	st.cap = palloc0(sizeof(int) * nparts);
	for (int p = 0; p < nparts; p++)
	{
		codes[p] = NULL;
		ncodes[p] = 0;
		st.last[p] = -1;
		start[p] = RD_KAFKA_OFFSET_TAIL(1);
		stop[p] = -1;
	}
	ok = read_pass(k, topic, nparts, start, stop, deadline, found_last, &st, errbuf, size);
	if (ok)
	{
		for (int p = 0; p < nparts; p++)
		{
			start[p] = st.last[p] < 0 ? RD_KAFKA_OFFSET_INVALID :
				Max(0, st.last[p] + 1 - max_messages);
			stop[p] = st.last[p];
		}
		ok = read_pass(k, topic, nparts, start, stop, deadline, found_code, &st, errbuf, size);
	}
	for (int p = 0; ok && p < nparts; p++)
		qsort(codes[p], ncodes[p], sizeof(int64), cmp_int64);
	return ok;
}
