"""Benchmarks of issue 5, each side by side with its reference in one run:

    OMP_WAIT_POLICY=PASSIVE /tmp/ref/bin/python bench/models_bench.py lr --bin $BIN [--rows 1000000 --features 100]
    OMP_WAIT_POLICY=PASSIVE /tmp/ref/bin/python bench/models_bench.py rf --bin $BIN --train T.parquet --valid V.parquet
    /tmp/ref/bin/python bench/models_bench.py score --bin $BIN [--rows 1000000]

- lr: dense Gaussian features (seed 7) with a logistic label, written to Parquet;
  `risklake train lr` (no penalty) vs scikit-learn LogisticRegression(lbfgs, no penalty,
  max_iter 1000). Log-likelihoods compared. A third of the features have mean 50 and
  standard deviation 10 (as raw credit features do), which slows lbfgs; --unit-scale makes
  every feature standard normal.
- rf: `risklake gen credit` data (numeric features, missing values included);
  `risklake train rf` vs scikit-learn RandomForestClassifier, 100 trees, max_depth 12,
  max_features sqrt, n_jobs 2; validation AUC compared.
- score: a 20-feature scorecard (quantile bins, LR on their WoE) scoring 1M generated rows
  into Parquet: `risklake score` vs the same card exported as SQL and run by DataFusion
  (`risklake sql -f card.sql --format parquet`).

Every side runs in a child process, timed the same way: wall, CPU (user + system of the
child) and peak RSS; both include reading their input.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

SK_LR = r"""
import sys, json, time
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
df = pd.read_parquet(sys.argv[1])
X = df.drop(columns=['bad']).to_numpy(); y = df['bad'].to_numpy()
out = {}
for name, tol in (('default', 1e-4), ('tight', 1e-10)):
    t0 = time.perf_counter(); c0 = time.process_time()
    m = LogisticRegression(C=np.inf, solver='lbfgs', max_iter=10000, tol=tol).fit(X, y)
    secs = time.perf_counter() - t0; cpu = time.process_time() - c0
    eta = m.intercept_[0] + X @ m.coef_[0]
    ll = float(np.sum(y * eta - np.logaddexp(0, eta)))
    out[name] = dict(loglik=ll, fit_seconds=secs, fit_cpu=cpu, iterations=int(m.n_iter_[0]))
print(json.dumps(out))
"""

SK_RF = r"""
import sys, json, time
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
tr = pd.read_parquet(sys.argv[1]); va = pd.read_parquet(sys.argv[2])
cols = [c for c in tr.columns if c not in ('id', 'month', 'bad') and pd.api.types.is_numeric_dtype(tr[c])]
t0 = time.perf_counter()
m = RandomForestClassifier(n_estimators=int(sys.argv[3]), max_depth=int(sys.argv[4]), max_features='sqrt',
                           n_jobs=2, random_state=0).fit(tr[cols], tr['bad'])
secs = time.perf_counter() - t0
print(json.dumps(dict(auc=roc_auc_score(va['bad'], m.predict_proba(va[cols])[:, 1]), fit_seconds=secs)))
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


def show(name, wall, cpu, rss, extra):
    print(f"{name:>10}: wall {wall:7.2f} s  CPU {cpu:7.2f} s  RSS {rss:7.0f} MB  {extra}")


def bench_lr(a, work):
    import numpy as np
    import pandas as pd
    path = os.path.join(work, f"lr_{a.rows}x{a.features}{'_unit' if a.unit_scale else ''}.parquet")
    if not os.path.exists(path):
        rng = np.random.default_rng(7)
        X = rng.standard_normal((a.rows, a.features)).astype(np.float64)
        w = rng.normal(0, 0.3, a.features)
        if not a.unit_scale:
            X[:, ::3] = X[:, ::3] * 10 + 50  # a third of the features far from unit scale
            w = w / np.where(np.arange(a.features) % 3 == 0, 10, 1)
        eta = -2.0 + (X - X.mean(0)) @ w
        y = (rng.random(a.rows) < 1 / (1 + np.exp(-eta))).astype(np.int64)
        df = pd.DataFrame(X, columns=[f"x{i:03d}" for i in range(a.features)])
        df["bad"] = y
        df.to_parquet(path)
    home = os.path.join(work, "home")
    out, wall, cpu, rss = run([a.bin, "--home", home, "--json", "-q", "train", "lr", "--table", path, "--label", "bad"])
    r = json.loads(out)
    ours = r["summary"]["log_likelihood"]
    show("risklake", wall, cpu, rss, f"loglik {ours:.6f} fit {r['seconds']:.2f} s, {r['summary']['iterations']} Newton steps")
    out, wall2, cpu2, rss2 = run([sys.executable, "-c", SK_LR, path])
    both = json.loads(out)
    for name, s in both.items():
        print(f"   sklearn ({name} tol): loglik {s['loglik']:.6f} fit {s['fit_seconds']:.2f} s wall, {s['fit_cpu']:.2f} CPU s, "
              f"{s['iterations']} lbfgs iterations; loglik ours - theirs {ours - s['loglik']:+.6f}")
    # The sklearn child fitted twice: its reading cost is its CPU minus both fits.
    read = cpu2 - sum(s["fit_cpu"] for s in both.values())
    for name, s in both.items():
        print(f"CPU ratio vs sklearn {name} tol (read + fit each side): {cpu / (read + s['fit_cpu']):.2f}x")
    print(f"risklake process RSS {rss:.0f} MB, sklearn child {rss2:.0f} MB")


def bench_rf(a, work):
    home = os.path.join(work, "home")
    cols = subprocess.run([sys.executable, "-c",
                           "import sys, pandas as pd; d = pd.read_parquet(sys.argv[1]); "
                           "print(','.join(c for c in d.columns if c not in ('id','month','bad') and pd.api.types.is_numeric_dtype(d[c])))",
                           a.train], capture_output=True, text=True, check=True).stdout.strip()
    out, wall, cpu, rss = run([a.bin, "--home", home, "--json", "-q", "train", "rf", "--table", a.train, "--valid-table", a.valid,
                               "--label", "bad", "--columns", cols, "--param", f"n_estimators={a.trees}",
                               "--param", f"max_depth={a.depth}"])
    r = json.loads(out)
    show("risklake", wall, cpu, rss, f"valid AUC {r['valid_auc']:.4f} OOB AUC {r['oob_score']:.4f} train {r['seconds']:.1f} s")
    out, wall2, cpu2, rss2 = run([sys.executable, "-c", SK_RF, a.train, a.valid, str(a.trees), str(a.depth)])
    s = json.loads(out)
    show("sklearn", wall2, cpu2, rss2, f"valid AUC {s['auc']:.4f} fit {s['fit_seconds']:.1f} s")
    print(f"CPU ratio {cpu / cpu2:.3f}x, wall ratio {wall / wall2:.3f}x, RSS ratio {rss / rss2:.2f}x, AUC {r['valid_auc'] - s['auc']:+.4f}")


def bench_score(a, work):
    home = os.path.join(work, "home")
    data = os.path.join(work, f"score_{a.rows}.parquet")
    if not os.path.exists(data):
        run([a.bin, "--home", home, "-q", "gen", "credit", "--rows", str(a.rows), "--features", "20", "--out", data])
    plan = json.loads(run([a.bin, "--home", home, "--json", "-q", "features", "bin", "--table", data, "--label", "bad",
                           "--exclude", "id,month", "--method", "quantile", "--max-bins", "8"])[0])["run"]
    lr = json.loads(run([a.bin, "--home", home, "--json", "-q", "train", "lr", "--table", data, "--label", "bad",
                         "--plan", str(plan), "--param", "collinear=drop"])[0])["run"]
    card = json.loads(run([a.bin, "--home", home, "--json", "-q", "scorecard", "build", "--model", str(lr)])[0])
    nfeat = len(card["features"])
    sql = os.path.join(work, "card.sql")
    run([a.bin, "--home", home, "-q", "scorecard", "export", "--scorecard", str(card["run"]), "--format", "sql",
         "--sql-table", "apps", "--out", sql])
    ours_out, sql_out = os.path.join(work, "scored.parquet"), os.path.join(work, "scored_sql.parquet")
    for p in (ours_out, sql_out):
        if os.path.exists(p):
            os.remove(p)
    _, wall, cpu, rss = run([a.bin, "--home", home, "-q", "score", "--scorecard", str(card["run"]), "--table", data,
                             "--out", ours_out])
    show("score", wall, cpu, rss, f"{a.rows} rows, {nfeat}-feature card")
    _, wall2, cpu2, rss2 = run([a.bin, "--home", home, "-q", "sql", "--file", f"apps={data}", "-f", sql,
                                "--format", "parquet", "--out", sql_out])
    show("SQL CASE", wall2, cpu2, rss2, "DataFusion, the exported SELECT")
    check = subprocess.run([sys.executable, "-c",
                            "import sys, pandas as pd; a = pd.read_parquet(sys.argv[1]); b = pd.read_parquet(sys.argv[2]); "
                            "print(int((a['score'] - b.set_index('id').loc[a['id'], 'score'].to_numpy()).abs().max() == 0))",
                            ours_out, sql_out], capture_output=True, text=True)
    print(f"wall ratio {wall / wall2:.2f}x, CPU ratio {cpu / cpu2:.2f}x, scores equal: {check.stdout.strip() == '1'}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["lr", "rf", "score"])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--train")
    ap.add_argument("--valid")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--unit-scale", action="store_true", help="lr: every feature standard normal")
    a = ap.parse_args()
    work = a.dir or tempfile.mkdtemp(prefix="rl-models-")
    os.makedirs(work, exist_ok=True)
    print(f"{a.what}: {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, work dir {work}")
    {"lr": bench_lr, "rf": bench_rf, "score": bench_score}[a.what](a, work)


if __name__ == "__main__":
    main()
