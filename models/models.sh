# models/models.sh: models/models.list for shell scripts (sourced from the top
# of the tree by bench/demo.sh, docs/tour/see.sh, tests/run.sh, tests/deps.sh,
# tests/docs-check.sh and .ci/run).
#
#   models_known                       the model names, space-separated
#   models_column N                    "NAME VALUE" for each model: its column N
#                                      (2 serves, 3 link, 4 packages)
#   model_serves NAME                  its "serves" column (serial, concurrent,
#                                      pool, datagram); empty for an unknown one
#   model_packages                     the Debian packages the models need to
#                                      build, one a line, each once
#   model_promises COMMAND...          the echo-check options that declare what
#                                      the command promises when it starts one
#                                      of the models (bin/echo-NAME ...; nothing
#                                      for another command): --serves from its
#                                      serves column, a pool's size from the
#                                      command's --workers or the default its
#                                      --help states, and --max-clients 1000
#                                      for a model whose wait set is an fd_set
#   model_argument WHO USAGE ARGS...   checks that ARGS is exactly one known
#                                      model and prints it; otherwise says why
#                                      (prefixed "WHO: ") and exits 2

models_column() {
	awk -v n="$1" '!/^#/ && NF { print $1, $n }' models/models.list
}

models_known() {
	local names
	names=$(awk '!/^#/ && NF { print $1 }' models/models.list | tr '\n' ' ')
	echo "${names% }"
}

model_serves() {
	models_column 2 | awk -v m="$1" '$1 == m { print $2 }'
}

model_packages() {
	models_column 4 | awk '$2 != "-" { n = split($2, p, ","); for (i = 1; i <= n; i++) print p[i] }' | sort -u
}

model_promises() {
	local program=$1 name serves workers
	name=${program##*/}
	name=${name#echo-}
	[ "${program##*/}" = "echo-$name" ] || return 0
	serves=$(model_serves "$name")
	case $serves in
	serial) echo "--serves serial" ;;
	pool)
		# the command's own --workers, else the default its --help states
		workers=$(echo " $* " | sed -n 's/.* --workers[ =]\([0-9][0-9]*\) .*/\1/p')
		[ -n "$workers" ] || workers=$("$program" --help |
			sed -n 's/.*--workers N.*(default \([0-9][0-9]*\)).*/\1/p')
		[ -n "$workers" ] || {
			echo "model_promises: no --workers default in $program --help" >&2
			return 1
		}
		echo "--serves pool:$workers"
		;;
	esac
	# select(2)'s fd_set has FD_SETSIZE (1024) bits: a descriptor above it
	# is refused with the busy line (docs/PROTOCOL.md section 5), so about
	# 1,000 clients at once, the server's own descriptors taking the rest
	if [ -n "$serves" ] && grep -q 'FD_SET(' "models/$name.c"; then
		echo "--max-clients 1000"
	fi
}

model_argument() {
	local who=$1 usage=$2 known
	shift 2
	known=$(models_known)
	if [ $# -ne 1 ] || [ -z "$1" ]; then
		echo "usage: $usage   (models: $known)" >&2
		exit 2
	fi
	case " $known " in
	*" $1 "*) echo "$1" ;;
	*)
		echo "$who: unknown model '$1'; the models are: $known" >&2
		exit 2
		;;
	esac
}
