# probecall.bash: probe_call, the one way the tests run tests/echoprobe.py
# (sourced by helpers.bash and tests/run.sh).
#
# probe_call ARGS...: runs echoprobe.py ARGS on this shell's standard input,
# output and error, and returns its status. Under tests/run.sh the probe is
# forked by the run's fork server (tests/probelib/forkserver.py; its port and
# token are in ECHOLAB_PROBE_SERVER), asked over bash's own /dev/tcp: no
# process starts here, and the fork there costs a tenth of a Python start.
# Without the server, or when it cannot take this shell's descriptors, the
# probe starts here as a Python of its own. PROBE_FORKED says which it was.
# shellcheck disable=SC2034 # PROBE_FORKED is for the caller (tests/run.sh)
probe_call() {
	local server=${ECHOLAB_PROBE_SERVER:-} fd arg status=''
	PROBE_FORKED=''
	for arg in "$@"; do
		# these run other programs, which must get this shell's environment
		case $arg in port-in-use | refusing-port | pty) server='' ;; esac
	done
	if [ -n "$server" ] && { exec {fd}<>"/dev/tcp/127.0.0.1/${server%%:*}"; } 2>/dev/null; then
		# It greets first: whatever else may hold that port now (the server
		# gone, the port reused) gets no request, and nothing runs twice.
		if read -r -t 30 -u "$fd" status && [ "$status" = echoprobe-forkserver ]; then
			printf '%s\0' "${server#*:}" "$BASHPID" "$PWD" "${ECHOPROBE_TIMEOUT:-}" "$#" "$@" >&"$fd"
			read -r -u "$fd" status || status=''
		else
			status=254
		fi
		exec {fd}>&-
		case $status in
		254) ;; # no server there, or it could not take this shell's descriptors: nothing ran
		'')
			echo "probe: the fork server gave no status (ECHOLAB_PROBE_SERVER=${server%%:*})" >&2
			return 1
			;;
		*)
			PROBE_FORKED=1
			return "$status"
			;;
		esac
	fi
	"$ECHOLAB_PYTHON" -S "$ECHOLAB_TESTS/echoprobe.py" "$@"
}
