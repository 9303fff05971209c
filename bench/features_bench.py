"""Feature-binning benchmark: risklake vs optbinning, toad and scorecardpy, side by side.

    python3 -m venv /tmp/bin_ref
    /tmp/bin_ref/bin/pip install "pandas<3" numpy pyarrow toad==0.1.7 scorecardpy==0.1.9.7 optbinning==1.0.0
    OMP_WAIT_POLICY=PASSIVE /tmp/bin_ref/bin/python bench/features_bench.py \
        --bin $CARGO_TARGET_DIR/debug/risklake --rows 1000000 --features 100

Generates `--rows` x `--features` credit data with `risklake gen credit` into a Parquet
file, keeps its numeric features (the reference tools get the same columns as a pandas
DataFrame already in memory; risklake reads the Parquet file, so its figures include the
read), and times:
  * risklake `features bin` for each method (one process each: wall, CPU = user + sys of
    the child, peak RSS);
  * optbinning BinningProcess with defaults; toad Combiner with method 'dt' and 'quantile';
    scorecardpy woebin (tree) on `--scorecardpy-rows` rows (it takes minutes per 100k);
  * PSI of a second table (`--psi-rows` rows, another seed) against the plan's baseline:
    risklake `features evaluate --plan P --psi-against B` vs numpy searchsorted + bincount
    over the same split points (numpy timed on arrays already in memory).
IV quality: every tool's split points are scored by the same code here (missing values in
a bin of their own, WoE smoothing as risklake's: 0.5 added to both classes of a bin that
lacks one), and the mean IV over features is printed next to the time.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd


warnings.filterwarnings("ignore")


def run(cmd):
    """Runs a command; returns (stdout, wall s, cpu s, peak rss MB) of the child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rss_kb = int(p.stderr.strip().splitlines()[-1])
    return p.stdout, wall, cpu, rss_kb / 1024


def timed(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def iv_of_splits(x, y, splits):
    x = np.asarray(x, dtype=float)
    miss = np.isnan(x)
    idx = np.searchsorted(np.asarray(sorted(splits), dtype=float), x, side="right")
    k = len(splits) + 1
    idx[miss] = k
    n = np.bincount(idx, minlength=k + 1).astype(float)
    b = np.bincount(idx, weights=y, minlength=k + 1)
    g = n - b
    B, G = b.sum(), g.sum()
    iv = 0.0
    for bi, gi, ni in zip(b, g, n):
        if ni == 0:
            continue
        bs, gs = (bi, gi) if bi > 0 and gi > 0 else (bi + 0.5, gi + 0.5)
        iv += (bi / B - gi / G) * np.log((bs / B) / (gs / G))
    return iv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--psi-rows", type=int, default=500_000)
    ap.add_argument("--scorecardpy-rows", type=int, default=100_000)
    ap.add_argument("--skip-references", action="store_true")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    work = args.dir or tempfile.mkdtemp(prefix="rl-fbench-")
    home = os.path.join(work, "home")
    data = os.path.join(work, f"gen_{args.rows}x{args.features}.parquet")
    other = os.path.join(work, f"gen_{args.psi_rows}x{args.features}_b.parquet")
    if not os.path.exists(data):
        run([args.bin, "--home", home, "-q", "gen", "credit", "--rows", str(args.rows), "--features", str(args.features), "--out", data])
    if not os.path.exists(other):
        run([args.bin, "--home", home, "-q", "gen", "credit", "--rows", str(args.psi_rows), "--features", str(args.features), "--seed", "7", "--out", other])
    df = pd.read_parquet(data)
    y = df["bad"].to_numpy(dtype=float)
    numeric = [c for c in df.columns if c not in ("id", "month", "bad") and pd.api.types.is_numeric_dtype(df[c])]
    X = df[numeric]
    print(f"data: {args.rows} rows x {len(numeric)} numeric features ({data}); machine: {os.cpu_count()} cores")
    results = []
    plans = {}
    for method in ("optimal", "quantile", "uniform", "tree", "chimerge"):
        out, wall, cpu, rss = run(
            [args.bin, "--home", home, "-q", "--json", "features", "bin", "--table", data, "--label", "bad",
             "--columns", ",".join(numeric), "--method", method]
        )
        doc = json.loads(out)
        plan = json.load(open(doc["plan"]))
        plans[method] = doc["plan"]
        ivs = [iv_of_splits(X[f["name"]].to_numpy(), y, f.get("edges", [])) for f in plan["features"]]
        results.append((f"risklake {method}", wall, cpu, rss, float(np.mean(ivs))))
        print(f"risklake {method:9s} wall {wall:7.2f} s  cpu {cpu:7.2f} s  rss {rss:6.0f} MB  mean IV {np.mean(ivs):.4f}", flush=True)
    if not args.skip_references:
        from optbinning import BinningProcess

        bp, wall, cpu = timed(lambda: BinningProcess(variable_names=numeric).fit(X, y))
        ivs = [iv_of_splits(X[c].to_numpy(), y, bp.get_binned_variable(c).splits) for c in numeric]
        results.append(("optbinning BinningProcess", wall, cpu, None, float(np.mean(ivs))))
        print(f"optbinning BinningProcess wall {wall:7.2f} s  cpu {cpu:7.2f} s  mean IV {np.mean(ivs):.4f}", flush=True)
        import toad

        for method, kw in (("dt", dict(n_bins=10, min_samples=0.05)), ("quantile", dict(n_bins=10))):
            frame = X.assign(bad=y)
            comb, wall, cpu = timed(lambda: toad.transform.Combiner().fit(frame, y="bad", method=method, **kw))
            rules = comb.export()
            ivs = [iv_of_splits(X[c].to_numpy(), y, [s for s in rules[c] if np.isfinite(s)]) for c in numeric]
            results.append((f"toad {method}", wall, cpu, None, float(np.mean(ivs))))
            print(f"toad {method:8s} wall {wall:7.2f} s  cpu {cpu:7.2f} s  mean IV {np.mean(ivs):.4f}", flush=True)
        import scorecardpy as sc

        n = min(args.scorecardpy_rows, len(X))
        sub = X.iloc[:n].assign(bad=y[:n].astype(int))
        bins, wall, cpu = timed(lambda: sc.woebin(sub, y="bad", method="tree", no_cores=1, print_info=False))
        ivs = []
        for c in numeric:
            br = [float(v) for v in bins[c]["breaks"] if v not in ("inf", "-inf", "missing") and np.isfinite(float(v))]
            ivs.append(iv_of_splits(X[c].to_numpy(), y, br))
        results.append((f"scorecardpy tree ({n} rows)", wall, cpu, None, float(np.mean(ivs))))
        print(f"scorecardpy tree on {n} rows wall {wall:7.2f} s  cpu {cpu:7.2f} s  mean IV {np.mean(ivs):.4f}", flush=True)

    # PSI: a second table against the quantile plan's baseline.
    out, wall, cpu, rss = run(
        [args.bin, "--home", home, "-q", "--json", "features", "evaluate", "--table", data, "--label", "bad",
         "--plan", plans["quantile"], "--psi-against", other]
    )
    ours = {p["feature"]: p["psi"] for p in json.loads(out)["psi"]}
    print(f"PSI risklake ({args.psi_rows} rows vs plan): wall {wall:.2f} s  cpu {cpu:.2f} s  rss {rss:.0f} MB", flush=True)
    plan = json.load(open(plans["quantile"]))
    B = pd.read_parquet(other, columns=[f["name"] for f in plan["features"]])
    arrays = {f["name"]: B[f["name"]].to_numpy(dtype=float) for f in plan["features"]}

    def numpy_psi():
        res = {}
        for f in plan["features"]:
            edges = np.asarray(f.get("edges", []), dtype=float)
            x = arrays[f["name"]]
            idx = np.searchsorted(edges, x, side="right")
            k = len(edges) + 1
            idx[np.isnan(x)] = k
            actual = np.bincount(idx, minlength=len(f["bins"]))
            expected = np.array([b["count"] for b in f["bins"]], dtype=float)
            pe = np.where(expected > 0, expected / expected.sum(), 1e-4)
            pa = np.where(actual > 0, actual / actual.sum(), 1e-4)
            both_empty = (expected == 0) & (actual == 0)
            res[f["name"]] = float(np.where(both_empty, 0.0, (pa - pe) * np.log(pa / pe)).sum())
        return res

    ref, wall_np, cpu_np = timed(numpy_psi)
    worst = max(abs(ref[k] - ours[k]) for k in ref)
    print(f"PSI numpy searchsorted+bincount (arrays in memory): wall {wall_np:.2f} s  cpu {cpu_np:.2f} s; "
          f"largest |difference| vs risklake {worst:.2e}", flush=True)


if __name__ == "__main__":
    main()
