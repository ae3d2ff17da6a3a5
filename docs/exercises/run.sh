#!/usr/bin/env bash
# docs/exercises/run.sh NAME: what `make exercise NAME=x` runs.
#
# Copies the project to a scratch directory, applies docs/exercises/NAME.patch
# (a classic bug in a real model), builds it, and runs only the tests that must
# catch that bug, showing which test fails and why. Your tree is never touched.
#
#   run.sh NAME        one exercise; exit 0 if the suite caught the bug
#   SOLUTION=1 run.sh NAME   the same, then the fix as a patch (NAME.solution.patch
#                      if there is one, else the bug's patch reversed), applied
#                      and built, and the same cases run again: exit 0 if they pass
#   run.sh --all       every exercise, one line each (CI: all must be caught)
#   run.sh --list      the exercises and what each breaks
#
# Each NAME.patch starts with a header that says what to run:
#   Breaks: MODEL          the model (ECHOLAB_MODELS for the test run)
#   Caught-by: FILE... REGEX  the bats files and the case names that must fail
#   Sanitize: LIST         optional: build with SANITIZE=LIST (e.g. address,undefined)
# Exit status: 0 caught (or all caught), 1 not caught or it would not apply or
# build, 2 bad usage.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

names() {
	local p
	for p in "$here"/*.patch; do
		basename "$p" .patch
	done
}

field() { # field NAME KEY: the value of "KEY: value" in NAME.patch's header
	sed -n "1,/^---/s/^$2: *//p" "$here/$1.patch" | head -n 1
}

usage() {
	echo "usage: make exercise NAME=<name>   (or docs/exercises/run.sh --all | --list)" >&2
	echo "exercises: $(names | tr '\n' ' ')" >&2
	exit 2
}

[ $# -eq 1 ] || usage
case $1 in
--list)
	for n in $(names); do
		printf '%-26s %s\n' "$n" "$(sed -n '1s/^Exercise: *//p' "$here/$n.patch")"
	done
	exit 0
	;;
--all)
	# One at a time unless asked (ECHOLAB_EXERCISE_JOBS=4: 84 s here against
	# 6 min). Each spends most of its time waiting, but epoll-edge-triggered
	# went uncaught in 3 of 5 runs four at a time: its stall needs the server
	# to read before the client's write has all arrived, which a loaded
	# machine makes less likely.
	jobs=${ECHOLAB_EXERCISE_JOBS:-1}
	logs=$(mktemp -d "${TMPDIR:-/tmp}/echolab-exercises.XXXXXX") || exit 1
	trap 'rm -rf "$logs"' EXIT
	one() { # one NAME: runs it, prints its verdict line when it ends (its log too if not caught)
		local start=$SECONDS
		if "$here/run.sh" "$1" >"$logs/$1.log" 2>&1; then
			printf 'caught      %-26s (%ds)\n' "$1" $((SECONDS - start)) >"$logs/$1.line"
		else
			printf 'NOT CAUGHT  %-26s (%ds); its log:\n' "$1" $((SECONDS - start)) >"$logs/$1.line"
			sed 's/^/    /' "$logs/$1.log" >>"$logs/$1.line"
		fi
		cat "$logs/$1.line"
	}
	all=$(names | wc -l)
	echo "$all exercises, $jobs at a time: each one copies the project, builds the bug"
	echo "and runs the cases that must catch it (10 s to a minute each); a line as each ends."
	running=0
	for n in $(names); do
		if [ "$running" -ge "$jobs" ]; then
			wait -n
			running=$((running - 1))
		fi
		one "$n" &
		running=$((running + 1))
	done
	wait
	missed=()
	for n in $(names); do
		grep -q '^caught' "$logs/$n.line" || missed+=("$n")
	done
	if [ ${#missed[@]} -eq 0 ]; then
		echo "all $all caught"
		exit 0
	fi
	echo "${#missed[@]} of $all NOT caught: ${missed[*]}"
	exit 1
	;;
-*) usage ;;
esac

name=$1
patch_file=$here/$name.patch
if [ ! -f "$patch_file" ]; then
	echo "exercise: no exercise '$name'" >&2
	usage
fi
model=$(field "$name" Breaks)
# the leading words that end in .bats are the files, the rest is the regex
test_filter=$(field "$name" Caught-by)
test_files=()
while [[ $test_filter =~ ^([^[:space:]]+\.bats)[[:space:]]+(.*)$ ]]; do
	test_files+=("${BASH_REMATCH[1]}")
	test_filter=${BASH_REMATCH[2]}
done
sanitize=$(field "$name" Sanitize)
if [ -z "$model" ] || [ ${#test_files[@]} -eq 0 ] || [ -z "$test_filter" ]; then
	echo "exercise: $patch_file lacks its Breaks: or Caught-by: header" >&2
	exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/echolab-exercise.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
trap 'echo "exercise: interrupted" >&2; exit 130' INT TERM

echo "=== exercise $name: $(sed -n '1s/^Exercise: *//p' "$patch_file")"
echo "=== 1. a scratch copy of the project in $scratch (your tree is not touched)"
# build/ comes along (unless a sanitizer build is asked for), so only what the
# patch changes is recompiled.
(cd "$root" && tar --exclude=./.git --exclude=./bench/results -cf - .) | (cd "$scratch" && tar -xf -)
[ -z "$sanitize" ] || rm -rf "$scratch/build" "$scratch/bin"

echo "=== 2. the bug: patch -p1 < docs/exercises/$name.patch"
# -b: each file's original is kept beside it (FILE.orig), for SOLUTION=1
if ! (cd "$scratch" && patch -p1 -b -s <"$patch_file"); then
	echo "exercise: $name.patch no longer applies (the code it breaks has changed)" >&2
	exit 1
fi
(cd "$scratch" && sed -n '/^--- /,$p' "$patch_file")

echo "=== 3. build: make${sanitize:+ SANITIZE=$sanitize} ($(if [ -n "$sanitize" ]; then
	echo "everything, under the sanitizer: a minute or more"; else echo "only what the patch changed: seconds"; fi))"
if ! (cd "$scratch" && make -s -j2 ${sanitize:+SANITIZE=$sanitize} all >build.log 2>&1); then
	cat "$scratch/build.log"
	echo "exercise: the patched tree does not build" >&2
	exit 1
fi

echo "=== 4. the tests that must catch it: ECHOLAB_MODELS=$model tests/run.sh -v -f '$test_filter' ${test_files[*]}"
echo "    (the results print when the suite ends; a case the bug makes hang gives up at its"
echo "    deadline, up to 30 s, so this can take a minute)"
(cd "$scratch" && ECHOLAB_MODELS=$model tests/run.sh -v -f "$test_filter" "${test_files[@]}")
status=$?
echo
if [ "$status" -ne 0 ] && [ -z "${SOLUTION:-}" ]; then
	echo "=== CAUGHT: the suite fails on this bug (the 'not ok' lines above say which case and why)."
	echo "    Now read docs/exercises/$name.md: predict, then fix (SOLUTION=1 shows the fix)."
	exit 0
fi
if [ "$status" -ne 0 ]; then
	echo "=== CAUGHT: the suite fails on this bug (the 'not ok' lines above say which case and why)."
	solution=$here/$name.solution.patch
	echo
	if [ -f "$solution" ]; then
		echo "=== 5. the fix: patch -p1 < docs/exercises/$name.solution.patch"
		cat "$solution"
		fix() { patch -p1 -s --no-backup-if-mismatch <"$solution"; }
	else
		echo "=== 5. the fix: the bug's patch undone (patch -R -p1 < docs/exercises/$name.patch):"
		files=$(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$patch_file")
		for f in $files; do
			(cd "$scratch" && diff -u --label "a/$f" --label "b/$f" "$f" "$f.orig")
		done
		# touched: the original is older than the objects built from the bug
		fix() { local f; for f in $files; do mv "$f.orig" "$f" && touch "$f"; done; }
	fi
	if ! (cd "$scratch" && fix && make -s -j2 ${sanitize:+SANITIZE=$sanitize} all >build.log 2>&1); then
		cat "$scratch/build.log"
		echo "exercise: the fix does not apply or build" >&2
		exit 1
	fi
	echo "=== 6. the same cases with the fix:"
	if (cd "$scratch" && ECHOLAB_MODELS=$model tests/run.sh -f "$test_filter" "${test_files[@]}"); then
		echo "=== SOLVED: every case that caught the bug passes with the fix."
		exit 0
	fi
	echo "=== NOT SOLVED: a case still fails with the fix in place."
	exit 1
fi
echo "=== NOT CAUGHT: every selected test passed with the bug in place."
echo "    Either the suite has a hole or the patch no longer breaks what it should."
exit 1
