#!/usr/bin/env bash
# bench/blob-save.sh: where a default `blobfail run blob-save` spends its time.
#
#   bench/blob-save.sh                 # from the repository root; ~20 s a run
#   BENCH_RUNS=7 bench/blob-save.sh    # more runs
#   BENCH_BIN=<other blobfail> bench/blob-save.sh   # e.g. an older build, to compare
#   BENCH_ENV='BLOBFAIL_NO_ROOT_CACHE=1' bench/blob-save.sh   # extra environment of each run
#   BENCH_ARGS='--seed 7' bench/blob-save.sh        # extra arguments of each run
#
# Runs the default blob-save BENCH_RUNS times (5; Harper must be cached: the
# first run of `blobfail run blob-save` caches it), one after another, and
# prints for each phase in report.json the median and the range, the end to
# end wall time, and the CPU time of the whole process tree (the driver and
# both Harper nodes: /usr/bin/time's user+sys, which counts waited-for
# children), with the load average before each run. A 2-core machine that
# runs two Harper nodes is CPU-bound while they install and start, so the
# CPU figure is the steadier one where the machine is shared.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=${BENCH_RUNS:-5}
bin=${BENCH_BIN:-target/release/blobfail}
read -r -a extra_env <<< "${BENCH_ENV:-}"
read -r -a extra_args <<< "${BENCH_ARGS:-}"
[ -x "$bin" ] || { echo "bench: $bin not found: run cargo build --release first" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench: python3 is needed for the table" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-blob-save.XXXXXX")
# Kept when a run fails, so its logs can be read.
keep=
trap '[ -n "$keep" ] || rm -rf "$dir"' EXIT
for i in $(seq 1 "$runs"); do
  read -r load _ < /proc/loadavg
  out="$dir/run-$i"
  # Exit 1 (a check failed) is the expected verdict on harperdb 4.7.29.
  env "${extra_env[@]}" /usr/bin/time -f "%e %U %S" -o "$dir/time-$i" "$bin" run blob-save "${extra_args[@]}" --out "$out" >"$dir/stdout-$i" 2>"$dir/stderr-$i" || [ $? -eq 1 ] || {
    keep=1; echo "bench: run $i failed (its folder is kept: $out); its last lines:" >&2; tail -3 "$dir/stderr-$i" >&2; exit 1
  }
  echo "$load" > "$dir/load-$i"
  echo "bench: run $i of $runs (load $load): $(grep '^where the time went' "$dir/stdout-$i")" >&2
done

python3 - "$dir" "$runs" <<'EOF'
import json, statistics, sys
d, n = sys.argv[1], int(sys.argv[2])
phases = ["install", "provision", "start", "join", "workload", "settle", "checks", "teardown"]
rows = {p: [] for p in phases}
wall, cpu, load = [], [], []
for i in range(1, n + 1):
    f = json.load(open(f"{d}/run-{i}/report.json"))["figures"]
    for p in phases:
        rows[p].append(f.get(f"{p}_seconds", 0.0))
    # /usr/bin/time puts "Command exited with non-zero status 1" first.
    e, u, s = map(float, open(f"{d}/time-{i}").read().split("\n")[-2].split())
    wall.append(e); cpu.append(u + s); load.append(float(open(f"{d}/load-{i}").read()))
def cell(xs):
    return f"{statistics.median(xs):.1f} s ({min(xs):.1f}–{max(xs):.1f})"
print(f"| phase | median (min–max) over {n} runs |")
print("| --- | --- |")
for p in phases:
    print(f"| {p} | {cell(rows[p])} |")
print(f"| **end to end** | **{cell(wall)}** |")
print(f"| CPU, driver + both nodes | {cell(cpu)} |")
print(f"| load average before a run | {min(load):.2f}–{max(load):.2f} |")
EOF
