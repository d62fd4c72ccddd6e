# Makefile for pg_eventstream (PGXS)
#
#   make && make install      build and install into the server of PG_CONFIG
#   scripts/test.sh           run every test suite against a temporary instance
#   scripts/demo.sh           build, install and run a live demo cluster

EXTENSION = pg_eventstream
MODULE_big = pg_eventstream
DATA = src/api/pg_eventstream--0.1.0.sql
PGFILEDESC = "pg_eventstream - change-data-capture event streams"

OBJS = \
	src/pg_eventstream.o \
	src/guc.o \
	src/common/json_write.o \
	src/common/value_encode.o \
	src/common/as_owner.o \
	src/common/try.o \
	src/decoder/options.o \
	src/decoder/table_filter.o \
	src/decoder/relinfo.o \
	src/decoder/row.o \
	src/decoder/format_native.o \
	src/decoder/format_debezium.o \
	src/decoder/format_cloudevents.o \
	src/decoder/plugin.o \
	src/stream/streams.o \
	src/stream/batch.o \
	src/stream/apply.o \
	src/stream/backfill.o \
	src/stream/message.o \
	src/stream/segments.o \
	src/worker/shmem.o \
	src/worker/launcher.o \
	src/worker/capture.o \
	src/api/api_util.o \
	src/api/stream_api.o \
	src/api/worker_api.o \
	src/aggregate/analyze.o \
	src/aggregate/statements.o \
	src/aggregate/agg_api.o \
	src/aggregate/maintain.o

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wmissing-prototypes -Werror

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when one changes,
# or objects built against an old struct layout would be linked together.
$(OBJS): $(wildcard $(srcdir)/src/*.h $(srcdir)/src/*/*.h)
