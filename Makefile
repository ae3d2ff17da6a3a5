# echolab: every classic echo server model over one protocol.
#   make                 build bin/echo-<model> for each model and bin/echo-client
#   make test [MODELS=epoll,poll]  install what is missing, build, run unit and
#                        bats tests (for the models named, default all)
#   make demo [MODEL=m]  start a model on a free port and talk to it interactively
#   make see MODEL=m     that model's weak point, demonstrated (SHORT=1: quick)
#   make watch MODEL=m [PORT=p] [SYSCALLS=1]  a live view of that running server:
#                        backlog, connections, threads and their wchan, CPU, RSS
#   make docs [CAPTURE=1 [SHORT=1] [MODEL=m]]  every generated part of the docs:
#                        the tour's navigation (docs/tour/stops.list) and its
#                        traced walk of the core (make nav), then every measured
#                        figure from docs/results/record.json (CAPTURE=1: run
#                        make see again and store its transcripts first)
#   make nav             the tour's navigation and traced walk alone
#   make docs-check      fails when a rendered figure differs from the record, or
#                        the navigation from docs/tour/stops.list, or a model
#                        lacks its page, tour stop or see demonstration (make
#                        test fails on the first two, only prints the third)
#   make record [MEASURE=0]  make bench + make models-table, the run promoted to
#                        docs/results/record.json, make docs CAPTURE=1 (MEASURE=0:
#                        promote the latest run as it is)
#   make exercise NAME=x [SOLUTION=1]  break a model on purpose and watch the
#                        tests catch it (SOLUTION=1: then the fix, tested)
#   make models-table    strace counts and memory per model, added to the run's
#                        record (bench/results/results.json)
#   make bench [QUICK=1] measure every model; tables and plots in bench/results/,
#                        and your figures beside the record's (compare.md)
#                        (SERVER="NAME='COMMAND {port}' ...": other servers beside them)
#   make bench SCALE=max as many idle connections as one process may open, and
#                        what each costs (epoll, uring, libev, libevent, reuseport, coro)
#   make check SERVER='COMMAND ... {port}' | ADDR=HOST:PORT  [PROFILE=core|full]
#                        [JSON=FILE] [CASES=a,b]  the report card of any echo server
#   make install [PREFIX=/usr/local]  the servers, echo-client, echo-check, man pages
#   make SANITIZE=address,undefined test    (or SANITIZE=thread)
#   make fuzz [FUZZ_SECONDS=N]  libFuzzer harnesses of tests/fuzz/, N s each (60)
#   make mutants [MUTANTS="a b"]  each bug of tests/mutants/ in a scratch copy,
#                        the suites that must catch it run; the mutation score
#   make lint            cppcheck + clang-tidy over models/, common/, client/
#   make coverage [MODELS=..]  line and branch coverage of common/, models/*/ and client/
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
# model_peers NAME: the objects of the other models whose header (models/X.h)
# models/NAME.c includes: a model that runs another's loop links its object
# (reuseport and acceptor include epoll.h for epoll_serve; epoll.c's main()
# is weak, so theirs wins).
model_peers = $(foreach h,$(filter-out $(1),$(basename $(notdir $(wildcard models/*.h)))),\
  $(if $(shell grep -qs '^\#include "$(h).h"' models/$(1).c && echo y),build/models/$(h).o))
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
# The tour's bare programs, on purpose without common/: step 0's server and
# client, and the non-blocking select server of the step before the core.
BARE       := bin/bare-server bin/bare-client bin/bare-select
UNIT_TESTS := build/tests/test_framer build/tests/test_idle build/tests/test_load_histogram \
              build/tests/test_stats build/tests/test_mapped \
              build/tests/test_conn build/tests/test_echo_blocking build/tests/test_coro
TEST_TOOLS := build/tests/without-io-uring build/tests/fault.so build/tests/count.so
# The checker (check/): a Python program, linked into bin/ beside the servers.
CHECKER    := bin/echo-check
# docs/examples/: the Go one is built only where go is installed.
EXAMPLES   := $(if $(shell command -v go 2>/dev/null),build/examples/echo-go)
# Man pages, made by help2man from each program's --help.
MAN_PROGRAMS := $(SERVERS) bin/echo-client $(CHECKER)
MANPAGES   := $(MAN_PROGRAMS:bin/%=build/man/%.1)

.PHONY: FORCE all deps bench-deps man-deps check examples man test docs docs-check nav record watch unit demo see exercise models-table bench gbench install uninstall clean list-models fuzz fuzz-deps soak lint coverage valgrind mutants
.DELETE_ON_ERROR:
.SECONDARY:

all: $(SERVERS) bin/echo-client $(BARE) $(CHECKER)

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

man-deps:
	@tests/deps.sh man

build/%.o: %.c $(FLAGS_STAMP) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ECHO_CFLAGS) -MMD -MP -c -o $@ $<

# Made anew, so that a module moved out of common/ leaves no stale member.
build/libechocommon.a: $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# Every model the same way: models/NAME.c, the modules of models/NAME/, the
# objects of the models whose loop it runs (model_peers), the common archive (last, after every object that calls into it), and the
# libraries of its models.list line.
.SECONDEXPANSION:
bin/echo-%: build/models/%.o $$(call model_objs,$$*) $$(call model_peers,$$*) build/libechocommon.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(ECHO_LDLIBS) \
	  $(call model_libs,$*)

bin/echo-client: $(CLIENT_OBJ) build/libechocommon.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(ECHO_LDLIBS) -lm

bin/bare-%: build/docs/tour/bare-%.o
	@mkdir -p bin
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^

build/tests/%: build/tests/unit/%.o build/libechocommon.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(ECHO_LDLIBS)

build/tests/test_load_histogram: build/client/histogram.o build/client/payload.o
build/tests/test_coro: build/models/coro/coro.o build/models/coro/switch.o
build/tests/unit/test_coro.o: ECHO_CFLAGS += -Imodels/coro

build/tests/without-io-uring: build/tests/tools/without_io_uring.o
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^

$(CHECKER): check/echo-check
	@mkdir -p bin
	ln -sf ../check/echo-check $@

examples: $(EXAMPLES)

build/examples/echo-go: docs/examples/go/echo.go
	@mkdir -p $(@D)
	go build -o $@ $<

man: $(MANPAGES)

# NAME line: a server's first --help line says what it is; the other two say it here.
MAN_NAME_echo-client := the echolab client: talk to an echo server, or load it and measure
MAN_NAME_echo-check  := the report card of any line-echo server
build/man/%.1: bin/% | man-deps
	@mkdir -p $(@D)
	help2man --no-info --no-discard-stderr --version-string=echolab -o $@ \
	  -n "$(or $(MAN_NAME_$*),$$(./bin/$* --help | sed -n '1s/^[^:]*: //p'))" ./bin/$*

# The fault-injection shim (tests/tools/fault.c), preloaded into servers:
# never with the sanitizers' flags, whatever SANITIZE says.
build/tests/fault.so: tests/tools/fault.c $(FLAGS_STAMP) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

# The allocation and copy counter of bench/copies.sh, preloaded by a test too.
build/tests/count.so: bench/copies/count.c $(FLAGS_STAMP) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -std=c11 -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

$(BASELINE): build/bench/baseline.o
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^

unit: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do $$t || exit 1; done

# The build first, one compiler per CPU (a user types plain `make test`).
# At the end, the docs: a figure that differs from the record fails the run;
# the to-do list (a model without its page, tour stop or demonstration) is
# only printed.
test:
	@$(MAKE) --no-print-directory -j$(shell nproc) all $(UNIT_TESTS) $(TEST_TOOLS) $(EXAMPLES) $(MANPAGES)
	@$(MAKE) --no-print-directory unit
	@tests/deps.sh test
	@status=0; $(if $(MODELS),ECHOLAB_MODELS="$(subst $(comma), ,$(MODELS))") tests/run.sh || status=$$?; \
	  tests/docs-check.sh --todo || status=1; exit $$status

# The docs against the record and the models: fails on a stale figure or on
# anything a model lacks.
docs-check:
	@tests/docs-check.sh

# Every generated part of the docs, in one command: the tour's navigation and
# its traced walk (make nav), then every figure between generated markers,
# rendered from the record (docs/tour/render_docs.py; docs/tour/figures.py
# says what each renders).
docs: nav $(if $(CAPTURE),all)
	@python3 docs/tour/render_docs.py $(if $(CAPTURE),--capture $(if $(filter command line environment,$(origin MODEL)),$(subst $(comma), ,$(MODEL))) $(if $(SHORT),--short))

# The tour's generated parts: stop numbers, contents and previous/next links
# (from docs/tour/stops.list), and the core's traced walk (gdb, bin/echo-select)
nav: bin/echo-select
	@tests/deps.sh tour
	@python3 docs/tour/nav.py
	@python3 docs/tour/core_walk.py --write

# The results of record: measured here and now (or, MEASURE=0, the latest run
# as it is), promoted, and every doc rendered from them with fresh transcripts.
record:
	$(if $(filter 0,$(MEASURE)),,@$(MAKE) --no-print-directory bench)
	$(if $(filter 0,$(MEASURE)),,@$(MAKE) --no-print-directory models-table)
	@python3 docs/tour/record.py promote
	@$(MAKE) --no-print-directory docs CAPTURE=1

demo: all
	@bench/demo.sh $(MODEL)

# make see MODEL=m [SHORT=1]: that model's weak point, demonstrated (docs/TOUR.md)
see: all
	@docs/tour/see.sh $(MODEL)

# make watch MODEL=m [PORT=p]: a live view of a running server (docs/TOUR.md)
watch:
	@python3 docs/tour/watch.py $(MODEL) $(if $(PORT),--port $(PORT)) $(if $(SYSCALLS),--syscalls)

# make exercise NAME=x: a classic bug in a scratch copy, and the tests that catch it
exercise: all
	@tests/deps.sh tour
	@$(if $(SOLUTION),SOLUTION=1) docs/exercises/run.sh $(NAME)

# strace counts and idle-connection memory of every model, added to the
# latest run's record (bench/results/results.json); make record promotes them
models-table: all
	@tests/deps.sh tour
	@python3 docs/tour/models_table.py

# (docs/MODELS.md is make models-table's: its strace runs would take make
# bench past five minutes)
# SERVER="py='python3 x.py {port}' go='./echo {port}'": each NAME=COMMAND a row of
# every table, marked external.
bench: all $(BASELINE) gbench $(EXAMPLES)
	@bench/run.sh $(if $(QUICK),--quick) $(if $(SCALE),--scale $(SCALE)) $(if $(SERVER),--external "$$SERVER")
	@python3 docs/tour/record.py compare || true

# The report card (docs/TEACHING.md): SERVER='COMMAND ... {port}' or ADDR=HOST:PORT.
# SERVES=serial|concurrent|pool:N and MAX_CLIENTS=N declare what the server
# promises; one of the models (bin/echo-NAME) declares its own (models.sh).
check: all $(EXAMPLES)
	@declared=$$(. models/models.sh && $(if $(SERVER),model_promises $$SERVER)) || exit 2; \
	bin/echo-check $(if $(SERVER),--server "$$SERVER",$(if $(ADDR),--addr "$$ADDR",\
	  $(error make check: say SERVER='COMMAND ... {port}' or ADDR=HOST:PORT))) \
	  --profile $(or $(PROFILE),core) $(if $(JSON),--json "$$JSON") $(if $(CASES),--cases "$$CASES") \
	  $$declared $(if $(SERVES),--serves "$$SERVES") $(if $(MAX_CLIENTS),--max-clients "$$MAX_CLIENTS")

gbench: build/bench/gbench | bench-deps
	@mkdir -p bench/results
	build/bench/gbench --benchmark_out=bench/results/gbench.json --benchmark_out_format=json $(if $(QUICK),--benchmark_min_time=0.05)
	@bench/gbench/kerrisk_table.sh bench/results/gbench.json > bench/results/scaling.md
	@cat bench/results/scaling.md

# Linked with the archive, not every object: only what it uses (no io_uring).
build/bench/gbench: $(wildcard bench/gbench/*.cc bench/gbench/*.h) build/models/coro/coro.o \
                    build/models/coro/switch.o build/libechocommon.a | deps bench-deps
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -std=c++17 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon -Imodels/coro -o $@ \
	  $(filter %.cc,$^) $(filter %.o,$^) build/libechocommon.a -lbenchmark -pthread

# Fuzzing: clang's libFuzzer with ASan and UBSan, whatever CC and SANITIZE say
# (the harnesses are built on their own, never linked into bin/).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZERS      := framer conn
# what fuzz_conn links: the connection core and what it calls, nothing that
# needs liburing or a listening socket
FUZZ_CONN_SRC := $(addprefix common/,conn.c framer.c protocol.c stats.c log.c peer.c signals.c)

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

# Mutation testing: every tests/mutants/*.mutant applied to a scratch copy,
# built and run against the suites it names, two at a time (ECHOLAB_MUTANT_JOBS);
# fails unless every one is caught. Not part of make test.
mutants:
	@tests/deps.sh test
	@tests/mutants/run.py $(MUTANTS)

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
	gcovr -r . --object-directory build --filter 'common/' --filter 'models/[a-z]*/' --filter 'client/' \
	  --html-details build/coverage/index.html --print-summary --sort-percentage \
	  --txt build/coverage/summary.txt; \
	gcovr -r . --object-directory build --filter 'common/' --filter 'models/[a-z]*/' --filter 'client/' --branches \
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

# echo-check and the modules it imports go to PREFIX/lib/echolab, linked from PREFIX/bin.
LIBDIR := $(DESTDIR)$(PREFIX)/lib/echolab
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man1
install: all $(MANPAGES)
	install -d $(DESTDIR)$(PREFIX)/bin $(MANDIR) $(LIBDIR)/checklib $(LIBDIR)/probelib
	install -m 755 $(SERVERS) bin/echo-client $(DESTDIR)$(PREFIX)/bin
	install -m 755 check/echo-check $(LIBDIR)
	install -m 644 check/checklib/*.py $(LIBDIR)/checklib
	install -m 644 tests/probelib/*.py $(LIBDIR)/probelib
	ln -sf ../lib/echolab/echo-check $(DESTDIR)$(PREFIX)/bin/echo-check
	install -m 644 $(MANPAGES) $(MANDIR)

uninstall:
	rm -f $(ALL_MODELS:%=$(DESTDIR)$(PREFIX)/bin/echo-%) $(DESTDIR)$(PREFIX)/bin/echo-client \
	  $(DESTDIR)$(PREFIX)/bin/echo-check $(MAN_PROGRAMS:bin/%=$(MANDIR)/%.1)
	rm -rf $(LIBDIR)

clean:
	rm -rf build bin

-include $(COMMON_OBJ:.o=.d) $(CLIENT_OBJ:.o=.d) $(wildcard build/models/*.d build/models/*/*.d build/tests/unit/*.d build/docs/tour/*.d)
