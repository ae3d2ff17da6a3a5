# conformance.bash: what the conformance suites share (`load conformance`).
#
# The conformance suite holds every stream model to the same cases; it is
# split by topic into tests/conformance-*.bats. Each case runs against one
# model, $ECHOLAB_MODEL: tests/run.sh runs each of those files once per model
# of models/models.list (their "# run.sh: per model" line), so every model
# runs every case and the cases are written only once. By hand:
#     ECHOLAB_MODEL=poll bats tests/conformance-echo.bats
#
# Where the models legitimately differ (models.list says "serial",
# "concurrent" or "pool"), a case checks the behaviour each kind promises. A
# pool serves at most its --workers clients at once; start_server gives it
# POOL_WORKERS (helpers.bash), more than any case holds open, so the cases
# see it serve concurrently, and one case is about the pool's edge.
#
#   setup_file       KIND, SERVER_BIN, TAKES_WORKERS and SPREAD, once per file
#   takes_workers    the model takes --workers (its --help lists it)
#   concurrent       it serves many clients at once (concurrent, or a pool)

# shellcheck disable=SC2034 # MODEL is for the .bats files
MODEL=${ECHOLAB_MODEL:-}

setup_file() {
	if [ -z "$MODEL" ]; then
		echo "set ECHOLAB_MODEL to the model to test (tests/run.sh does this for every model)" >&2
		return 1
	fi
	# Once per model, not before every case: exported, the cases see them.
	KIND=$(model_kind "$MODEL") || return 1
	SERVER_BIN=$ECHOLAB_BIN/echo-$MODEL
	# The model takes --workers (a pool, or one loop per worker): its --help
	# says so. Its summary then ends with how evenly they shared the
	# connections.
	TAKES_WORKERS=''
	SPREAD=''
	if "$SERVER_BIN" --help | grep -q -- '--workers'; then
		TAKES_WORKERS=1
		SPREAD=' spread=[0-9]+/[0-9]+'
	fi
	export KIND SERVER_BIN TAKES_WORKERS SPREAD
}

takes_workers() {
	[ -n "$TAKES_WORKERS" ]
}

concurrent() {
	[ "$KIND" = concurrent ] || [ "$KIND" = pool ]
}
