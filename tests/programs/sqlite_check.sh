#!/bin/sh
# sqlite_check.sh DIR: after a power cut, "damaged: ..." (exit 1) unless
# PRAGMA integrity_check is ok, "lost: K" (exit 1) for the first committed
# transaction K that is gone; silent, exit 0, when all is well.
cd "$1"
r=$(sqlite3 blobs/db 'PRAGMA integrity_check' 2>&1) || { echo "damaged: $r"; exit 1; }
[ "$r" = ok ] || { echo "damaged: $r"; exit 1; }
for i in $(cat committed 2>/dev/null); do
  n=$(sqlite3 blobs/db "SELECT count(*) FROM t WHERE id=$i" 2>&1)
  [ "$n" = 1 ] || { echo "lost: $i"; exit 1; }
done
