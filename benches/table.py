#!/usr/bin/env python3
"""Prints criterion's latest results as Markdown tables: per benchmark the
median time per iteration (criterion's estimate, with its 95% interval), the
range of the per-sample means (fastest and slowest sample), and the ratio to
a reference row of the same group.

    python3 benches/table.py                      # every group under benches/target/criterion
    python3 benches/table.py 'gate (off at run time)' ...
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "target", "criterion")

# Rows the ratio column divides by, per group prefix.
REFERENCE = {
    "gate": "unannotated fn",
    "capture": "posthog-rs: Event + capture",
    "deliver": "posthog-rs: Client (blocking), requests of 100",
}


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.3g} µs"
    return f"{ns:.3g} ns"


def rows(group):
    gdir = os.path.join(ROOT, group)
    out = []
    for bench in sorted(os.listdir(gdir)):
        new = os.path.join(gdir, bench, "new")
        if not os.path.isdir(new):
            continue
        with open(os.path.join(new, "benchmark.json")) as f:
            name = json.load(f)["function_id"]
        with open(os.path.join(new, "estimates.json")) as f:
            median = json.load(f)["median"]
        with open(os.path.join(new, "sample.json")) as f:
            sample = json.load(f)
        per = [t / i for t, i in zip(sample["times"], sample["iters"])]
        out.append((name, median["point_estimate"], median["confidence_interval"], min(per), max(per)))
    return out


def table(group):
    data = rows(group)
    ref_name = next((v for k, v in REFERENCE.items() if group.startswith(k)), None)
    ref = next((r[1] for r in data if r[0] == ref_name), None)
    thr = group.startswith("deliver")
    print(f"\n**{group}**\n")
    head = "| benchmark | median | 95% CI of median | range of samples |"
    head += " events/s (median) |" if thr else ""
    head += f" ratio to {ref_name} |" if ref else ""
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for name, med, ci, lo, hi in data:
        line = f"| {name} | {fmt(med)} | {fmt(ci['lower_bound'])} – {fmt(ci['upper_bound'])} | {fmt(lo)} – {fmt(hi)} |"
        if thr:
            line += f" {1e9 / med:,.0f} |"
        if ref:
            line += f" {med / ref:.2f}x |"
        print(line)


groups = sys.argv[1:] or sorted(g for g in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, g)) and g != "report")
for g in groups:
    table(g)
