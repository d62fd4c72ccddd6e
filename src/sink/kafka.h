/*-------------------------------------------------------------------------
 *
 * kafka.h
 *	  A librdkafka producer driven from the sink worker's wait loop
 *	  (kafka.c).  Nothing here reads or writes PostgreSQL's catalogs.
 *
 * src/sink/kafka.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_KAFKA_H
#define ES_KAFKA_H

#include "nodes/pg_list.h"

typedef struct EsKafka EsKafka;

/* what es_kafka_serve found besides delivery reports */
typedef struct EsKafkaProblem
{
	int			err;			/* rd_kafka_resp_err_t, 0: none */
	bool		fatal;			/* the producer cannot go on */
	bool		denied;			/* authorization or authentication refused */
	char		message[512];
} EsKafkaProblem;

/*
 * a delivery report: tag as given to es_kafka_produce, err 0 if written;
 * offset where, or -1 if the broker did not say (an idempotent retry it
 * took for a duplicate)
 */
typedef void (*EsKafkaDelivered) (void *arg, uint64 tag, int err, const char *errstr,
								  int64 offset);

/* what es_kafka_produce says */
typedef enum EsKafkaProduced
{
	ES_KAFKA_QUEUED,
	ES_KAFKA_QUEUE_FULL,		/* try again after reports were served */
	ES_KAFKA_TOO_LARGE,			/* never: larger than message.max.bytes */
	ES_KAFKA_FAILED				/* errbuf says why */
} EsKafkaProduced;

extern bool es_kafka_check_config(List *config, char *errbuf, size_t size);
extern EsKafka *es_kafka_open(const char *brokers, List *config,
							  char *errbuf, size_t size);
extern void es_kafka_close(EsKafka *k);
extern int	es_kafka_fd(EsKafka *k);
extern int	es_kafka_partitions(EsKafka *k, const char *topic, int timeout_ms,
								char *errbuf, size_t size);
extern EsKafkaProduced es_kafka_produce(EsKafka *k, const char *topic, int partition,
										const char *key, size_t key_len,
										const char *value, size_t value_len,
										const char *const *headers, int nheaders,
										uint64 tag, char *errbuf, size_t size);
extern bool es_kafka_too_large(int err);
extern bool es_kafka_denial(int err);
extern void es_kafka_serve(EsKafka *k, EsKafkaDelivered delivered, void *arg,
						   EsKafkaProblem *problem);
extern bool es_kafka_tail(EsKafka *k, const char *topic, int nparts,
						  int64 after_id, const char *stream, int max_messages,
						  int timeout_ms, int64 **codes, int *ncodes,
						  char *errbuf, size_t size);

#endif							/* ES_KAFKA_H */
