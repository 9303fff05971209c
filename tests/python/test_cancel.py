"""Ctrl+C in a notebook: SIGINT to a process running a long call cancels the work,
raises KeyboardInterrupt, and leaves the lake as it was."""

import os
import signal
import subprocess
import sys
import textwrap
import time


def run_and_interrupt(code, wait_for="READY", after=0.5, timeout=60):
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert wait_for in line, line + proc.stderr.read()
    time.sleep(after)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, line + out, err, time.monotonic() - sent


def test_ctrl_c_cancels_a_long_call():
    code, out, err, took = run_and_interrupt(
        """
        import risklake._native as n
        print("READY", flush=True)
        try:
            n._sleep(60)
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
        """
    )
    assert code == 0 and "INTERRUPTED" in out, err
    assert took < 5


def test_ctrl_c_during_a_write_commits_nothing(tmp_path):
    home = tmp_path / "home"
    code, out, err, took = run_and_interrupt(
        f"""
        import numpy as np, pyarrow as pa, risklake
        rl = risklake.Workspace({str(home)!r})
        rl.write("t", pa.table({{"v": [1.0]}}))
        def batches():
            for i in range(100000):
                yield pa.record_batch({{"v": np.full(10000, float(i))}})
        reader = pa.RecordBatchReader.from_batches(pa.schema([("v", pa.float64())]), batches())
        print("READY", flush=True)
        try:
            rl.write("t", reader)
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
        """,
        after=1.0,
    )
    assert code == 0 and "INTERRUPTED" in out, err
    import risklake

    rl = risklake.Workspace(home)
    assert rl.table("t").num_rows == 1
    runs = [r for r in rl.runs(kind="write")]
    assert runs[0]["status"] == "cancelled"


def test_ctrl_c_cancels_a_fit():
    code, out, err, took = run_and_interrupt(
        """
        import numpy as np, risklake
        rng = np.random.default_rng(0)
        X = rng.normal(size=(200000, 20)); y = (X[:, 0] + rng.normal(size=200000) > 0).astype(int)
        print("READY", flush=True)
        try:
            risklake.GBDTClassifier(n_estimators=100000).fit(X, y)
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
        """,
        after=3.0,
    )
    assert code == 0 and "INTERRUPTED" in out, err
    assert took < 10
