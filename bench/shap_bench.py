"""SHAP side by side: risklake `predict --output shap` vs lightgbm pred_contrib on the same
model and the same rows, both as child processes (wall, CPU of the child).

    risklake --home /tmp/qs1 quickstart          # trains a GBDT (run 6 in a fresh home)
    risklake --home /tmp/qs1 model export --model 6 --format lightgbm --out /tmp/qs1/model.txt
    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2 /tmp/ref/bin/python bench/shap_bench.py \
        /var/tmp/risklake-target/debug/risklake /tmp/qs1 6
"""
import resource, subprocess, sys, time
BIN, home, MODEL = sys.argv[1], sys.argv[2], sys.argv[3]
subprocess.run([BIN, "--home", home, "-q", "sql", "SELECT * FROM credit_apps", "--format", "parquet", "--out", "/tmp/qs_apps.parquet"], check=True)
def run(cmd):
    b = resource.getrusage(resource.RUSAGE_CHILDREN); t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    a = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - t, (a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime)
LGB = r'''
import sys, pandas as pd, lightgbm as lgb, numpy as np
b = lgb.Booster(model_file=sys.argv[1] + "/model.txt"); names = b.feature_name()
x = pd.read_parquet("/tmp/qs_apps.parquet")[names]
for c in names:
    if not pd.api.types.is_numeric_dtype(x[c]): x[c] = x[c].astype("category")
c = b.predict(x, pred_contrib=True); np.save("/tmp/lgb_shap.npy", c)
'''
w1, c1 = run([BIN, "--home", home, "-q", "predict", "--model", MODEL, "--table", "/tmp/qs_apps.parquet", "--out", "/tmp/rl_shap.parquet", "--output", "shap"])
w2, c2 = run([sys.executable, "-c", LGB, home])
import numpy as np, pandas as pd, lightgbm as lgb
names = lgb.Booster(model_file=home + "/model.txt").feature_name()
ours = pd.read_parquet("/tmp/rl_shap.parquet")[[f"shap_{n}" for n in names] + ["shap_expected"]].to_numpy()
theirs = np.load("/tmp/lgb_shap.npy")
print(f"rows {len(ours)}, trees 100, leaves 31: risklake wall {w1:.2f} s cpu {c1:.2f} s; lightgbm wall {w2:.2f} s cpu {c2:.2f} s; "
      f"ratio cpu {c1/c2:.2f}; max |diff| {np.abs(ours-theirs).max():.2e}")
