# bash completion for tcptakectl(8).
# Generated from the command definitions of tcptakectl (ctl/docs.go) by
# 'make generate'; do not edit.

_tcptakectl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local obj= verb= words= valued= i
	COMPREPLY=()
	case $prev in
	"--netns"|"-n")
		mapfile -t COMPREPLY < <(compgen -W "$(ls /run/netns 2>/dev/null)" -- "$cur")
		return ;;
	"--output"|"-o")
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return ;;
	esac
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		"--netns"|"-n"|"--output"|"-o"|"--control") ((i++)) ;;
		-*) ;;
		*)
			if [[ -z $obj ]]; then
				obj=${COMP_WORDS[i]}
			elif [[ -z $verb ]]; then
				verb=${COMP_WORDS[i]}
			fi ;;
		esac
	done
	if [[ $cur == -* ]]; then
		words="--json -j --netns -n --help -h"
		case "$obj $verb" in
		"session get") words+=" --output -o" ;;
		"image inspect") words+=" --data -d" ;;
		"node status"|"node show") words+=" --control" ;;
		"node switchover") words+=" --control" ;;
		"node checkpoint") words+=" --control" ;;
		"node takeover") words+=" --control" ;;
		"node standby") words+=" --control" ;;
		esac
	elif [[ -z $obj ]]; then
		words="session freeze image module version node keygen help"
	elif [[ -z $verb ]]; then
		case $obj in
		"freeze") words="add del show peer" ;;
		"image") words="inspect" ;;
		"module") words="status monitor" ;;
		"node") words="status switchover checkpoint takeover standby" ;;
		"session") words="list get set" ;;
		esac
	else
		case "$obj $verb" in
		"session list"|"session show"|"session ls")
			words="local remote"
			valued="local remote" ;;
		"session get")
			words="local remote buffers"
			valued="local remote" ;;
		"session set")
			words="local remote ts-recent srtt-us mdev-us rto-us cwnd ssthresh"
			valued="local remote ts-recent srtt-us mdev-us rto-us cwnd ssthresh" ;;
		"freeze add")
			words="local remote timeout replace"
			valued="local remote timeout" ;;
		"freeze del"|"freeze delete")
			words="local remote kick"
			valued="local remote" ;;
		"freeze show"|"freeze list"|"freeze ls")
			words="local remote"
			valued="local remote" ;;
		"freeze peer")
			words="local remote"
			valued="local remote" ;;
		"image inspect")
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return ;;
		esac
		# No keyword is offered where a value goes.
		[[ " $valued " == *" $prev "* ]] && return
	fi
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -F _tcptakectl tcptakectl
