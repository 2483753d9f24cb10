#!/usr/bin/env bash
# bench/run.sh: what libblobfail costs, next to libfiu and strace's injection.
#
#   bench/run.sh            # from the repository root; about 3-5 minutes
#
# Installs what it needs (fiu-utils, valgrind, strace; Debian packages),
# builds the shim and bench/openloop.c, then measures the same open+close
# loop over the same file under every case:
#
#   wall time  interleaved rounds (every case once per round, the starting
#              case rotating), median ns per call and the median of each
#              round's ratio to "no preload";
#   callgrind  user-space instructions per call, counted exactly: a run of
#              N iterations minus a run of 0 iterations, divided by N, so
#              start-up (loader, constructors) drops out; "added" is that
#              minus the same figure without preload;
#   node       fs.writeFileSync of 64-byte files, interleaved the same way;
#   writes     callgrind of bench/writeloop.c: write(), read(), their p-
#              and v- variants, and close() on a descriptor the shim does
#              not track, per call.
#
# Writes bench/out/results.md (the tables, machine and load) and raw TSVs
# next to it, and prints the tables. Knobs (environment):
#   BENCH_REPS=31 BENCH_ITERS=100000 BENCH_STRACE_ITERS=3000
#   BENCH_CG_ITERS=100000 BENCH_NODE_ITERS=20000
#   BENCH_DIR=<dir for the files; default a fresh dir on /dev/shm, else $TMPDIR>
#   BENCH_WRITES_ONLY=1: only the write/read/close callgrind counts (a few minutes)
set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
mkdir -p "$OUT"
: >"$OUT/stderr.log"
trap 'echo "bench: failed; stderr of the measured programs is in bench/out/stderr.log" >&2' ERR

REPS=${BENCH_REPS:-31}
ITERS=${BENCH_ITERS:-100000}
STRACE_ITERS=${BENCH_STRACE_ITERS:-3000}
CG_ITERS=${BENCH_CG_ITERS:-100000}
NODE_ITERS=${BENCH_NODE_ITERS:-20000}
P=0.142857 # 1/7, libfiu's probability for "every 7th on average"

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- tools ------------------------------------------------------------------
need=()
command -v fiu-run >/dev/null || need+=(fiu-utils)
command -v valgrind >/dev/null || need+=(valgrind)
command -v strace >/dev/null || need+=(strace)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v node >/dev/null || need+=(nodejs)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    SUDO=(); [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
FIU_PRELOAD_DIR=${FIU_PRELOAD_DIR:-/usr/lib/fiu}
[[ -f $FIU_PRELOAD_DIR/fiu_posix_preload.so ]] || { echo "no libfiu POSIX preload in $FIU_PRELOAD_DIR" >&2; exit 1; }

# --- build ------------------------------------------------------------------
if [[ -n ${BENCH_SHIM:-} ]]; then
    SHIM=$(realpath "$BENCH_SHIM") # measure another build of the shim (a proposed change, say)
    SHIM_DESC="BENCH_SHIM=$(basename "$SHIM") (not the tree's build)"
    log "using $SHIM"
else
    log "building the shim"
    cargo build --release -q -p blobfail-shim
    SHIM=$ROOT/target/release/libblobfail.so
    SHIM_DESC="built from the tree by cargo build --release -p blobfail-shim"
fi
LOOP=$OUT/openloop
cc -O2 -U_FORTIFY_SOURCE -Wall -o "$LOOP" bench/openloop.c
WLOOP=$OUT/writeloop
cc -O2 -U_FORTIFY_SOURCE -Wall -o "$WLOOP" bench/writeloop.c

# --- files ------------------------------------------------------------------
if [[ -n ${BENCH_DIR:-} ]]; then
    mkdir -p "$BENCH_DIR"; W=$(mktemp -d "$BENCH_DIR/bfbench.XXXXXX")
elif [[ -d /dev/shm && -w /dev/shm ]]; then
    W=$(mktemp -d /dev/shm/bfbench.XXXXXX)
else
    W=$(mktemp -d "${TMPDIR:-/tmp}/bfbench.XXXXXX")
fi
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/data/blobs" "$W/data/files" "$W/node/files"
PLAIN=$W/data/files/record   # armed but not matching: no /blobs/ in it
BLOB=$W/data/blobs/record    # matching
# A long path (>= 64 bytes) takes a different branch of the path search.
LONGDIR=$W/data/files/$(printf 'd%.0s' {1..24})/$(printf 'e%.0s' {1..24})
mkdir -p "$LONGDIR"; LONG=$LONGDIR/record
: >"$PLAIN"; : >"$BLOB"; : >"$LONG"

ARM=(HARPER_TEST_BLOB_FAIL_INTERVAL=7)
STRACE=(strace -f -qq -o /dev/null -e trace=openat -e inject=openat:error=ENOENT:when=7+7)

# Each case: "label|command words" (the loop's path and count are appended).
# Cases run with cwd = $W, so the relative-path case resolves against it.
CASES=(
    "no preload|env"
    "libblobfail disarmed|env LD_PRELOAD=$SHIM"
    "libblobfail armed, not matching|env LD_PRELOAD=$SHIM ${ARM[*]}"
    "libblobfail armed, not matching, relative path|env LD_PRELOAD=$SHIM ${ARM[*]}"
    "libblobfail armed, matching (every 7th fails)|env LD_PRELOAD=$SHIM ${ARM[*]}"
    "libfiu fiu-run -x, idle|fiu-run -x -f ''"
    "libfiu fiu-run -x, posix/io/oc/open p=1/7|fiu-run -x -f '' -c 'enable_random name=posix/io/oc/open,probability=$P,failinfo=2'"
    "strace inject, ptrace|${STRACE[*]}"
    "strace inject, --seccomp-bpf|${STRACE[*]} --seccomp-bpf"
)
path_of() { # label -> the path that case opens
    case $1 in
        *"relative path"*) echo "data/files/record" ;;
        *", matching"*) echo "$BLOB" ;;
        *) echo "$PLAIN" ;;
    esac
}
iters_of() { case $1 in strace*) echo "$STRACE_ITERS" ;; *) echo "$ITERS" ;; esac; }

machine() {
    echo "- nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); memory: $(free -g | awk '/^Mem:/{print $2}') GiB"
    echo "- kernel: $(uname -r); $(ldd --version | head -1)"
    echo "- valgrind: $(valgrind --version); strace: $(strace -V | head -1 | awk '{print $NF}'); libfiu: $(dpkg-query -W -f '${Version}' fiu-utils 2>/dev/null || echo '?'); node: $(node --version); rustc: $(rustc --version | awk '{print $2}'); cc: $(cc --version | head -1)"
    echo "- files on: $(df -T "$W" | awk 'NR==2{print $2}')"
}

# --- 0. callgrind: write() and close() on descriptors the shim does not track --
WCG=$OUT/callgrind-writes.tsv
printf 'case\tloop\tinstructions_per_call\n' >"$WCG"
wcg_count() { # loop n vars... -> instructions
    local loop=$1 n=$2; shift 2
    local f=$OUT/callgrind-w.$$.out
    env "$@" valgrind --tool=callgrind --callgrind-out-file="$f" "$WLOOP" "$loop" "$PLAIN" "$n" >/dev/null 2>>"$OUT/stderr.log"
    awk '/^(summary|totals):/{print $2; exit}' "$f"
    rm -f "$f"
}
WCASES=(
    "no preload|"
    "libblobfail disarmed|LD_PRELOAD=$SHIM"
    "libblobfail armed (CALLS=open)|LD_PRELOAD=$SHIM ${ARM[*]}"
    "libblobfail armed, CALLS=open,write,close, file not matching|LD_PRELOAD=$SHIM ${ARM[*]} HARPER_TEST_BLOB_FAIL_CALLS=open,write,close"
)
log "callgrind: write and close loops, 0 and $CG_ITERS iterations per case"
for c in "${WCASES[@]}"; do
    label=${c%%|*}; read -r -a vars <<<"${c#*|}"
    for loop in write read pwrite pread writev preadv close; do
        a=$(wcg_count "$loop" 0 "${vars[@]}")
        b=$(wcg_count "$loop" "$CG_ITERS" "${vars[@]}")
        printf '%s\t%s\t%s\n' "$label" "$loop" "$(awk -v a="$a" -v b="$b" -v n="$CG_ITERS" 'BEGIN{printf "%.1f", (b-a)/n}')" >>"$WCG"
    done
done
if [[ ${BENCH_WRITES_ONLY:-0} == 1 ]]; then column -t -s $'\t' "$WCG"; exit 0; fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $LOAD_BEFORE"

# --- 1. wall time, interleaved ----------------------------------------------
WALL=$OUT/wall.tsv
printf 'round\tcase\titerations\tfailed\tns_per_call\n' >"$WALL"
log "wall time: ${#CASES[@]} cases x $REPS rounds ($ITERS iterations; strace $STRACE_ITERS)"
cd "$W"
LOADS=()
for ((r = 0; r < REPS; r++)); do
    for ((k = 0; k < ${#CASES[@]}; k++)); do
        c=${CASES[(k + r) % ${#CASES[@]}]}
        label=${c%%|*}; cmd=${c#*|}
        line=$(eval "$cmd" '"$LOOP"' "$(path_of "$label")" "$(iters_of "$label")" 2>>"$OUT/stderr.log")
        read -r it fl _ ns <<<"$(sed -E 's/[a-z_]+=//g' <<<"$line")"
        printf '%d\t%s\t%s\t%s\t%s\n' "$r" "$label" "$it" "$fl" "$ns" >>"$WALL"
    done
    LOADS+=("$(cut -d' ' -f1 /proc/loadavg)")
    ((r % 5 == 4)) && log "round $((r + 1))/$REPS done"
done

# --- 2. callgrind: instructions per call -------------------------------------
CG=$OUT/callgrind.tsv
printf 'case\titerations\tinstructions\n' >"$CG"
cg_count() { # label path iterations cmd...
    local label=$1 path=$2 n=$3; shift 3
    local f=$OUT/callgrind.$$.out try
    # fiu-run's random failures also hit the valgrind wrapper script and
    # launcher, which run under the same LD_PRELOAD: retry those runs.
    for try in 1 2 3 4 5 6 7 8; do
        if eval "$*" valgrind --tool=callgrind --callgrind-out-file="$f" '"$LOOP"' '"$path"' "$n" >/dev/null 2>>"$OUT/stderr.log"; then
            break
        fi
        [[ $try -lt 8 ]] || { echo "callgrind of '$label' failed 8 times" >&2; return 1; }
    done
    local ir; ir=$(awk '/^(summary|totals):/{print $2; exit}' "$f")
    rm -f "$f"
    printf '%s\t%s\t%s\n' "$label" "$n" "$ir" >>"$CG"
}
log "callgrind: 0 and $CG_ITERS iterations per case"
for c in "${CASES[@]}"; do
    label=${c%%|*}; cmd=${c#*|}
    [[ $label == strace* ]] && continue # its cost is in the kernel and the tracer, not the tracee
    [[ $label == *"relative path"* ]] && continue # below, next to its own baseline
    for n in 0 "$CG_ITERS"; do cg_count "$label" "$(path_of "$label")" "$n" "$cmd"; done
done
# Extra rows: what the path itself costs when armed and not matching.
for n in 0 "$CG_ITERS"; do
    cg_count "libblobfail armed, not matching, ${#LONG}-byte path" "$LONG" "$n" "env LD_PRELOAD=$SHIM ${ARM[*]}"
    cg_count "no preload, relative path" "data/files/record" "$n" "env"
    cg_count "libblobfail armed, not matching, relative path" "data/files/record" "$n" "env LD_PRELOAD=$SHIM ${ARM[*]}"
done
cd "$ROOT"

# --- 3. node -------------------------------------------------------------------
NODE=$OUT/node.tsv
printf 'round\tcase\titerations\tns_per_call\n' >"$NODE"
NCASES=(
    "no preload|env UV_USE_IO_URING=0"
    "libblobfail disarmed|env UV_USE_IO_URING=0 LD_PRELOAD=$SHIM"
    "libblobfail armed, not matching|env UV_USE_IO_URING=0 LD_PRELOAD=$SHIM ${ARM[*]}"
)
log "node: ${#NCASES[@]} cases x $REPS rounds ($NODE_ITERS writeFileSync each)"
for ((r = 0; r < REPS; r++)); do
    for ((k = 0; k < ${#NCASES[@]}; k++)); do
        c=${NCASES[(k + r) % ${#NCASES[@]}]}
        label=${c%%|*}; cmd=${c#*|}
        line=$(eval "$cmd" node bench/node-write.js '"$W/node/files"' "$NODE_ITERS" 2>>"$OUT/stderr.log")
        read -r it _ ns <<<"$(sed -E 's/[a-z_]+=//g' <<<"$line")"
        printf '%d\t%s\t%s\t%s\n' "$r" "$label" "$it" "$ns" >>"$NODE"
    done
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average after: $LOAD_AFTER"

# --- report ---------------------------------------------------------------------
{
    echo "# libblobfail benchmark results"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), by \`bench/run.sh\`."
    echo
    machine
    echo "- shim: $SHIM_DESC"
    echo "- load average (1, 5, 15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER; 1-min load after each wall-time round: $(printf '%s\n' "${LOADS[@]}" | sort -n | sed -n '1p;$p' | paste -sd- -) (min-max; the benchmark itself adds about 1)"
    echo "- rounds: $REPS; loop iterations: $ITERS (strace cases: $STRACE_ITERS); callgrind iterations: $CG_ITERS; node calls: $NODE_ITERS"
    echo "- path opened: \`$PLAIN\` (${#PLAIN} bytes; the matching case: \`$BLOB\`), O_WRONLY|O_CREAT"
    echo
    python3 bench/report.py "$WALL" "$CG" "$NODE"
    echo
    echo "### write() and close() on a descriptor the shim does not track (callgrind, \`bench/writeloop.c\`)"
    echo
    echo "| case | loop | instructions per call | added instructions per call |"
    echo "|---|---|---:|---:|"
    awk -F'\t' 'NR>1{ if ($1=="no preload") base[$2]=$3; rows[NR]=$0 } END{ for (i=2;i<=NR;i++){ split(rows[i],f,"\t"); printf "| %s | %s | %s | %.1f |\n", f[1], f[2], f[3], f[3]-base[f[2]] } }' "$WCG"
} >"$OUT/results.md"
cat "$OUT/results.md"
