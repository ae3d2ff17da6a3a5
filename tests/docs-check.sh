#!/usr/bin/env bash
# docs-check.sh: what each model of models/models.list still lacks in the
# docs (make docs-check; make test prints the list with --todo).
#
# A model builds and passes the suites with its .c file and its line in
# models/models.list alone. Its place in the docs comes after, and this is
# the to-do list for it:
#   docs/models/NAME.md       its page, which shows `make see MODEL=NAME` and
#                             links to its stop of the tour (../TOUR.md)
#   docs/TOUR.md              a stop for it: <a id="stop-NAME"></a>
#   docs/tour/see/NAME.sh     its weak point, demonstrated (make see MODEL=NAME)
#
# usage: tests/docs-check.sh [--todo] [ROOT]
#   --todo   print the list only, and exit 0 whatever it holds (make test)
#   ROOT     the tree to check (default: the one this script is in)
# Exit status: 0 when nothing is missing (or with --todo), 1 otherwise.
set -uo pipefail

todo=0
if [ "${1:-}" = --todo ]; then
	todo=1
	shift
fi
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root" || exit 2
# shellcheck source=../models/models.sh
. models/models.sh

missing=()
for m in $(models_known); do
	page=docs/models/$m.md
	if [ ! -f "$page" ]; then
		missing+=("$m: its page, $page (with 'make see MODEL=$m' and a link to its tour stop)")
	else
		grep -q "make see MODEL=$m" "$page" || missing+=("$m: 'make see MODEL=$m' in $page")
		grep -q '(../TOUR.md' "$page" || missing+=("$m: a link to the tour (../TOUR.md#stop-$m) in $page")
	fi
	grep -q "<a id=\"stop-$m\"></a>" docs/TOUR.md 2>/dev/null ||
		missing+=("$m: a tour stop in docs/TOUR.md (<a id=\"stop-$m\"></a>)")
	[ -f "docs/tour/see/$m.sh" ] ||
		missing+=("$m: its demonstration, docs/tour/see/$m.sh (make see MODEL=$m)")
done

if [ ${#missing[@]} -eq 0 ]; then
	[ "$todo" -eq 1 ] || echo "docs-check: every model has its page, tour stop and see demonstration"
	exit 0
fi
echo "docs to-do (make docs-check): ${#missing[@]} missing"
printf '  %s\n' "${missing[@]}"
[ "$todo" -eq 1 ]
