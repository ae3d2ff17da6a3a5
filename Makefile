# echolab: every classic echo server model over one protocol.
#   make                 build bin/echo-<model> for each model and bin/echo-client
#   make test            install what is missing, build, run unit and bats tests
#   make demo [MODEL=m]  start a model on a free port and talk to it interactively
#   make see MODEL=m     that model's weak point, demonstrated (SHORT=1: quick)
#   make exercise NAME=x break a model on purpose and watch the tests catch it
#   make models-table    regenerate docs/MODELS.md (strace, memory, bench/results/)
#   make bench [QUICK=1] measure every model; tables and plots in bench/results/
#   make SANITIZE=address,undefined test    (or SANITIZE=thread)

CC      ?= cc
CXX     ?= c++
CFLAGS  ?= -O2 -g
CXXFLAGS ?= -O2 -g
PREFIX  ?= /usr/local
DESTDIR ?=
MODEL   ?= iterative

MODELS := $(shell awk '!/^\#/ && NF { print $$1 }' models/models.list)

ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
# What every translation unit needs, whatever CFLAGS the user passes.
ECHO_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon $(SANFLAGS)
ECHO_LDLIBS := -pthread
LIBEV_LDLIBS := -lev

# Objects are rebuilt whenever the flags change (say, a sanitizer is switched on),
# so bin/ always holds binaries built the way the last make asked.
FLAGS_STAMP := build/flags
$(shell mkdir -p build && echo '$(CC) $(CFLAGS) $(ECHO_CFLAGS) $(LDFLAGS)' | cmp -s - $(FLAGS_STAMP) \
  || echo '$(CC) $(CFLAGS) $(ECHO_CFLAGS) $(LDFLAGS)' > $(FLAGS_STAMP))

# The models that take --workers say so in their model_info; options.c names
# them when another model is given --workers. A stamp rebuilds it when they change.
WORKER_MODELS := $(shell grep -lw MODEL_WORKERS $(MODELS:%=models/%.c) 2>/dev/null | \
  sed 's,models/,,; s,\.c$$,,' | paste -sd, - | sed 's/,/, /g')
WORKERS_STAMP := build/worker-models
$(shell echo '$(WORKER_MODELS)' | cmp -s - $(WORKERS_STAMP) || echo '$(WORKER_MODELS)' > $(WORKERS_STAMP))

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=build/%.o)
CLIENT_SRC := $(wildcard client/*.c)
CLIENT_OBJ := $(CLIENT_SRC:%.c=build/%.o)
SERVERS    := $(MODELS:%=bin/echo-%)
BASELINE   := build/bench/echo-baseline
# Step 0 of docs/TOUR.md: a bare server and client, on purpose without common/.
BARE       := bin/bare-server bin/bare-client
UNIT_TESTS := build/tests/test_framer build/tests/test_idle build/tests/test_load_histogram \
              build/tests/test_stats

.PHONY: all deps bench-deps test unit demo see exercise models-table bench gbench install uninstall clean list-models
.DELETE_ON_ERROR:
.SECONDARY:

all: $(SERVERS) bin/echo-client $(BARE)

build/common/options.o: $(WORKERS_STAMP)
build/common/options.o: ECHO_CFLAGS += -DWORKER_MODELS='"$(or $(WORKER_MODELS),none)"'

deps:
	@tests/deps.sh build

bench-deps:
	@tests/deps.sh bench

build/%.o: %.c $(FLAGS_STAMP) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ECHO_CFLAGS) -MMD -MP -c -o $@ $<

build/libechocommon.a: $(COMMON_OBJ)
	$(AR) rcs $@ $^

bin/echo-%: build/models/%.o build/libechocommon.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(ECHO_LDLIBS) $(if $(filter libev,$*),$(LIBEV_LDLIBS))

# reuseport runs the epoll model's loop in every thread: models/epoll.c is
# built a second time, without its main().
build/models/epoll-serve.o: models/epoll.c $(FLAGS_STAMP) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ECHO_CFLAGS) -DEPOLL_SERVE_ONLY -MMD -MP -c -o $@ $<

bin/echo-reuseport: build/models/reuseport.o build/models/epoll-serve.o build/libechocommon.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(ECHO_LDLIBS)

bin/echo-client: $(CLIENT_OBJ) build/libechocommon.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(ECHO_LDLIBS) -lm

bin/bare-%: build/docs/tour/bare-%.o
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^

build/tests/%: build/tests/unit/%.o build/libechocommon.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(ECHO_LDLIBS)

build/tests/test_load_histogram: build/client/histogram.o build/client/payload.o

$(BASELINE): build/bench/baseline.o
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^

unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do $$t || exit 1; done

test: all unit
	@tests/deps.sh test
	@tests/run.sh

demo: all
	@bench/demo.sh $(MODEL)

# make see MODEL=m [SHORT=1]: that model's weak point, demonstrated (docs/TOUR.md)
see: all
	@docs/tour/see.sh $(MODEL)

# make exercise NAME=x: a classic bug in a scratch copy, and the tests that catch it
exercise: all
	@tests/deps.sh tour
	@docs/exercises/run.sh $(NAME)

# docs/MODELS.md, from strace counts, idle-connection memory and bench/results/
models-table: all
	@tests/deps.sh tour
	@python3 docs/tour/models_table.py > docs/MODELS.md.new && mv docs/MODELS.md.new docs/MODELS.md
	@echo "wrote docs/MODELS.md"

bench: all $(BASELINE) gbench
	@bench/run.sh $(if $(QUICK),--quick)
	@$(if $(QUICK),:,$(MAKE) --no-print-directory models-table)

gbench: build/bench/gbench | bench-deps
	@mkdir -p bench/results
	build/bench/gbench --benchmark_out=bench/results/gbench.json --benchmark_out_format=json $(if $(QUICK),--benchmark_min_time=0.05)
	@bench/gbench/kerrisk_table.sh bench/results/gbench.json > bench/results/scaling.md
	@cat bench/results/scaling.md

build/bench/gbench: $(wildcard bench/gbench/*.cc bench/gbench/*.h) $(COMMON_OBJ) | deps bench-deps
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -std=c++17 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon -o $@ \
	  $(filter %.cc,$^) $(COMMON_OBJ) -lbenchmark -pthread

list-models:
	@echo $(MODELS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(SERVERS) bin/echo-client $(DESTDIR)$(PREFIX)/bin

uninstall:
	rm -f $(MODELS:%=$(DESTDIR)$(PREFIX)/bin/echo-%) $(DESTDIR)$(PREFIX)/bin/echo-client

clean:
	rm -rf build bin

-include $(COMMON_OBJ:.o=.d) $(CLIENT_OBJ:.o=.d) $(wildcard build/models/*.d build/tests/unit/*.d build/docs/tour/*.d)
