# echolab: every classic echo server model over one protocol.
#   make                 build bin/echo-<model> for each model and bin/echo-client
#   make test [MODELS=epoll,poll]  install what is missing, build, run unit and
#                        bats tests (for the models named, default all)
#   make demo [MODEL=m]  start a model on a free port and talk to it interactively
#   make see MODEL=m     that model's weak point, demonstrated (SHORT=1: quick)
#   make docs-check      what each model still lacks in the docs (page, tour
#                        stop, see demonstration); make test prints it too
#   make exercise NAME=x break a model on purpose and watch the tests catch it
#   make models-table    regenerate docs/MODELS.md (strace, memory, bench/results/)
#   make bench [QUICK=1] measure every model; tables and plots in bench/results/
#   make bench SCALE=max as many idle connections as one process may open, and
#                        what each costs (epoll, uring, libev, reuseport)
#   make SANITIZE=address,undefined test    (or SANITIZE=thread)
#   make fuzz [FUZZ_SECONDS=N]  libFuzzer harnesses of tests/fuzz/, N s each (60)
#   make lint            cppcheck + clang-tidy over models/, common/, client/
#   make coverage [MODELS=..]  line and branch coverage of common/ and client/
#   make valgrind        memcheck over the conformance suite (threads, epoll)
#   make soak [MODEL=m] [MESSAGES=N]  N verified messages of mixed traffic per
#                        model (default every model, 10,000,000); not in make test

CC      ?= cc
CXX     ?= c++
CFLAGS  ?= -O2 -g
CXXFLAGS ?= -O2 -g
PREFIX  ?= /usr/local
DESTDIR ?=
MODEL   ?= iterative

# models/models.list: one line per model (its columns are described at its
# top). MODELS (from the command line) only narrows what make test runs.
ALL_MODELS := $(shell awk '!/^\#/ && NF { print $$1 }' models/models.list)
# "name=link" for every model, read once; model_libs NAME: the libraries of
# its "link" column ("-" is none, commas separate several).
MODEL_LINKS := $(shell awk '!/^\#/ && NF { print $$1 "=" $$3 }' models/models.list)
model_libs = $(filter-out -,$(subst $(comma), ,$(patsubst $(1)=%,%,$(filter $(1)=%,$(MODEL_LINKS)))))
# model_objs NAME: the objects of the model's private modules, models/NAME/*.c
# (a model's own files include them by a path relative to themselves, e.g.
# #include "uring/ring.h" from models/uring.c: no -I per model).
model_objs = $(patsubst %.c,build/%.o,$(wildcard models/$(1)/*.c))
comma := ,

ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
# What every translation unit needs, whatever CFLAGS the user passes.
ECHO_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon $(SANFLAGS)
ECHO_LDLIBS := -pthread

# Objects are rebuilt whenever the flags change (say, a sanitizer is switched
# on), so bin/ always holds binaries built the way the last make asked. The
# stamp is rewritten only when the flags differ from those it holds.
FLAGS_STAMP := build/flags
BUILD_FLAGS := $(CC) $(CFLAGS) $(ECHO_CFLAGS) $(LDFLAGS)

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=build/%.o)
CLIENT_SRC := $(wildcard client/*.c)
CLIENT_OBJ := $(CLIENT_SRC:%.c=build/%.o)
SERVERS    := $(ALL_MODELS:%=bin/echo-%)
BASELINE   := build/bench/echo-baseline
# Step 0 of docs/TOUR.md: a bare server and client, on purpose without common/.
BARE       := bin/bare-server bin/bare-client
UNIT_TESTS := build/tests/test_framer build/tests/test_idle build/tests/test_load_histogram \
              build/tests/test_stats build/tests/test_mapped \
              build/tests/test_conn build/tests/test_echo_blocking
TEST_TOOLS := build/tests/without-io-uring

.PHONY: FORCE all deps bench-deps test docs-check unit demo see exercise models-table bench gbench install uninstall clean list-models fuzz fuzz-deps soak lint coverage valgrind
.DELETE_ON_ERROR:
.SECONDARY:

all: $(SERVERS) bin/echo-client $(BARE)

# FORCE: the recipe runs every time, but touches the stamp (and so rebuilds
# every object) only when the flags changed. "+": it runs under make -n too,
# so that a dry run shows what would really be rebuilt.
$(FLAGS_STAMP): FORCE
	+@mkdir -p $(@D)
	+@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@

FORCE:

deps:
	@tests/deps.sh build

bench-deps:
	@tests/deps.sh bench

build/%.o: %.c $(FLAGS_STAMP) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ECHO_CFLAGS) -MMD -MP -c -o $@ $<

build/libechocommon.a: $(COMMON_OBJ)
	$(AR) rcs $@ $^

# Every model the same way: models/NAME.c, the modules of models/NAME/, the
# common archive (last, after every object that calls into it), and the
# libraries of its models.list line.
.SECONDEXPANSION:
bin/echo-%: build/models/%.o $$(call model_objs,$$*) build/libechocommon.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(ECHO_LDLIBS) \
	  $(call model_libs,$*)

# -- The one exception, until reuseport has an epoll loop of its own to link:
# it runs the epoll model's loop in every thread, so models/epoll.c is built a
# second time, without its main(), and linked in as well.
build/models/epoll-serve.o: models/epoll.c $(FLAGS_STAMP) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ECHO_CFLAGS) -DEPOLL_SERVE_ONLY -MMD -MP -c -o $@ $<

bin/echo-reuseport: build/models/epoll-serve.o
# -- end of the exception

bin/echo-client: $(CLIENT_OBJ) build/libechocommon.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(ECHO_LDLIBS) -lm

bin/bare-%: build/docs/tour/bare-%.o
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^

build/tests/%: build/tests/unit/%.o build/libechocommon.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(ECHO_LDLIBS)

build/tests/test_load_histogram: build/client/histogram.o build/client/payload.o

build/tests/without-io-uring: build/tests/tools/without_io_uring.o
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^

$(BASELINE): build/bench/baseline.o
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^

unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do $$t || exit 1; done

# The build first, one compiler per CPU (a user types plain `make test`).
# The docs' to-do list (a model without its page, tour stop or demonstration)
# is printed at the end; it does not fail the run.
test:
	@$(MAKE) --no-print-directory -j$(shell nproc) all $(UNIT_TESTS) $(TEST_TOOLS)
	@$(MAKE) --no-print-directory unit
	@tests/deps.sh test
	@status=0; $(if $(MODELS),ECHOLAB_MODELS="$(subst $(comma), ,$(MODELS))") tests/run.sh || status=$$?; \
	  tests/docs-check.sh --todo; exit $$status

# What each model of models/models.list still lacks in the docs: fails when
# anything is missing (make test only prints the list).
docs-check:
	@tests/docs-check.sh

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

# (docs/MODELS.md is make models-table's: its strace runs would take make
# bench past five minutes)
bench: all $(BASELINE) gbench
	@bench/run.sh $(if $(QUICK),--quick) $(if $(SCALE),--scale $(SCALE))

gbench: build/bench/gbench | bench-deps
	@mkdir -p bench/results
	build/bench/gbench --benchmark_out=bench/results/gbench.json --benchmark_out_format=json $(if $(QUICK),--benchmark_min_time=0.05)
	@bench/gbench/kerrisk_table.sh bench/results/gbench.json > bench/results/scaling.md
	@cat bench/results/scaling.md

# Linked with the archive, not every object: only what it uses (no io_uring).
build/bench/gbench: $(wildcard bench/gbench/*.cc bench/gbench/*.h) build/libechocommon.a | deps bench-deps
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -std=c++17 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon -o $@ \
	  $(filter %.cc,$^) build/libechocommon.a -lbenchmark -pthread

# Fuzzing: clang's libFuzzer with ASan and UBSan, whatever CC and SANITIZE say
# (the harnesses are built on their own, never linked into bin/).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZERS      := framer conn
# what fuzz_conn links: the connection core and what it calls, nothing that
# needs liburing or a listening socket
FUZZ_CONN_SRC := $(addprefix common/,conn.c framer.c protocol.c stats.c log.c signals.c)

build/fuzz/fuzz_framer: tests/fuzz/fuzz_framer.c common/framer.c common/framer.h | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

build/fuzz/fuzz_conn: tests/fuzz/fuzz_conn.c $(FUZZ_CONN_SRC) $(wildcard common/*.h) | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_conn.c $(FUZZ_CONN_SRC) -pthread

fuzz-deps:
	@tests/deps.sh fuzz

fuzz: $(FUZZERS:%=build/fuzz/fuzz_%)
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZERS)

# Static analysis: cppcheck and clang-tidy (checks in .clang-tidy), no finding allowed.
lint:
	@tests/deps.sh lint
	@tests/lint.sh

# Coverage: everything rebuilt with gcov counters, the unit tests and the whole
# suite run (servers stopped with SIGTERM, so that they write their counters),
# then gcovr's line and branch report of common/ and client/ (HTML in
# build/coverage/). The next plain make rebuilds without counters.
coverage:
	@tests/deps.sh coverage
	@find build -name '*.gcda' -delete 2>/dev/null || true
	$(MAKE) CFLAGS="-O0 -g --coverage -fprofile-update=atomic -DECHOLAB_COVERAGE" LDFLAGS="--coverage" \
	  all $(UNIT_TESTS) $(TEST_TOOLS)
	@for t in $(UNIT_TESTS); do $$t || exit 1; done
	@status=0; ECHOLAB_STOP_GENTLY=1 $(if $(MODELS),ECHOLAB_MODELS="$(subst $(comma), ,$(MODELS))") \
	  tests/run.sh || status=$$?; \
	mkdir -p build/coverage; \
	gcovr -r . --object-directory build --filter 'common/' --filter 'client/' \
	  --html-details build/coverage/index.html --print-summary --sort-percentage \
	  --txt build/coverage/summary.txt; \
	gcovr -r . --object-directory build --filter 'common/' --filter 'client/' --branches \
	  --txt build/coverage/branches.txt >/dev/null; \
	cat build/coverage/summary.txt; exit $$status

# valgrind memcheck over the conformance suite, one blocking and one event model
# (VALGRIND_MODELS to choose others); built without sanitizers.
VALGRIND_MODELS ?= threads epoll
valgrind: all
	@tests/deps.sh valgrind
	@if grep -q fsanitize build/flags; then echo "make valgrind: build without SANITIZE first" >&2; exit 2; fi
	@tests/valgrind.sh $(VALGRIND_MODELS)

# make soak: every model unless MODEL is given on the command line.
MESSAGES   ?= 10000000
SOAK_MODELS = $(if $(filter command line environment,$(origin MODEL)),$(subst $(comma), ,$(MODEL)),$(ALL_MODELS))

soak: all
	@mkdir -p build/soak
	@status=0; for m in $(SOAK_MODELS); do \
	  tests/soak.py $$m --messages $(MESSAGES) --json build/soak/$$m.json || status=1; \
	done; exit $$status

list-models:
	@echo $(ALL_MODELS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(SERVERS) bin/echo-client $(DESTDIR)$(PREFIX)/bin

uninstall:
	rm -f $(ALL_MODELS:%=$(DESTDIR)$(PREFIX)/bin/echo-%) $(DESTDIR)$(PREFIX)/bin/echo-client

clean:
	rm -rf build bin

-include $(COMMON_OBJ:.o=.d) $(CLIENT_OBJ:.o=.d) $(wildcard build/models/*.d build/models/*/*.d build/tests/unit/*.d build/docs/tour/*.d)
