"""The next point TPE proposes after a fixed history: risklake with Optuna's settings
(`TpeSampler::optuna()`) vs Optuna 5.0's TPESampler, over many seeds. The same algorithm
gives the same distribution: per coordinate, means within a few standard errors and a
two-sample Kolmogorov-Smirnov test that does not reject.

    cargo build --release -p risklake-tune --example tune_bench
    /tmp/ref/bin/python bench/tpe_next_compare.py [SEEDS [FUNCTION [HISTORIES]]]

FUNCTION: one of bench/tune_bench.py's (default branin); HISTORIES: comma-separated
history lengths (default 10,30), each a study of random trials (seed 123).
"""
import json
import os
import subprocess
import sys

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState
from scipy.stats import ks_2samp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tune_bench as tb  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
fname = sys.argv[2] if len(sys.argv) > 2 else "branin"
hists = tuple(map(int, sys.argv[3].split(","))) if len(sys.argv) > 3 else (10, 30)
binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/risklake-target"), "release/examples/tune_bench")
for n_hist in hists:
    st = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=123))
    st.optimize(tb.FUNCS[fname], n_trials=n_hist)
    path = f"/tmp/tpe-next-{os.getpid()}.json"
    json.dump([t.params for t in st.trials], open(path, "w"))
    out = subprocess.run([binary, "next", fname, path, str(N)], capture_output=True, text=True, check=True).stdout
    ours = np.array(json.loads(out))
    # Optuna's own sampling step, called directly for the trial after the history.
    sampler = optuna.samplers.TPESampler(seed=0)
    space = st.trials[0].distributions
    nxt = FrozenTrial(number=n_hist, state=TrialState.RUNNING, value=None, datetime_start=None,
                      datetime_complete=None, params={}, distributions={}, user_attrs={}, system_attrs={},
                      intermediate_values={}, trial_id=10**9)
    theirs = np.array([[r[k] for k in space] for r in (sampler._sample(st, nxt, space) for _ in range(N))])
    se = np.sqrt(ours.var(0) / N + theirs.var(0) / N)
    print(f"{fname}, history {n_hist}, {N} seeds")
    print("  risklake mean", ours.mean(0).round(3), "std", ours.std(0).round(3))
    print("  optuna   mean", theirs.mean(0).round(3), "std", theirs.std(0).round(3))
    print("  mean difference / standard error", ((ours.mean(0) - theirs.mean(0)) / se).round(2))
    print("  KS p per coordinate", [round(float(ks_2samp(ours[:, j], theirs[:, j]).pvalue), 3) for j in range(ours.shape[1])])
