#!/usr/bin/env bash
# lint.sh: static analysis of models/ (a model's own modules in models/NAME/
# too), common/ and client/ (make lint).
#
#   cppcheck    --enable=warning,style,performance,portability: real defects
#               and the style findings that point at them (shadowing, a
#               parameter that could be const, redundant conditions)
#   clang-tidy  the checks named in .clang-tidy (why each is in or out:
#               docs/TESTING.md), every warning an error
#
# Both must report nothing; the exit status is 1 otherwise.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

for tool in cppcheck clang-tidy; do
	command -v "$tool" >/dev/null || {
		echo "lint: $tool is not installed (tests/deps.sh lint installs it)" >&2
		exit 2
	}
done
shopt -s nullglob
sources=(models/*.c models/*/*.c common/*.c client/*.c)
shopt -u nullglob
flags=(-std=c11 -D_GNU_SOURCE -Icommon -Iclient)
status=0

echo "cppcheck: ${#sources[@]} files"
cppcheck --quiet --std=c11 --enable=warning,style,performance,portability \
	--inline-suppr --error-exitcode=1 -D_GNU_SOURCE -Icommon -Iclient \
	--suppress=missingIncludeSystem -j 2 "${sources[@]}" || status=1

echo "clang-tidy: ${#sources[@]} files (checks: .clang-tidy)"
# two at a time; each file's findings are printed whole
printf '%s\n' "${sources[@]}" |
	xargs -P 2 -I{} sh -c 'f=$1; shift; out=$(clang-tidy --quiet "$f" -- "$@" 2>&1) || { printf "%s\n" "$out"; exit 1; }' \
		sh {} "${flags[@]}" || status=1

[ "$status" -eq 0 ] && echo "lint: clean" || echo "lint: FAILED"
exit "$status"
