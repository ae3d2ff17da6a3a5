#!/usr/bin/env bash
# docs-check.sh: the docs against the record and the models (make docs-check;
# make test runs it with --todo).
#
# First, what make docs generates: every measured figure between generated
# markers must be what the record (docs/results/record.json) renders
# (docs/tour/render_docs.py --check, against the stored see transcripts, so
# nothing is run), and the tour's navigation what docs/tour/stops.list says
# (docs/tour/nav.py --check). A figure or a "Stop N of M" edited by hand, or a
# record promoted without make docs, fails, --todo or not.
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
#   --todo   print the to-do list only, and do not fail for it (make test)
#   ROOT     the tree to check (default: the one this script is in)
# Exit status: 1 when a figure or the navigation is stale, or something is
# missing (unless --todo); 0 otherwise.
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

# (a tree without the renderer, such as tests/tour.bats builds, has nothing rendered)
figures=0
if [ -f docs/tour/render_docs.py ]; then
	python3 docs/tour/render_docs.py --check || figures=1
fi
if [ -f docs/tour/nav.py ] && [ -f docs/tour/stops.list ]; then
	python3 docs/tour/nav.py --check --root "$root" || figures=1
fi

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
	[ "$figures" -eq 1 ] || [ "$todo" -eq 1 ] ||
		echo "docs-check: every figure is the record's, the navigation stops.list's"
	exit "$figures"
fi
echo "docs to-do (make docs-check): ${#missing[@]} missing"
printf '  %s\n' "${missing[@]}"
[ "$figures" -eq 0 ] && [ "$todo" -eq 1 ]
