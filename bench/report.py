#!/usr/bin/env python3
"""Turns bench/run.sh's raw TSVs into the markdown tables of BENCHMARKS.md.

    report.py WALL_TSV CALLGRIND_TSV NODE_TSV

Wall time: the median over rounds of ns per call, and the median over rounds
of each round's ratio to that round's "no preload" (runs are interleaved, so a
ratio within one round cancels most of the drift of a shared machine).
Callgrind: instructions per call = (Ir at N iterations - Ir at 0) / N.
"""
import csv
import statistics
import sys
from collections import defaultdict

BASE = "no preload"
DISARMED = "libblobfail disarmed"
NOT_MATCHING = "libblobfail armed, not matching"
MATCHING = "libblobfail armed, matching (every 7th fails)"
FIU_IDLE = "libfiu fiu-run -x, idle"


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def wall(path, key="ns_per_call"):
    """{case: [ns per round]}, {case: [ratio per round]}, case order."""
    by_round = defaultdict(dict)
    order = []
    failed = defaultdict(set)
    for r in rows(path):
        by_round[r["round"]][r["case"]] = float(r[key])
        if r["case"] not in order:
            order.append(r["case"])
        if "failed" in r:
            failed[r["case"]].add(int(r["failed"]) / max(int(r["iterations"]), 1))
    ns, ratio = defaultdict(list), defaultdict(list)
    for rnd in by_round.values():
        for case, v in rnd.items():
            ns[case].append(v)
            if BASE in rnd:
                ratio[case].append(v / rnd[BASE])
    first = list(order)
    order.sort(key=lambda c: (c != BASE, first.index(c)))
    return ns, ratio, order, failed


def callgrind(path):
    ir = defaultdict(dict)
    order = []
    for r in rows(path):
        ir[r["case"]][int(r["iterations"])] = int(r["instructions"])
        if r["case"] not in order:
            order.append(r["case"])
    per_call = {}
    for case, d in ir.items():
        n = max(d)
        per_call[case] = (d[n] - d[0]) / n
    return per_call, order


def fmt(x, digits=0):
    return f"{x:,.{digits}f}"


def main():
    wall_tsv, cg_tsv, node_tsv = sys.argv[1:4]
    ns, ratio, order, failed = wall(wall_tsv)
    ipc, cg_order = callgrind(cg_tsv)
    med = {c: statistics.median(v) for c, v in ns.items()}
    rat = {c: statistics.median(v) for c, v in ratio.items()}
    base_ns = med[BASE]
    base_ipc = ipc[BASE]

    print("## Open+close loop (C, `bench/openloop.c`)\n")
    print("| case | ns per call (median) | × no preload (median of rounds) | spread of ratio (min–max) | failed opens | instructions per call | added instructions per call |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c in order:
        spread = f"{min(ratio[c]):.3f}–{max(ratio[c]):.3f}"
        fails = "/".join(f"{f:.1%}" for f in sorted(failed[c]))
        if c in ipc:
            i, a = fmt(ipc[c], 1), fmt(ipc[c] - base_ipc, 1)
        else:
            i, a = "n/a (in the kernel and the tracer)", "n/a"
        print(f"| {c} | {fmt(med[c])} | {rat[c]:.3f} | {spread} | {fails} | {i} | {a} |")
    extra = [c for c in cg_order if c not in order]
    if extra:
        print("\nCallgrind only, the same loop on other paths:\n")
        print("| case | instructions per call | added instructions per call |")
        print("|---|---:|---:|")
        rel_base = ipc.get("no preload, relative path", base_ipc)
        for c in extra:
            b = rel_base if "relative path" in c else base_ipc
            print(f"| {c} | {fmt(ipc[c], 1)} | {fmt(ipc[c] - b, 1)} |")

    print("\n## Node: `fs.writeFileSync` of 64-byte files (`bench/node-write.js`, UV_USE_IO_URING=0)\n")
    nns, nratio, norder, _ = wall(node_tsv)
    print("| case | ns per call (median) | × no preload (median of rounds) | spread of ratio (min–max) |")
    print("|---|---:|---:|---:|")
    for c in norder:
        m = statistics.median(nns[c])
        rr = nratio[c]
        print(f"| {c} | {fmt(m)} | {statistics.median(rr):.3f} | {min(rr):.3f}–{max(rr):.3f} |")

    print("\n## Targets\n")
    print("| target | measured | verdict |")
    print("|---|---|---|")

    def verdict(ok):
        return "met" if ok else "**missed**"

    for c, limit in ((DISARMED, 40), (NOT_MATCHING, 200)):
        a = ipc[c] - base_ipc
        miss = "" if a <= limit else f" ({a - limit:+.0f}, {a / limit:.2f}×)"
        print(f"| {c}: ≤ {limit} added instructions per call | {a:.1f}{miss} | {verdict(a <= limit)} |")
    for c in (DISARMED, NOT_MATCHING):
        r = rat[c]
        print(f"| {c}: within 2% of no preload (wall) | {100 * (r - 1):+.1f}% (rounds: {100 * (min(ratio[c]) - 1):+.1f}% to {100 * (max(ratio[c]) - 1):+.1f}%) | {verdict(r <= 1.02)} |")
    for c in order:
        if c.startswith("strace"):
            s = med[c] / med[MATCHING]
            added_shim = med[MATCHING] - base_ns
            print(f"| ≥ 10× faster than {c} (ns per call, armed matching vs strace) | {s:.1f}× (strace adds {fmt(med[c] - base_ns)} ns per call; the shim {fmt(added_shim)}) | {verdict(s >= 10)} |")
    if FIU_IDLE in ipc:
        a, f = ipc[DISARMED] - base_ipc, ipc[FIU_IDLE] - base_ipc
        w_s, w_f = med[DISARMED] - base_ns, med[FIU_IDLE] - base_ns
        print(f"| idle cost lower than libfiu's idle | instructions: {a:.1f} vs {f:.1f} ({f / a:.0f}× less); wall: {w_s:+.0f} vs {w_f:+.0f} ns per call | {verdict(a < f)} |")


if __name__ == "__main__":
    main()
