"""Parameter importance: `risklake studies importance` vs optuna's fANOVA evaluator on the
same studies (optuna-written journals in a risklake home), values and time.

Studies: optuna's RandomSampler (seed 11) over x in [-5, 5], lr in [1e-3, 1] (log), n in
1..20 and a categorical c of three choices, 300 and 1,000 trials, two objectives (a bowl
in x with a categorical shift; a categorical that dominates). Optuna:
`get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))` in this
process (its forest is scikit-learn's); risklake: the whole CLI process. Repeats alternate
the two; medians of wall and CPU seconds.

    /var/tmp/risklake-venv/bin/python bench/importance_bench.py --bin $CARGO_TARGET_DIR/debug/risklake
"""

import argparse
import json
import pathlib
import resource
import statistics
import subprocess
import tempfile
import time

import optuna

OBJECTIVES = {
    "bowl": lambda x, lr, n, c: x**2 + 3 * {"a": 0, "b": 2, "c": 4}[c] + 0.1 * n + 0.01 * lr,
    "category": lambda x, lr, n, c: 10 * {"a": 0, "b": 1, "c": 3}[c] + abs(x) + 0.3 * n,
}


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="risklake")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"{'trials':>6} {'objective':9} {'optuna s (CPU)':>15} {'risklake s (CPU)':>17} {'ratio':>7}  max |diff|  importances (optuna / risklake)")
    for n in (300, 1000):
        for shape, f in OBJECTIVES.items():
            home = pathlib.Path(tempfile.mkdtemp(prefix="imp-bench-")) / "home"
            subprocess.run([args.bin, "--home", str(home), "init"], check=True, capture_output=True)
            (home / "studies").mkdir(parents=True, exist_ok=True)
            storage = optuna.storages.JournalStorage(
                optuna.storages.journal.JournalFileBackend(str(home / "studies" / "s.journal")))
            study = optuna.create_study(study_name="s", storage=storage, sampler=optuna.samplers.RandomSampler(seed=11))
            study.optimize(lambda t: f(t.suggest_float("x", -5, 5), t.suggest_float("lr", 1e-3, 1.0, log=True),
                                       t.suggest_int("n", 1, 20), t.suggest_categorical("c", ["a", "b", "c"])), n_trials=n)
            theirs_t, theirs_c, ours_t, ours_c = [], [], [], []
            for _ in range(args.repeat):
                c0, t0 = time.process_time(), time.perf_counter()
                theirs = optuna.importance.get_param_importances(
                    study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
                theirs_t.append(time.perf_counter() - t0)
                theirs_c.append(time.process_time() - c0)
                c0, t0 = children_cpu(), time.perf_counter()
                out = subprocess.run([args.bin, "--home", str(home), "--json", "studies", "importance", "s"],
                                     check=True, capture_output=True, text=True)
                ours_t.append(time.perf_counter() - t0)
                ours_c.append(children_cpu() - c0)
            ours = {p["param"]: p["importance"] for p in json.loads(out.stdout)["params"]}
            diff = max(abs(ours[k] - theirs[k]) for k in theirs)
            med = statistics.median
            shown = ", ".join(f"{k} {theirs[k]:.3f}/{ours[k]:.3f}" for k in theirs)
            print(f"{n:6} {shape:9} {med(theirs_t):7.2f} ({med(theirs_c):5.2f}) {med(ours_t):8.3f} ({med(ours_c):5.3f}) "
                  f"{med(ours_t) / med(theirs_t):7.4f}  {diff:.4f}      {shown}", flush=True)


if __name__ == "__main__":
    main()
