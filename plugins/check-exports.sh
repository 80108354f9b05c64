#!/bin/sh
# Checks that a plugin module exports exactly the given dynamic symbols.
# Usage: check-exports.sh MODULE SYMBOL...   (NM overrides the nm to use)
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 MODULE SYMBOL..." >&2
	exit 2
fi
module=$1
shift

listing=$("${NM:-nm}" -D --defined-only "$module")
actual=$(printf '%s\n' "$listing" | awk 'NF { print $NF }' | sort)
expected=$(printf '%s\n' "$@" | sort)

if [ "$actual" != "$expected" ]; then
	echo "$module: must export exactly: $*" >&2
	echo "it exports:" >&2
	printf '%s\n' "$listing" >&2
	echo "fix: link it with plugin_link_args (the version script plugins/plugin.map)" >&2
	exit 1
fi
echo "$module exports only: $*"
