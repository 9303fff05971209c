"""Compares the next point TPE proposes after a fixed history, risklake vs Optuna 5.0, over
300 seeds (Branin; histories of 10 and 30 random trials). A diagnostic for the early-trial
quality gap (bench/RESULTS.md): prints the proposals' mean, spread and median objective.

    cargo build -p risklake-tune --example tune_bench
    /tmp/ref/bin/python bench/tpe_next_compare.py
"""
import json, subprocess, sys, numpy as np, optuna
sys.path.insert(0, "/work/main/bench")
import tune_bench as tb
optuna.logging.set_verbosity(optuna.logging.WARNING)
for n_hist in (10, 30):
    st = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=123))
    st.optimize(tb.branin, n_trials=n_hist)
    hist = [t.params for t in st.trials]
    json.dump(hist, open("/tmp/hist.json", "w"))
    ours = np.array(json.loads(subprocess.run(["/var/tmp/risklake-target/debug/examples/tune_bench", "next", "branin", "/tmp/hist.json", "300"], capture_output=True, text=True).stdout))
    theirs = []
    for s in range(300):
        st2 = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=s))
        for p in hist:
            st2.enqueue_trial(p)
        st2.optimize(tb.branin, n_trials=n_hist + 1)
        theirs.append([st2.trials[-1].params["x0"], st2.trials[-1].params["x1"]])
    theirs = np.array(theirs)
    vals = lambda a: [tb.branin(type("T", (), {"suggest_float": lambda self, n, lo, hi, i=i: a[i][0] if n == "x0" else a[i][1]})()) for i in range(len(a))]
    print(n_hist, "ours mean", ours.mean(0).round(3), "std", ours.std(0).round(3), "median f", round(float(np.median(vals(ours))), 3))
    print(n_hist, "optuna mean", theirs.mean(0).round(3), "std", theirs.std(0).round(3), "median f", round(float(np.median(vals(theirs))), 3))
