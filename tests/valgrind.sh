#!/usr/bin/env bash
# valgrind.sh: the conformance suite with every server under valgrind memcheck
# (make valgrind). By default one blocking model (threads) and one event model
# (epoll); name others as arguments.
#
# Any invalid access, use of uninitialised memory or bad free fails the case
# that caused it (teardown reads the server's stderr, where valgrind writes),
# and so does a leak: servers are stopped with SIGTERM (ECHOLAB_STOP_GENTLY)
# so that they exit through their own path and valgrind checks the heap at
# exit; definitely or indirectly lost blocks make the exit status 99.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
models=${*:-threads epoll}
export ECHOLAB_SERVER_WRAPPER="valgrind -q --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-fd=2"
export ECHOLAB_STOP_GENTLY=1
# valgrind runs a server some 20-50 times slower
export ECHOPROBE_TIMEOUT=${ECHOPROBE_TIMEOUT:-60}
export ECHOLAB_WAIT=${ECHOLAB_WAIT:-60}
export ECHOLAB_MODELS=$models
echo "valgrind memcheck over the conformance suite: $models"
exec tests/run.sh tests/conformance-*.bats
