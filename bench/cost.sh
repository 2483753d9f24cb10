#!/usr/bin/env bash
# bench/cost.sh: the shim's added instructions per call on its hottest
# paths, counted exactly by callgrind (a run of N iterations minus a run of
# 0, divided by N, minus the same without preload). A quick subset of
# run.sh's callgrind tables, for checking a change (about a minute):
#
#   bench/cost.sh            # from the repository root
#
# Cases: a disarmed open (CONTROL unset, and set with the plan healed), an
# untracked write, close and read. Needs valgrind and cc.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${BENCH_CG_ITERS:-20000}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cargo build --release -q -p blobfail-shim
SHIM=$PWD/target/release/libblobfail.so
cc -O2 -U_FORTIFY_SOURCE -Wall -o "$OUT/openloop" bench/openloop.c
cc -O2 -U_FORTIFY_SOURCE -Wall -o "$OUT/writeloop" bench/writeloop.c
FILE=$OUT/data/file; mkdir -p "$OUT/data"; : >"$FILE"

count() { # n cmd... -> instructions
    local n=$1; shift
    local f=$OUT/cg.out
    "$@" >/dev/null 2>&1 || true
    env "${ENV[@]}" valgrind --tool=callgrind --callgrind-out-file="$f" "${@/@N@/$n}" >/dev/null 2>&1
    awk '/^(summary|totals):/{print $2; exit}' "$f"
}
per_call() { # cmd with @N@ -> instructions per call
    local a b
    a=$(count 0 "$@"); b=$(count "$N" "$@")
    awk -v a="$a" -v b="$b" -v n="$N" 'BEGIN{printf "%.1f", (b-a)/n}'
}
added() { # label extra-env... -- cmd with @N@
    local label=$1; shift
    local extra=()
    while [[ $1 != -- ]]; do extra+=("$1"); shift; done; shift
    ENV=(); local base; base=$(per_call "$@")
    ENV=(LD_PRELOAD="$SHIM" "${extra[@]}"); local with; with=$(per_call "$@")
    printf '%-58s %6s added (%s -> %s per call)\n' "$label" "$(awk -v a="$base" -v b="$with" 'BEGIN{printf "%.1f", b-a}')" "$base" "$with"
}
CTL=$OUT/control
if [[ -x target/release/blobfail ]] && target/release/blobfail ctl "$CTL" init >/dev/null 2>&1; then
    target/release/blobfail ctl "$CTL" heal >/dev/null
fi
added "open+close, disarmed (CONTROL unset; = open + close)" -- "$OUT/openloop" "$FILE" @N@
if [[ -f $CTL ]]; then
    added "open+close, CONTROL set and healed" HARPER_TEST_BLOB_FAIL_CONTROL="$CTL" -- "$OUT/openloop" "$FILE" @N@
fi
added "write on an untracked descriptor, disarmed" -- "$OUT/writeloop" write "$FILE" @N@
added "close of an untracked descriptor, disarmed" -- "$OUT/writeloop" close "$FILE" @N@
added "read on an untracked descriptor, disarmed" -- "$OUT/writeloop" read "$FILE" @N@
added "read on an untracked descriptor, armed (CALLS=read)" HARPER_TEST_BLOB_FAIL_INTERVAL=1 HARPER_TEST_BLOB_FAIL_CALLS=read HARPER_TEST_BLOB_FAIL_PATH=/nowhere/ -- "$OUT/writeloop" read "$FILE" @N@
