# Makefile for pg_eventstream (PGXS)
#
#   make && make install      build and install into the server of PG_CONFIG
#   make installcheck         the regression, isolation and TAP suites (below)
#   scripts/test.sh           every suite against temporary instances
#   scripts/demo.sh           build, install and run a live demo cluster

EXTENSION = pg_eventstream
MODULE_big = pg_eventstream
# The install script of this version, built from the SQL of each subsystem;
# earlier versions' scripts (kept as released) and the update scripts.
DATA_built = pg_eventstream--0.5.0.sql pg_eventstream--0.4.0--0.5.0.sql
DATA = upgrade/pg_eventstream--0.1.0.sql upgrade/pg_eventstream--0.1.0--0.2.0.sql \
	upgrade/pg_eventstream--0.2.0.sql upgrade/pg_eventstream--0.2.0--0.3.0.sql \
	upgrade/pg_eventstream--0.3.0.sql upgrade/pg_eventstream--0.3.0--0.4.0.sql \
	upgrade/pg_eventstream--0.4.0.sql
PGFILEDESC = "pg_eventstream - change-data-capture event streams"

# Layers (README.md, "Architecture"): each line may use only the lines above.
OBJS = \
	src/pg_eventstream.o \
	src/guc.o \
	src/common/json_write.o \
	src/common/value_encode.o \
	src/common/value_jsonb.o \
	src/common/as_owner.o \
	src/common/try.o \
	src/common/catalog.o \
	src/common/mac.o \
	src/common/version.o \
	src/common/float_exact.o \
	src/decoder/event_kinds.o \
	src/decoder/options.o \
	src/decoder/table_filter.o \
	src/decoder/relinfo.o \
	src/decoder/row.o \
	src/decoder/format_native.o \
	src/decoder/format_debezium.o \
	src/decoder/debezium_values.o \
	src/decoder/format_cloudevents.o \
	src/decoder/formats.o \
	src/decoder/plugin.o \
	src/stream/streams.o \
	src/stream/batch.o \
	src/stream/apply.o \
	src/stream/backfill.o \
	src/stream/message.o \
	src/stream/segments.o \
	src/stream/wake.o \
	src/stream/target.o \
	src/aggregate/kinds.o \
	src/aggregate/analyze.o \
	src/aggregate/statements.o \
	src/aggregate/maintain.o \
	src/aggregate/target.o \
	src/aggregate/window.o \
	src/sink/options.o \
	src/sink/signature.o \
	src/sink/values.o \
	src/sink/webhook.o \
	src/sink/kafka.o \
	src/sink/batches.o \
	src/sink/outcomes.o \
	src/sink/kafka_sink.o \
	src/sink/deliver.o \
	src/worker/shmem.o \
	src/worker/launcher.o \
	src/worker/hub.o \
	src/worker/slot.o \
	src/worker/gap.o \
	src/worker/flush.o \
	src/worker/caches.o \
	src/worker/capture.o \
	src/api/api_util.o \
	src/api/stream_api.o \
	src/api/worker_api.o \
	src/api/aggregate_api.o \
	src/api/sink_api.o \
	src/api/restore_api.o \
	src/api/window_api.o

# The install script: one SQL source per subsystem, in dependency order.
SQL_SOURCES = \
	src/pg_eventstream.sql \
	src/stream/access.sql \
	src/stream/stream.sql \
	src/stream/gaps.sql \
	src/worker/worker.sql \
	src/consumer/consumer.sql \
	src/consumer/positions.sql \
	src/consumer/poll.sql \
	src/sink/sink.sql \
	src/aggregate/aggregate.sql \
	src/aggregate/distinct.sql \
	src/aggregate/window.sql \
	src/api/restore.sql \
	src/api/metrics.sql

PG_CPPFLAGS = -I$(srcdir)/src

# libcurl, for webhook sinks (Debian: libcurl4-openssl-dev)
CURL_CONFIG ?= curl-config
CURL_LIBS := $(shell $(CURL_CONFIG) --libs 2>/dev/null)
ifeq ($(CURL_LIBS),)
ifeq ($(filter clean distclean,$(MAKECMDGOALS)),)
$(error libcurl is missing: install libcurl's development files (Debian: apt-get install libcurl4-openssl-dev), or set CURL_CONFIG to its curl-config)
endif
endif
PG_CPPFLAGS += $(shell $(CURL_CONFIG) --cflags 2>/dev/null)
SHLIB_LINK += $(CURL_LIBS) -lz

# librdkafka, for Kafka sinks (Debian: librdkafka-dev)
RDKAFKA_LIBS := $(shell pkg-config --libs rdkafka 2>/dev/null)
ifeq ($(RDKAFKA_LIBS),)
ifeq ($(filter clean distclean,$(MAKECMDGOALS)),)
ifeq ($(wildcard /usr/include/librdkafka/rdkafka.h),)
$(error librdkafka is missing: install its development files (Debian: apt-get install librdkafka-dev))
endif
endif
RDKAFKA_LIBS := -lrdkafka
endif
PG_CPPFLAGS += $(shell pkg-config --cflags rdkafka 2>/dev/null)
SHLIB_LINK += $(RDKAFKA_LIBS)
# Warnings are errors only where the project's scripts ask (COPT=-Werror):
# a newer compiler must not fail a user's build on a new warning.
PG_CFLAGS = -Wall -Wmissing-prototypes

# Tests.  The suites need a server that preloads pg_eventstream with
# wal_level = logical: the settings test/server_conf.sh prints.
# "make installcheck" runs the regression and isolation suites against the
# running server PGHOST/PGPORT point at, so configured; with
# TEMP_INSTANCE=1 they start their own (as scripts/test.sh does).  The TAP
# tests always start their own clusters.
REGRESS = $(shell sed -n 's/^test: *//p' $(srcdir)/test/schedule)
REGRESS_OPTS = --inputdir=$(srcdir)
ISOLATION = $(basename $(notdir $(wildcard $(srcdir)/test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl
EXTRA_CLEAN = test/temp.conf tmp_check_regress tmp_check_iso

ifdef TEMP_INSTANCE
REGRESS_OPTS += --temp-instance=tmp_check_regress --temp-config=test/temp.conf
ISOLATION_OPTS += --temp-instance=tmp_check_iso --temp-config=test/temp.conf
installcheck: test/temp.conf
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# (after PGXS, which sets PROVE_FLAGS from configure)
PROVE_FLAGS += -I test/perl

# a VPATH build (pg_buildext, for debian/) makes the object directories
# first
$(OBJS) $(OBJS:.o=.bc): | obj-dirs
obj-dirs:
	@mkdir -p $(sort $(dir $(OBJS)))
.PHONY: obj-dirs

pg_eventstream--0.5.0.sql: $(addprefix $(srcdir)/,$(SQL_SOURCES))
	cat $^ > $@

# 0.4.0 to 0.5.0: the head (what changed in 0.4.0's objects besides
# function bodies), then the files new or changed in 0.5.0, all OR
# REPLACE.  Once a later version changes one of these files, freeze the
# built update in upgrade/ (as the earlier updates are) and take it from
# the list.
pg_eventstream--0.4.0--0.5.0.sql: $(srcdir)/upgrade/pg_eventstream--0.4.0--0.5.0.sql \
		$(srcdir)/src/consumer/positions.sql $(srcdir)/src/consumer/poll.sql
	cat $^ > $@

test/temp.conf: $(srcdir)/test/server_conf.sh
	sh $< $(PG_CONFIG) > $@

# PGXS tracks no header dependencies: rebuild everything when one changes,
# or objects built against an old struct layout would be linked together.
$(OBJS): $(wildcard $(srcdir)/src/*.h $(srcdir)/src/*/*.h)
