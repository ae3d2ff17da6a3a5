#!/usr/bin/env bash
# grade.sh SUBMISSIONS OUT [echo-check options]: the report card of every
# submission, for a teacher (docs/TEACHING.md).
#
# Every directory SUBMISSIONS/NAME with a file RUN (one line: the command that
# starts the student's server, with {port} where its port goes, run from
# inside that directory) is checked with bin/echo-check and the options
# given (say --profile full, or --cases to run fewer): its card goes to
# OUT/NAME.txt and OUT/NAME.json. Then a table of every submission (verdict,
# exit status, the guarantees broken) is printed and written to OUT/summary.md.
# Exit status 0 once every submission has its card, 2 on bad usage.
set -uo pipefail

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
case ${1:-} in -h | --help) usage && exit 0 ;; esac
[ $# -ge 2 ] || { usage >&2 && exit 2; }
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
submissions=$1 out=$2
shift 2
[ -d "$submissions" ] || { echo "grade.sh: no directory $submissions" >&2; exit 2; }
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)

graded=0
for dir in "$submissions"/*/; do
	name=$(basename "$dir")
	if [ ! -f "$dir/RUN" ]; then
		echo "grade.sh: $name: no RUN file (the command line that starts its server); skipped" >&2
		continue
	fi
	printf 'grading %s ... ' "$name" >&2
	(cd "$dir" && "$here/echo-check" --server "$(head -n 1 RUN)" --json "$out/$name.json" "$@") \
		>"$out/$name.txt" 2>&1
	echo "exit $?" >&2
	graded=$((graded + 1))
done
[ "$graded" -gt 0 ] || { echo "grade.sh: no submission (no */RUN) in $submissions" >&2; exit 2; }

python3 - "$out" <<'PY' | tee "$out/summary.md"
import glob, json, os, sys
out = sys.argv[1]
print("| submission | verdict | exit | broken (✗ or not offered) |")
print("|---|---|---:|---|")
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    with open(path) as f:
        card = json.load(f)
    name = os.path.basename(path)[:-5]
    broken = ", ".join(card.get("broken", []))
    if card["verdict"] == "could not run":
        broken = card["error"].replace("|", "/")
    print("| %s | %s | %d | %s |" % (name, card["verdict"], card["exit"], broken))
PY
