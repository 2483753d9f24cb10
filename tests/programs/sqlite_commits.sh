#!/bin/sh
# sqlite_commits.sh DIR JOURNAL_MODE SYNCHRONOUS N: a fresh DIR/blobs/db
# (made outside the shim's sight), then N transactions, each by its own
# sqlite3 process; after each COMMIT returned, its number is appended to
# DIR/committed (outside blobs/: what the client saw, which no power cut
# takes back).
cd "$1"
env -u LD_PRELOAD sh -c "rm -rf blobs committed; mkdir blobs; sqlite3 blobs/db 'PRAGMA journal_mode=$2; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);' >/dev/null; sync"
i=1
while [ "$i" -le "$4" ]; do
  sqlite3 blobs/db "PRAGMA synchronous=$3; BEGIN; INSERT INTO t VALUES($i, hex(randomblob(2000))); COMMIT;" || exit 1
  echo "$i" >> committed
  i=$((i + 1))
done
