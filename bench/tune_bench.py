"""Tuning benchmark: risklake-tune vs Optuna 5.0 (TPESampler defaults) vs rustuna 0.2, one run.

    cargo build -p risklake-tune --example tune_bench
    /tmp/ref/bin/pip install optuna==5.0.0 rustuna==0.2.0
    cargo build --release -p risklake-tune --example tune_bench
    /tmp/ref/bin/pip install optuna==5.0.0 rustuna==0.2.0 scipy
    /tmp/ref/bin/python bench/tune_bench.py --bin $CARGO_TARGET_DIR/release/examples/tune_bench [--seeds 30]

- quality: median (over seeds) of the best value after 100 and 300 trials on the 10-d
  shifted sphere (x_i in [-5, 5], optimum at x_i = 0.1 i), Branin, 5-d Rosenbrock
  ([-2, 2]) and Hartmann6, same definitions on every side (lower is better); risklake
  with its defaults and with Optuna's settings (`tpe-optuna`); with scipy, the two-sided
  Mann-Whitney p-value of each risklake row against Optuna's (seeds are independent
  draws; a small p says the difference is not seed noise);
- sampler cost: 1000 trials of a trivial objective on 10 float params, CPU seconds per
  trial for the first 100 and for trials 900-1000, in-memory storage;
- storage cost: 300 trials, random sampler, 10 params, Optuna's JournalFileBackend vs our
  journal file (each append locked and fsync'ed on both sides), minus the in-memory run.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import tempfile
import time


def sphere10(t):
    return sum((t.suggest_float(f"x{i}", -5, 5) - 0.1 * i) ** 2 for i in range(10))


def flat10(t):
    return sum(t.suggest_float(f"x{i}", 0, 1) for i in range(10))


def branin(t):
    x1, x2 = t.suggest_float("x0", -5, 10), t.suggest_float("x1", 0, 15)
    b, c, r, s, tt = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 6, 10, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - r) ** 2 + s * (1 - tt) * math.cos(x1) + s


def rosenbrock5(t):
    x = [t.suggest_float(f"x{i}", -2, 2) for i in range(5)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(4))


A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
     [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(t):
    x = [t.suggest_float(f"x{i}", 0, 1) for i in range(6)]
    return -sum([1.0, 1.2, 3.0, 3.2][i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))) for i in range(4))


FUNCS = dict(sphere10=sphere10, branin=branin, rosenbrock5=rosenbrock5, hartmann6=hartmann6, flat10=flat10)


def run_python(lib, func, trials, seed, sampler="tpe", journal=None):
    values, cpu = [], []
    f = FUNCS[func]

    def obj(t):
        v = f(t)
        values.append(v)
        cpu.append(time.process_time())
        return v

    if lib == "optuna":
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        smp = optuna.samplers.TPESampler(seed=seed) if sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed)
        storage = None
        if journal:
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend
            storage = JournalStorage(JournalFileBackend(journal))
        study = optuna.create_study(sampler=smp, storage=storage)
    else:
        import rustuna
        smp = rustuna.samplers.TPESampler(seed=seed) if sampler == "tpe" else rustuna.samplers.RandomSampler(seed=seed)
        study = rustuna.create_study(direction="minimize", sampler=smp)
    start = time.process_time()
    study.optimize(obj, n_trials=trials)
    best, b = [], math.inf
    for v in values:
        b = min(b, v)
        best.append(b)
    rel = [c - start for c in cpu]
    per = lambda a, z: (rel[z - 1] - rel[a - 1]) / (z - a) if len(rel) >= z else None
    return dict(best_100=best[min(99, len(best) - 1)], best_300=best[min(299, len(best) - 1)], cpu_seconds=rel[-1],
                cpu_per_trial_first_100=per(1, 100), cpu_per_trial_900_1000=per(900, 1000))


def run_ours(binary, func, trials, seed, sampler="tpe", journal=None):
    args = [binary, func, str(trials), str(seed), sampler] + ([journal] if journal else [])
    return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--skip-quality", action="store_true")
    a = ap.parse_args()
    print(f"tune bench: {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    tools = ["risklake", "risklake-optuna-settings", "optuna", "rustuna"]

    def run(tool, *x, **k):
        if tool == "risklake":
            return run_ours(a.bin, *x, **k)
        if tool == "risklake-optuna-settings":
            return run_ours(a.bin, *x, **dict(k, sampler="tpe-optuna" if k.get("sampler", "tpe") == "tpe" else k["sampler"]))
        return run_python(tool, *x, **k)

    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        mannwhitneyu = None
    if not a.skip_quality:
        print(f"\nquality: median best over {a.seeds} seeds after 100 / 300 trials (lower is better)")
        for func in ["sphere10", "branin", "rosenbrock5", "hartmann6"]:
            res = {tool: [run(tool, func, 300, s) for s in range(a.seeds)] for tool in tools}
            cells = []
            for tool in tools:
                cell = f"{tool} " + " / ".join(f"{statistics.median(r[k] for r in res[tool]):.4f}" for k in ("best_100", "best_300"))
                if mannwhitneyu and tool.startswith("risklake"):
                    ps = [mannwhitneyu([r[k] for r in res[tool]], [r[k] for r in res["optuna"]]).pvalue for k in ("best_100", "best_300")]
                    cell += " (p " + " / ".join(f"{p:.2f}" for p in ps) + ")"
                cells.append(cell)
            print(f"  {func:12s} " + "; ".join(cells))
    print("\nsampler cost, 1000 trials x 10 params, CPU ms per trial (first 100 / 900-1000), total CPU s; median of 3 runs")
    for tool in tools:
        rs = [run(tool, "flat10", 1000, 0) for _ in range(3)]
        med = lambda k: statistics.median(r[k] for r in rs)
        print(f"  {tool:26s} {med('cpu_per_trial_first_100') * 1e3:7.3f} ms / {med('cpu_per_trial_900_1000') * 1e3:7.3f} ms, total {med('cpu_seconds'):.2f} s")
    print("\njournal file storage, 300 trials x 10 params, random sampler: wall ms per trial (file minus memory), median of 3 runs")
    d = tempfile.mkdtemp(prefix="rl-tune-")
    for tool in ["risklake", "optuna"]:
        per = []
        for rep in range(3):
            t0 = time.perf_counter()
            run(tool, "flat10", 300, 0, sampler="random")
            mem = time.perf_counter() - t0
            t0 = time.perf_counter()
            run(tool, "flat10", 300, 0, sampler="random", journal=os.path.join(d, f"{tool}{rep}.log"))
            per.append((time.perf_counter() - t0 - mem) / 300 * 1e3)
        print(f"  {tool:9s} {statistics.median(per):.3f} ms per trial for storage (runs: {', '.join(f'{p:.3f}' for p in per)})")


if __name__ == "__main__":
    main()
