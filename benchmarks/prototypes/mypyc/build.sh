#!/bin/sh
# The mypyc prototype of benchmarks/README.md ("The next design, measured"), rebuilt:
#   pip install mypy 'setuptools>=77'
#   sh benchmarks/prototypes/mypyc/build.sh /tmp/feedclean-mypyc
#   PYTHONPATH=/tmp/feedclean-mypyc python -m feedclean convert ...   # the compiled stages
# A detached copy of this checkout's HEAD at DEST, with the type fixes mypyc needs applied and the
# twenty conversion modules compiled in place (their .so files shadow the .py files).
set -e
DEST=$1
[ -n "$DEST" ] || { echo "usage: $0 DEST (a folder that does not exist yet)" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
git -C "$HERE" worktree add --detach "$DEST" HEAD
cd "$DEST"
git apply "$HERE/patches.diff"
MODULES="clean links urls tree extract parse read markdown inline escape render boilerplate widgets endmatter linkroles dates lang emphasis controls textrules"
python -m mypyc --ignore-missing-imports --follow-imports=silent $(for m in $MODULES; do printf 'feedclean/%s.py ' "$m"; done)
