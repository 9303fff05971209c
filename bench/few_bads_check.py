#!/usr/bin/env python3
"""Optimal binning on few bads (issue 14): how many features get a peak / valley trend and
how many have a bin holding fewer than 5 bads, under `features bin`'s defaults.

The samples: 5,000 rows at ~2.5% bad; 12 weak monotone features (m..), 20 noise features
(n..), 5 integer-coded noise features (k..) and one U-shaped feature (u_shape).

Usage: python bench/few_bads_check.py RISKLAKE_BINARY [extra features-bin flags...]
e.g.   python bench/few_bads_check.py target/debug/risklake --min-bad 1 --min-good 1
"""

import collections
import csv
import json
import subprocess
import sys
import tempfile

import numpy as np


def sample(path, seed, n=5000):
    rng = np.random.default_rng(seed)
    cols = {}
    logit = np.full(n, -4.6)
    for j in range(12):
        x = rng.normal(size=n)
        logit = logit + (0.15 + 0.05 * j) * x / 3
        cols[f"m{j:02d}"] = x
    for j in range(20):
        cols[f"n{j:02d}"] = rng.normal(size=n)
    for j in range(5):
        cols[f"k{j:02d}"] = rng.integers(0, 30, size=n).astype(float)
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    u = rng.normal(size=n)
    yu = rng.random(n) < 1 / (1 + np.exp(-(-7.5 + 1.1 * u * u)))
    cols["u_shape"] = u
    bad = (y | yu).astype(int)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(cols) + ["bad"])
        for i in range(n):
            w.writerow([f"{cols[c][i]:.5g}" for c in cols] + [bad[i]])
    return bad.sum()


def main():
    exe, extra = sys.argv[1], sys.argv[2:]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (7, 8, 9):
            path = f"{tmp}/s{seed}.csv"
            bads = sample(path, seed)
            out = subprocess.run(
                [exe, "--home", f"{tmp}/home", "--json", "features", "bin", "--table", path, "--label", "bad", *extra],
                capture_output=True, text=True, check=True,
            ).stdout
            turns, few = collections.Counter(), 0
            for f in json.loads(out)["features"]:
                if f["trend"] in ("peak", "valley"):
                    turns[f["feature"].rstrip("0123456789")] += 1
                few += any("fewer than 5 bads" in x for x in f.get("flags", []))
            print(f"seed {seed}: {bads} bads; peak/valley by group {dict(turns)}; features with a <5-bad bin: {few} of 38")


main()
