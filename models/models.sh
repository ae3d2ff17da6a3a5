# models/models.sh: models/models.list for shell scripts (sourced by
# bench/demo.sh and docs/tour/see.sh, from the top of the tree).
#
#   models_known                       the model names, space-separated
#   model_argument WHO USAGE ARGS...   checks that ARGS is exactly one known
#                                      model and prints it; otherwise says why
#                                      (prefixed "WHO: ") and exits 2

models_known() {
	local names
	names=$(awk '!/^#/ && NF { print $1 }' models/models.list | tr '\n' ' ')
	echo "${names% }"
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
