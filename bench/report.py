#!/usr/bin/env python3
"""Turns bench/run.sh's raw TSVs into the markdown tables of BENCHMARKS.md.

    report.py WALL_TSV CALLGRIND_TSV NODE_TSV

Wall time: the median over rounds of ns per call, and the median over rounds
of each round's ratio to that round's "no preload" (runs are interleaved, so a
ratio within one round cancels most of the drift of a shared machine).
Callgrind: instructions per call = (Ir at N iterations - Ir at 0) / N.
"""
import csv
import math
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


def median_ci(values, conf=0.95):
    """Distribution-free confidence interval of the median: the order
    statistics x(k) and x(n+1-k), with k the largest rank such that
    P(Binomial(n, 1/2) < k) <= (1 - conf) / 2. None when n is too small."""
    xs = sorted(values)
    n = len(xs)
    k, tail = 0, 0.0
    while k < n // 2:
        p_next = tail + math.comb(n, k) / 2**n  # P(X <= k) = P(X < k+1)
        if p_next > (1 - conf) / 2:
            break
        tail = p_next
        k += 1
    if k == 0:
        return None  # too few rounds (under 6) for a 95% interval
    return xs[k - 1], xs[n - k]


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
    print("| case | ns per call (median) | × no preload (median of rounds) | 95% CI of that ratio | failed opens | instructions per call | added instructions per call |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c in order:
        ci = median_ci(ratio[c])
        spread = f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "too few rounds"
        fs = sorted(failed[c])
        fails = f"{fs[0]:.1%}" if fs[0] == fs[-1] else f"{fs[0]:.1%}–{fs[-1]:.1%}"
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
    print("| case | ns per call (median) | × no preload (median of rounds) | 95% CI of that ratio |")
    print("|---|---:|---:|---:|")
    for c in norder:
        m = statistics.median(nns[c])
        ci = median_ci(nratio[c])
        spread = f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "too few rounds"
        print(f"| {c} | {fmt(m)} | {statistics.median(nratio[c]):.3f} | {spread} |")

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
        ci = median_ci(ratio[c])
        if ci is None:
            print(f"| {c}: within 2% of no preload (wall) | {100 * (r - 1):+.1f}% | too few rounds to tell (need 6 or more) |")
            continue
        lo, hi = ci
        # Met only when the whole interval is under +2%; missed when all of it is over.
        v = "met" if hi <= 1.02 else "**missed**" if lo > 1.02 else "not resolved (the noise is wider than 2%)"
        print(f"| {c}: within 2% of no preload (wall) | {100 * (r - 1):+.1f}% (95% CI {100 * (lo - 1):+.1f}% to {100 * (hi - 1):+.1f}%) | {v} |")
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
