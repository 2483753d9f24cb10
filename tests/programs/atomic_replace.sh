#!/bin/sh
# atomic_replace.sh DIR sync|nosync: replaces DIR/blobs/data ("old old old",
# made durable first, outside the shim's sight) with "new new new new" by
# the atomic-replace pattern: write DIR/blobs/data.tmp, fsync it, rename it
# over data, fsync the folder (sync), or the same without the two fsyncs
# (nosync). Then it appends a line to DIR/blobs/log and fsyncs that, as a
# program logging its work would.
set -e
cd "$1"
env -u LD_PRELOAD sh -c 'rm -rf blobs; mkdir blobs; printf "old old old" > blobs/data; sync'
exec "$PYTHON3" - "$2" <<'PY'
import os, sys
sync = sys.argv[1] == "sync"
with open("blobs/data.tmp", "wb") as f:
    f.write(b"new new new new")
    f.flush()
    if sync:
        os.fsync(f.fileno())
os.rename("blobs/data.tmp", "blobs/data")
if sync:
    fd = os.open("blobs", os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
with open("blobs/log", "ab") as f:
    f.write(b"replaced\n")
    f.flush()
    os.fsync(f.fileno())
PY
