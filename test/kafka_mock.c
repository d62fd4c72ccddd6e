/*
 * test/kafka_mock.c - a Kafka cluster for the tests and the benchmark,
 * with no broker installed: librdkafka's mock cluster (3 brokers), run
 * until stdin closes or "quit".
 *
 *   cc -o kafka_mock kafka_mock.c -lrdkafka && ./kafka_mock [BROKERS]
 *
 * It prints "bootstrap <host:port,...>" once the cluster is up, then
 * reads one command per line from stdin, answering "ok" (or "error ...")
 * to each, so a test can wait for a fault to be in place:
 *
 *   topic NAME PARTITIONS          create a topic (replication 1)
 *   down BROKER_ID | up BROKER_ID  take a broker down, or back up
 *   rtt BROKER_ID MS               a broker's round-trip time
 *   errors API_KEY CODE N          the next N requests of an API (0 is
 *                                  Produce) fail with error CODE
 *   topic_error NAME CODE          every request for a topic fails
 *   clear API_KEY                  forget pushed errors (ignored by old
 *                                  librdkafka, whose errors run out)
 *   quit
 *
 * The mock keeps at most 100,000 messages or 5 MiB per partition: the
 * tests and the benchmark stay under that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static int
command(rd_kafka_mock_cluster_t *mc, char *line)
{
	char		name[256];
	int			a,
				b,
				c;

	if (sscanf(line, "topic %255s %d", name, &a) == 2)
		return rd_kafka_mock_topic_create(mc, name, a, 1);
	if (sscanf(line, "down %d", &a) == 1)
		return rd_kafka_mock_broker_set_down(mc, a);
	if (sscanf(line, "up %d", &a) == 1)
		return rd_kafka_mock_broker_set_up(mc, a);
	if (sscanf(line, "rtt %d %d", &a, &b) == 2)
		return rd_kafka_mock_broker_set_rtt(mc, a, b);
	if (sscanf(line, "errors %d %d %d", &a, &b, &c) == 3)
	{
		for (int i = 0; i < c; i++)
			rd_kafka_mock_push_request_errors(mc, a, 1, (rd_kafka_resp_err_t) b);
		return 0;
	}
	if (sscanf(line, "topic_error %255s %d", name, &a) == 2)
	{
		rd_kafka_mock_topic_set_error(mc, name, (rd_kafka_resp_err_t) a);
		return 0;
	}
	if (sscanf(line, "clear %d", &a) == 1)
	{
		rd_kafka_mock_clear_request_errors(mc, a);
		return 0;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	char		errstr[512];
	char		line[1024];
	int			nbrokers = argc > 1 ? atoi(argv[1]) : 3;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;

	/* the mock cluster lives in a handle of its own, never used otherwise */
	rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
	{
		fprintf(stderr, "kafka_mock: %s\n", errstr);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, nbrokers);
	if (mc == NULL)
	{
		fprintf(stderr, "kafka_mock: could not start the mock cluster\n");
		return 1;
	}
	printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	while (fgets(line, sizeof(line), stdin) != NULL)
	{
		int			rc;

		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
		if (line[0] == '\0')
			continue;
		rc = command(mc, line);
		if (rc == 0)
			printf("ok\n");
		else
			printf("error %d: %s\n", rc, line);
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
