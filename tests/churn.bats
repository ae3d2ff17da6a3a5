#!/usr/bin/env bats
# churn.bats: echo-client --load --churn, a new connection per message.
#
# Ten loops of connect, one message, its echo checked, close, against every
# stream model: each must serve the churn with every echo right, and count in
# its summary every connection the client completed. The bench measures the
# same load for speed (cell `churn`); here it is held to correctness only.

load helpers

setup() {
	[ -x "$ECHO_CLIENT" ] || fail "no $ECHO_CLIENT: build it with make"
	T=$BATS_TEST_TMPDIR
}

churn() {
	load_run timeout 30 "$ECHO_CLIENT" --host 127.0.0.1 --port "$PORT" --load --churn "$@"
}

# check_report MODEL JSON SERVER_ERR: one awk for all the checks of one model,
# since on a busy machine every process started costs up to a second.
check_report() {
	awk -v model="$1" '
		function field(text, key,    m) {
			if (match(text, "\"" key "\":\"?[^,\"}]*") == 0) return ""
			m = substr(text, RSTART, RLENGTH); sub(/^"[^"]*":"?/, "", m); return m
		}
		function summary(key,    m) {
			if (match(line, " " key "=[0-9]+") == 0) return -1
			m = substr(line, RSTART, RLENGTH); sub(/.*=/, "", m); return m + 0
		}
		FNR == NR { json = json $0; next }
		/^summary: / { line = $0 }
		END {
			done = field(json, "messages") + 0
			why = ""
			if (field(json, "mode") != "churn") why = "not a churn report"
			else if (field(json, "errors") != "0") why = "errors reported"
			else if (field(json, "connections_per_sec") != field(json, "messages_per_sec"))
				why = "connections_per_sec is not messages_per_sec"
			else if (done <= 0) why = "no connection completed"
			# every connection the client completed was accepted and echoed (no
			# warm-up in this run, so the measured ones are all of them)
			else if (summary("connections") < done) why = "fewer connections accepted than completed"
			else if (summary("messages") < done) why = "fewer messages echoed than completed"
			if (why != "") { print model ": " why ": " json " / " line; exit 1 }
		}' "$2" "$3"
}

@test "churn: every stream model serves 10 loops of connect, message, close; the summary counts them" {
	local m models=() status
	declare -A port pid err client
	# All at once, so the case costs one run, not one per model.
	for m in $(selected_models); do
		start_server "$m"
		models+=("$m")
		port[$m]=$PORT pid[$m]=$SERVER_PID err[$m]=$SERVER_ERR
	done
	for m in "${models[@]}"; do
		PORT=${port[$m]} churn --connections 10 --duration 0.5 --warmup 0 --json \
			>"$T/$m.json" 2>&1 3>&- &
		client[$m]=$!
	done
	for m in "${models[@]}"; do
		status=0
		wait "${client[$m]}" || status=$?
		[ "$status" -eq 0 ] || fail "$m: status $status: $(cat "$T/$m.json")"
		stop_server TERM "${pid[$m]}"
		check_report "$m" "$T/$m.json" "${err[$m]}"
	done
}

@test "churn: the text report gives connections/s" {
	start_server "$(any_concurrent_model)"
	run churn --connections 2 --duration 0.3 --warmup 0
	assert_success
	assert_output --regexp 'connections +[0-9]+ \([0-9]+ connections/s\), each echo checked'
	assert_output --partial "errors       0"
}

@test "churn: a server that refuses the message is caught, not counted" {
	start_server "$(any_concurrent_model)" --max-line 16
	local status=0
	churn --connections 2 --size 64 --duration 0.3 --warmup 0 --json >"$T/report" || status=$?
	[ "$status" -eq 1 ] || fail "exit status $status: $(cat "$T/report")"
	[ "$(json_field errors "$T/report")" -gt 0 ]
	grep -q 'server sent \\"ERR line too long\\"' "$T/report"
}

@test "churn: nothing listening: exit 1 and 'connection refused'" {
	start_server "$(any_concurrent_model)"
	stop_server
	run churn --duration 0.2
	assert_failure 1
	assert_output --partial "connection refused"
}

@test "churn: options that do not apply exit 2 naming them" {
	local opt
	for opt in "--depth 2" "--rate 100" "--threads 2"; do
		# shellcheck disable=SC2086 # two words
		run "$ECHO_CLIENT" --load --churn $opt
		assert_failure 2
		assert_output --partial "${opt%% *}"
	done
	run "$ECHO_CLIENT" --churn
	assert_failure 2
	assert_output --partial "only applies to --load"
}
