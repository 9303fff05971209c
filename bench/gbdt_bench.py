"""GBDT benchmark: risklake `train gbdt` vs LightGBM, same data, same parameters, one run.

    /tmp/ref/bin/pip install lightgbm==4.7.0 scikit-learn pandas pyarrow
    OMP_WAIT_POLICY=PASSIVE /tmp/ref/bin/python bench/gbdt_bench.py \
        --bin $CARGO_TARGET_DIR/debug/risklake --rows 1000000 --features 100 --iterations 200

Data: `risklake gen credit` (train: seed 42; validation: 200k rows, seed 9), the numeric
features. LightGBM runs in a child process with 2 threads and OMP_WAIT_POLICY=PASSIVE, so
both sides are timed the same way (wall, CPU = user + system of the child, peak RSS) and
both include reading the Parquet files. AUC on the validation rows.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

LGB_CHILD = r"""
import sys, json, time
import lightgbm as lgb, pandas as pd
from sklearn.metrics import roc_auc_score
train, valid, iters, leaves, lr = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
tr = pd.read_parquet(train); va = pd.read_parquet(valid)
cols = [c for c in tr.columns if c not in ('id', 'month', 'bad') and pd.api.types.is_numeric_dtype(tr[c])]
p = dict(objective='binary', learning_rate=lr, num_leaves=leaves, min_data_in_leaf=20, max_bin=255,
         verbose=-1, num_threads=2, feature_pre_filter=False)
t0 = time.perf_counter()
b = lgb.train(p, lgb.Dataset(tr[cols], tr['bad']), num_boost_round=iters)
secs = time.perf_counter() - t0
print(json.dumps(dict(auc=roc_auc_score(va['bad'], b.predict(va[cols])), train_seconds=secs)))
"""


def run(cmd, env=None):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.stdout, wall, cpu, int(p.stderr.strip().splitlines()[-1]) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--leaves", type=int, default=31)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    work = a.dir or tempfile.mkdtemp(prefix="rl-gbdt-")
    home = os.path.join(work, "home")
    train = os.path.join(work, f"train_{a.rows}x{a.features}.parquet")
    valid = os.path.join(work, f"valid_200000x{a.features}.parquet")
    if not os.path.exists(train):
        run([a.bin, "--home", home, "-q", "gen", "credit", "--rows", str(a.rows), "--features", str(a.features), "--out", train])
    if not os.path.exists(valid):
        run([a.bin, "--home", home, "-q", "gen", "credit", "--rows", "200000", "--features", str(a.features), "--seed", "9", "--out", valid])
    print(f"data: {a.rows} rows x {a.features} columns (numeric features used), {a.iterations} trees, "
          f"{a.leaves} leaves, lr {a.lr}; machine: {os.cpu_count()} cores", flush=True)
    import pyarrow.parquet as pq
    schema = pq.read_schema(train)
    numeric = [n for n, t in zip(schema.names, schema.types) if n not in ("id", "month", "bad") and str(t) != "string"]
    out, wall, cpu, rss = run([a.bin, "--home", home, "-q", "--json", "train", "gbdt", "--table", train, "--valid-table", valid,
                               "--label", "bad", "--columns", ",".join(numeric), "--param", f"num_iterations={a.iterations}",
                               "--param", f"num_leaves={a.leaves}", "--param", f"learning_rate={a.lr}"])
    ours = json.loads(out)
    print(f"risklake  wall {wall:7.2f} s  cpu {cpu:7.2f} s  rss {rss:6.0f} MB  train {ours['seconds']:.2f} s  AUC {ours['valid_metric']:.4f}", flush=True)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="2")
    out, wall2, cpu2, rss2 = run([sys.executable, "-c", LGB_CHILD, train, valid, str(a.iterations), str(a.leaves), str(a.lr)], env=env)
    lg = json.loads(out)
    print(f"LightGBM  wall {wall2:7.2f} s  cpu {cpu2:7.2f} s  rss {rss2:6.0f} MB  train {lg['train_seconds']:.2f} s  AUC {lg['auc']:.4f}", flush=True)
    print(f"ratio (risklake / LightGBM): CPU {cpu / cpu2:.2f}, wall {wall / wall2:.2f}, RSS {rss / rss2:.2f}; "
          f"AUC difference {ours['valid_metric'] - lg['auc']:+.4f}")


if __name__ == "__main__":
    main()
