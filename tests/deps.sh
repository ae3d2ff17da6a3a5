#!/usr/bin/env bash
# Installs what a purpose needs, if it is missing:  deps.sh build|test|man|tour|bench|fuzz|lint|coverage|valgrind
# As root it uses apt-get; otherwise sudo if there is one; otherwise it names
# the packages to install and fails.
set -euo pipefail

cd "$(dirname "$0")/.." || exit 2
# shellcheck source=../models/models.sh
. models/models.sh

need=()
have_header() { [ -f "/usr/include/$1" ]; }
# The packages the models need to build: the "packages" column of
# models/models.list (comma-separated, "-" for none), those dpkg does not
# list as installed. One dpkg-query for all of them; without dpkg (not a
# Debian system) nothing can be asked, and the compiler says what is missing.
need_model_packages() {
	local pkgs=() pkg status
	local -A installed=()
	mapfile -t pkgs < <(model_packages)
	[ ${#pkgs[@]} -gt 0 ] && command -v dpkg-query >/dev/null || return 0
	# (a package dpkg has never heard of is simply not in its answer)
	while read -r pkg status; do
		[ "$status" != ii ] || installed[$pkg]=1
	done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null)
	for pkg in "${pkgs[@]}"; do
		[ -n "${installed[$pkg]:-}" ] || need+=("$pkg")
	done
}
case "${1:-build}" in
build)
	need_model_packages
	;;
test)
	need_model_packages
	command -v bats >/dev/null || need+=(bats)
	[ -f /usr/lib/bats/bats-support/load.bash ] || need+=(bats-support)
	[ -f /usr/lib/bats/bats-assert/load.bash ] || need+=(bats-assert)
	command -v python3 >/dev/null || need+=(python3)
	command -v script >/dev/null || need+=(bsdutils)
	command -v help2man >/dev/null || need+=(help2man)
	# tests/reporting.bats traces the order of listen() and "listening on"
	command -v strace >/dev/null || need+=(strace)
	;;
man) # make install's man pages, from each program's --help
	command -v help2man >/dev/null || need+=(help2man)
	;;
tour)
	# make exercise (patch), make models-table and make watch (strace),
	# make nav (gdb: the core's traced walk)
	command -v patch >/dev/null || need+=(patch)
	command -v strace >/dev/null || need+=(strace)
	command -v gdb >/dev/null || need+=(gdb)
	;;
bench)
	need_model_packages
	have_header benchmark/benchmark.h || need+=(libbenchmark-dev)
	command -v gnuplot >/dev/null || need+=(gnuplot-nox)
	command -v python3 >/dev/null || need+=(python3)
	command -v g++ >/dev/null || need+=(g++)
	;;
fuzz) # clang's libFuzzer runtime ships in libclang-rt-14-dev
	command -v clang >/dev/null || need+=(clang)
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
		need+=(libclang-rt-14-dev)
	;;
lint)
	command -v cppcheck >/dev/null || need+=(cppcheck)
	command -v clang-tidy >/dev/null || need+=(clang-tidy)
	;;
coverage)
	command -v gcovr >/dev/null || need+=(gcovr)
	;;
valgrind)
	command -v valgrind >/dev/null || need+=(valgrind)
	;;
*)
	echo "usage: $0 build|test|man|tour|bench|fuzz|lint|coverage|valgrind" >&2
	exit 2
	;;
esac
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing missing packages: ${need[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
	apt_get=(apt-get)
elif command -v sudo >/dev/null; then
	apt_get=(sudo apt-get)
else
	echo "missing packages: ${need[*]}; install them (apt-get install ${need[*]}) and retry" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -qq >&2
"${apt_get[@]}" install -y -qq "${need[@]}" >&2
