#!/usr/bin/env bash
# run.sh: runs the echolab bats tests and sums them up.
#
#   every file with a line "# run.sh: per model" (the conformance suites):
#                            once per stream model of models/models.list, all
#                            such files in one bats run per model, the models
#                            in parallel (ECHOLAB_MODEL=m and ECHOLAB_MODELS=m);
#                            the datagram kind (udp) has tests/udp.bats
#   every other tests/*.bats once (they loop over the models themselves)
#
# Suites start longest first, by the times the last run took (kept in
# build/test-times), so the run ends soon after its longest suite. A case that
# does not apply to a model says `skip "n/a: ..."`: it is counted apart ("not
# applicable"), not as a skip.
#
# usage: tests/run.sh [-j JOBS] [-f REGEX] [-v] [FILE.bats...]
#   -j JOBS   suites run at once (default $ECHOLAB_TEST_JOBS or 4: on two
#             CPUs, 3 and 6 were slower)
#   -f REGEX  only the cases whose name matches (bats --filter)
#   -v        list every case, not only failures and skips, with the time
#             each took (bats --timing: two more processes per case, so only
#             when asked)
#   FILE      only these .bats files (default: all of tests/*.bats)
# environment:
#   ECHOLAB_MODELS="iterative fork"  test only these models (commas work too;
#                                    make test MODELS=epoll,poll sets it)
#   ECHOLAB_ALLOW_MISSING=1          a model or client binary that is not built
#                                    is skipped instead of failing the run
#   ECHOLAB_BIN=DIR                  test the binaries in DIR instead of bin/
#
# The last line is "N passed, N failed" (", N skipped" when there are any);
# the exit status is 1 when anything failed.
set -uo pipefail

tests_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$tests_dir/.." && pwd)
cd "$root" || exit 2

jobs=${ECHOLAB_TEST_JOBS:-4}
filter=()
verbose=0
timing=()
files=()
while [ $# -gt 0 ]; do
	case $1 in
	-j) jobs=$2 && shift ;;
	-j*) jobs=${1#-j} ;;
	-f) filter=(--filter "$2") && shift ;;
	-v) verbose=1 timing=(--timing) ;;
	-h | --help)
		sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "run.sh: unknown option $1 (try --help)" >&2
		exit 2
		;;
	*) files+=("$1") ;;
	esac
	shift
done
case $jobs in '' | *[!0-9]* | 0)
	echo "run.sh: -j wants a positive number" >&2
	exit 2
	;;
esac

if ! command -v bats >/dev/null; then
	echo "run.sh: bats is not installed (tests/deps.sh test installs it)" >&2
	exit 2
fi
export BATS_LIB_PATH=${BATS_LIB_PATH:-/usr/lib/bats}
# No per-case timeout of bats' own unless asked for (BATS_TEST_TIMEOUT=SECS):
# it starts a watchdog (a subshell and a sleep) for every case, 44 ms of CPU
# each here, half a minute per run. Every wait inside a case is bounded, and
# a suite that hangs anyway is ended by its own timeout (start_unit).
# The probes are Python; find the interpreter once, so that no launcher (a
# pyenv shim is several shell scripts) runs before each of their hundreds of
# starts.
if [ -z "${ECHOLAB_PYTHON:-}" ]; then
	ECHOLAB_PYTHON=$(python3 -c 'import sys; print(sys.executable)') || {
		echo "run.sh: python3 does not run" >&2
		exit 2
	}
	export ECHOLAB_PYTHON
fi
bin_dir=${ECHOLAB_BIN:-$root/bin}
# Asked once here rather than by three cases of every suite (has_ipv6).
if [ -z "${ECHOLAB_HAS_IPV6:-}" ]; then
	ECHOLAB_HAS_IPV6=no
	"$ECHOLAB_PYTHON" -S "$tests_dir/probe.py" has-ipv6 && ECHOLAB_HAS_IPV6=yes
	export ECHOLAB_HAS_IPV6
fi

# ---------------------------------------------------------------- what to run

# shellcheck source=../models/models.sh
. models/models.sh
all_models=()
declare -A serves=() # what each model serves: the "datagram" kind has tests/udp.bats
while read -r m kind; do
	all_models+=("$m")
	serves[$m]=$kind
done < <(models_column 2)
if [ -n "${ECHOLAB_MODELS:-}" ]; then
	models=()
	for m in ${ECHOLAB_MODELS//,/ }; do
		if ! printf '%s\n' "${all_models[@]}" | grep -qxF -- "$m"; then
			echo "run.sh: ECHOLAB_MODELS names '$m', which is not in models/models.list" >&2
			exit 2
		fi
		models+=("$m")
	done
else
	models=("${all_models[@]}")
fi

missing=()
present=()
for m in "${models[@]}"; do
	if [ -x "$bin_dir/echo-$m" ]; then
		present+=("$m")
	else
		missing+=("echo-$m")
	fi
done
[ -x "$bin_dir/echo-client" ] || missing+=(echo-client)
# The other suites loop over these; a missing binary is reported once, here.
export ECHOLAB_MODELS="${present[*]}"
export ECHOLAB_MISSING_REPORTED="${missing[*]}"

if [ ${#files[@]} -eq 0 ]; then
	files=("$tests_dir"/*.bats)
fi
# A unit is one bats run: "MODEL|" for a stream model, which runs every
# per-model file at once (bats' start-up and its file bookkeeping cost about
# 0.15 s of CPU per run here, paid once per model rather than once per file),
# and "|FILE" for each file that is not per model.
units=()
model_files=() # the per-model files to run
for f in "${files[@]}"; do
	if [ ! -f "$f" ]; then
		echo "run.sh: no such file: $f" >&2
		exit 2
	fi
	f=$(realpath "$f")
	if grep -q '^# run.sh: per model' "$f"; then
		model_files+=("$f")
	else
		units+=("|$f")
	fi
done
if [ ${#model_files[@]} -gt 0 ]; then
	for m in "${present[@]}"; do
		# the stream suites; a datagram model has tests/udp.bats
		[ "${serves[$m]}" = datagram ] || units+=("$m|")
	done
fi

# Longest first: the times of the last whole run (build/test-times), or on a
# fresh clone those of tests/suite-times (a run here, kept in the
# repository); unknown ones (new suites) first. Suites are named there by
# "MODEL|FILE" with FILE relative to the project.
times_file=$root/build/test-times
declare -A last_ms=()
for f in "$tests_dir/suite-times" "$times_file"; do
	[ -f "$f" ] || continue
	while IFS=$'\t' read -r name ms; do
		last_ms[$name]=$ms
	done <"$f"
done
suite_key() { # MODEL| or |FILE with FILE relative to the project
	local model=${1%%|*} file=${1#*|}
	echo "$model|${file#"$root"/}"
}
mapfile -t units < <(for u in "${units[@]}"; do
	printf '%s\t%s\n' "${last_ms[$(suite_key "$u")]:-999999999}" "$u"
done | sort -t$'\t' -k1,1nr -s | cut -f2-)

# ---------------------------------------------------------------- running

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/echolab-tests.XXXXXX")
# helpers.bash notes every server it starts here, so that nothing survives
# even a suite that is cut off before its teardown runs.
export ECHOLAB_RUN_DIR=$run_dir
# Everything else that starts "python3" by name (bin/echo-check's shebang,
# the example servers the report card runs, check/grade.sh) gets the same
# interpreter, not a launcher in front of it: a pyenv shim costs half a
# second of CPU per start here, and check.bats alone starts dozens.
if [ "$(command -v python3)" != "$ECHOLAB_PYTHON" ]; then
	mkdir "$run_dir/bin" && ln -s "$ECHOLAB_PYTHON" "$run_dir/bin/python3" &&
		export PATH="$run_dir/bin:$PATH"
fi

running=() # pids of the suites still running

cleanup() {
	local pid exe i alive
	# a second signal must not cut the cleaning short
	trap '' INT TERM
	for pid in "${running[@]}"; do
		kill -TERM -- "-$pid" "$pid" 2>/dev/null
	done
	# let the suites end first (one still running could start a server after
	# the list below has been read); bounded, then they are killed
	for ((i = 0; i < 500; i++)); do
		alive=0
		for pid in "${running[@]}"; do
			! kill -0 "$pid" 2>/dev/null || alive=1
		done
		[ "$alive" -eq 1 ] || break
		sleep 0.02
	done
	for pid in "${running[@]}"; do
		kill -KILL -- "-$pid" "$pid" 2>/dev/null
	done
	if [ -f "$run_dir/server-pids" ]; then
		while read -r pid; do
			# most are long gone: no readlink process for those
			kill -0 "$pid" 2>/dev/null || continue
			exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
			case $exe in "$bin_dir"/echo-* | "$(readlink -f "$bin_dir")"/echo-* | */valgrind/*)
				kill -KILL -- "-$pid" "$pid" 2>/dev/null
				;;
			esac
		done <"$run_dir/server-pids"
	fi
	rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

unit_name() {
	local model=${1%%|*} file=${1#*|}
	if [ -n "$model" ]; then
		echo "per-model [$model]"
	else
		basename "$file" .bats
	fi
}

start_unit() {
	local i=$1 model=${units[$1]%%|*} files=("${units[$1]#*|}")
	[ -z "$model" ] || files=("${model_files[@]}")
	date +%s%N >"$run_dir/$i.start"
	(
		# timeout puts the suite in its own process group and ends all of it
		[ -z "$model" ] || export ECHOLAB_MODEL=$model ECHOLAB_MODELS=$model
		# exec: a signal to this pid reaches timeout, which passes it on to
		# the whole suite. The bash under it notes the suite's CPU (the
		# second line of `times`: its children's) when bats ends.
		# shellcheck disable=SC2016 # expanded by that bash
		exec timeout -k 10 1800 bash -c \
			'bats --tap "${@:2}"; rc=$?; times >"$1"; exit "$rc"' \
			_ "$run_dir/$i.cpu" "${timing[@]}" "${filter[@]}" "${files[@]}"
	) >"$run_dir/$i.tap" 2>&1 </dev/null &
	pid_unit[$!]=$i
	running+=("$!")
}

passed=0
failed=0
skipped=0
not_applicable=0

# cpu_seconds FILE: the children's user + system seconds from bash's `times`
# output in FILE (its second line), "?" when there is none.
cpu_seconds() {
	awk 'NR == 2 {
		split($1, u, /[ms]/); split($2, s, /[ms]/)
		printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2]; found = 1 }
		END { if (!found) printf "?" }' "$1" 2>/dev/null || printf '?'
}

report_unit() {
	local i=$1 rc=$2 tap=$run_dir/$1.tap
	local plan=-1 p=0 f=0 s=0 na=0 line in_failure=0 ms
	ms=$((($(date +%s%N) - $(cat "$run_dir/$i.start")) / 1000000))
	local out=()
	while IFS= read -r line; do
		case $line in
		1..*) plan=${line#1..} ;;
		"not ok "*)
			f=$((f + 1))
			in_failure=1
			out+=("  $line")
			;;
		"ok "*"# skip n/a:"*)
			na=$((na + 1))
			in_failure=0
			[ "$verbose" -eq 0 ] || out+=("  $line")
			;;
		"ok "*"# skip"*)
			s=$((s + 1))
			in_failure=0
			out+=("  $line")
			;;
		"ok "*)
			p=$((p + 1))
			in_failure=0
			[ "$verbose" -eq 0 ] || out+=("  $line")
			;;
		*)
			# diagnostics belong to the case before them; other output
			# (bats' own complaints) is shown too
			if [ "$in_failure" -eq 1 ] || [[ $line != "#"* ]]; then
				out+=("    $line")
			fi
			;;
		esac
	done <"$tap"
	local note=''
	if [ "$plan" -lt 0 ]; then
		f=$((f + 1))
		note=" (bats did not run: status $rc)"
	elif [ $((p + f + s + na)) -lt "$plan" ]; then
		note=" ($((plan - p - f - s - na)) cases never reported: bats status $rc)"
		f=$((f + plan - p - f - s - na))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		note=" (bats exited with status $rc)"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	not_applicable=$((not_applicable + na))
	[ "$f" -ne 0 ] || [ "$plan" -lt 0 ] || printf '%s\t%s\n' "$(suite_key "${units[$i]}")" "$ms" >>"$run_dir/times"
	local verdict=ok
	[ "$f" -eq 0 ] || verdict=FAIL
	printf '%-4s %-32s %3d passed, %d failed%s in %d.%01ds (CPU %ss)%s\n' "$verdict" "$(unit_name "${units[$i]}")" \
		"$p" "$f" "$([ "$s" -eq 0 ] || echo ", $s skipped")$([ "$na" -eq 0 ] || echo ", $na n/a")" \
		$((ms / 1000)) $((ms % 1000 / 100)) "$(cpu_seconds "$run_dir/$i.cpu")" "$note"
	[ ${#out[@]} -eq 0 ] || printf '%s\n' "${out[@]}"
}

declare -A pid_unit=()
suite_start=$(date +%s%N)
echo "models: ${present[*]:-none}; suites: ${#units[@]}; $jobs at a time"
for b in "${missing[@]}"; do
	if [ -n "${ECHOLAB_ALLOW_MISSING:-}" ]; then
		echo "skip $b is not built (ECHOLAB_ALLOW_MISSING)"
		skipped=$((skipped + 1))
	else
		echo "FAIL $bin_dir/$b is not built (run make)"
		failed=$((failed + 1))
	fi
done

next=0
while [ "$next" -lt ${#units[@]} ] || [ ${#running[@]} -gt 0 ]; do
	while [ "$next" -lt ${#units[@]} ] && [ ${#running[@]} -lt "$jobs" ]; do
		start_unit "$next"
		next=$((next + 1))
	done
	done_pid=''
	rc=0
	wait -n -p done_pid "${running[@]}" || rc=$?
	[ -n "$done_pid" ] || continue
	still=()
	for pid in "${running[@]}"; do
		[ "$pid" = "$done_pid" ] || still+=("$pid")
	done
	running=("${still[@]}")
	report_unit "${pid_unit[$done_pid]}" "$rc"
done

ms=$((($(date +%s%N) - suite_start) / 1000000))
# and the CPU time of everything the suites ran (bash's `times`: user and
# system time of the children waited for), which unlike the wall time does
# not grow with what else the machine is doing
times >"$run_dir/cpu" # in this shell: a $(...) subshell has no children of its own
cpu=$(cpu_seconds "$run_dir/cpu")
echo "total time $((ms / 1000)).$((ms % 1000 / 100))s (CPU ${cpu}s)"
[ "$not_applicable" -eq 0 ] || echo "($not_applicable cases do not apply to the model they ran for)"
# Remember how long each suite took (those that passed), for the next run's
# order; not after a run of some cases only (-f), whose times say nothing.
if [ -f "$run_dir/times" ] && [ -d "$root/build" ] && [ ${#filter[@]} -eq 0 ]; then
	for u in "${!last_ms[@]}"; do
		grep -qF -- "$u"$'\t' "$run_dir/times" || printf '%s\t%s\n' "$u" "${last_ms[$u]}" >>"$run_dir/times"
	done
	cp "$run_dir/times" "$times_file.tmp" && mv "$times_file.tmp" "$times_file"
fi
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
