"""The Python package's overhead: `GBDTClassifier.fit` on a pandas DataFrame vs the CLI's
`train gbdt` on the same Parquet file, and vs `lightgbm.LGBMClassifier` in the same
process; CPU time (user + system of the child) and wall time, alternating runs.

    OMP_WAIT_POLICY=PASSIVE $VENV/bin/python bench/python_bench.py \
        --bin $CARGO_TARGET_DIR/debug/risklake --rows 1000000 --features 100 --iterations 100 --repeat 3

Each measurement is a child process that reads the Parquet file (pandas for the Python
sides, the CLI reads it itself), fits, and reports; the fit alone is timed in-process too.
The package must be installed in the interpreter running this script (pip install ./python).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time, resource
import pandas as pd
which, train, iters, leaves, lr = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
df = pd.read_parquet(train)
cols = [c for c in df.columns if c not in ('id', 'month', 'bad') and pd.api.types.is_numeric_dtype(df[c])]
X, y = df[cols], df['bad']
t0 = time.perf_counter(); c0 = resource.getrusage(resource.RUSAGE_SELF)
if which == 'risklake':
    import risklake
    m = risklake.GBDTClassifier(n_estimators=iters, num_leaves=leaves, learning_rate=lr, min_child_samples=20, max_bin=255, n_jobs=2).fit(X, y)
else:
    import lightgbm as lgb
    m = lgb.LGBMClassifier(n_estimators=iters, num_leaves=leaves, learning_rate=lr, min_child_samples=20, max_bin=255,
                           n_jobs=2, verbose=-1).fit(X, y)
c1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps(dict(fit_wall=time.perf_counter() - t0, fit_cpu=(c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime))))
"""


def timed(cmd, env=None):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    return p.stdout, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--leaves", type=int, default=31)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    work = a.dir or tempfile.mkdtemp(prefix="rl-py-")
    home = os.path.join(work, "home")
    train = os.path.join(work, f"train_{a.rows}x{a.features}.parquet")
    if not os.path.exists(train):
        timed([a.bin, "--home", home, "-q", "gen", "credit", "--rows", str(a.rows), "--features", str(a.features), "--out", train])
    import pyarrow.parquet as pq

    schema = pq.read_schema(train)
    numeric = [n for n, t in zip(schema.names, schema.types) if n not in ("id", "month", "bad") and str(t) != "string"]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="2")
    print(f"data: {a.rows} rows x {len(numeric)} numeric features, {a.iterations} trees, {a.leaves} leaves; "
          f"{os.cpu_count()} cores", flush=True)
    results = {"cli": [], "risklake": [], "lightgbm": []}
    for r in range(a.repeat):
        out, wall, cpu = timed([a.bin, "--home", home, "-q", "--json", "train", "gbdt", "--table", train, "--label", "bad",
                                "--columns", ",".join(numeric), "--param", f"num_iterations={a.iterations}",
                                "--param", f"num_leaves={a.leaves}", "--param", f"learning_rate={a.lr}"])
        results["cli"].append(dict(wall=wall, cpu=cpu, fit_wall=json.loads(out)["seconds"], fit_cpu=float("nan")))
        for which in ("risklake", "lightgbm"):
            out, wall, cpu = timed([sys.executable, "-c", CHILD, which, train, str(a.iterations), str(a.leaves), str(a.lr)], env=env)
            results[which].append(dict(wall=wall, cpu=cpu, **json.loads(out)))
        print(f"run {r + 1}: " + "  ".join(f"{k} cpu {v[-1]['cpu']:.1f}s wall {v[-1]['wall']:.1f}s" for k, v in results.items()),
              flush=True)
    med = {k: {m: statistics.median(x[m] for x in v) for m in ("wall", "cpu", "fit_wall", "fit_cpu")} for k, v in results.items()}
    for k, v in med.items():
        print(f"{k:9s} median: process wall {v['wall']:.1f} s, CPU {v['cpu']:.1f} s; fit wall {v['fit_wall']:.1f} s, "
              f"fit CPU {v['fit_cpu']:.1f} s")
    print(f"binding overhead: package process CPU / CLI process CPU = {med['risklake']['cpu'] / med['cli']['cpu']:.3f}; "
          f"package fit CPU / LightGBM fit CPU = {med['risklake']['fit_cpu'] / med['lightgbm']['fit_cpu']:.2f}")


if __name__ == "__main__":
    main()
