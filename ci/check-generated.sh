#!/bin/sh
# Regenerate everything derived from uapi/tcptake.yaml and fail on any diff.
set -eu
cd "$(dirname "$0")/.."
make -s generate
if ! git diff --exit-code -- uapi/linux/tcptake.h internal/tcptakeh/zconst.go; then
	echo "check-generated: generated files are stale; run 'make generate' and commit" >&2
	exit 1
fi
echo "check-generated: ok"
