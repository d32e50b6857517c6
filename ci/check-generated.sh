#!/bin/sh
# Regenerate everything derived from uapi/tcptake.yaml and from the
# command definitions of tcptakectl (ctl/dist), and fail on any diff.
set -eu
cd "$(dirname "$0")/.."
generated="uapi/linux/tcptake.h kmod/netlink-gen.h kmod/netlink-gen.c internal/tcptakeh ctl/dist"
make -s generate
if [ -n "$(git status --porcelain -- $generated)" ]; then
	git status --short -- $generated
	git --no-pager diff -- $generated
	echo "check-generated: generated files differ from their sources; run 'make generate' and commit" >&2
	exit 1
fi
echo "check-generated: ok"
