"""Scoring endpoint benchmark: `risklake serve` vs LightGBM in a FastAPI/uvicorn app.

Usage:
    /var/tmp/risklake-venv/bin/python bench/scoring_bench.py --bin $CARGO_TARGET_DIR/debug/risklake \
        [--seconds 5] [--repeats 3] [--work /tmp/scoring-bench]

Needs `wrk` (Debian) and fastapi + uvicorn + lightgbm in the Python running it.

What it does:
1. Makes a home: `gen credit` 50k rows (20 features, seed 3); a 200-tree GBDT on the 18
   numeric features (31 leaves), registered as gbdt@champion and exported to LightGBM's
   text format; a binning plan, an LR on its WoE and a 20-feature scorecard, registered as
   card@champion.
2. Starts `risklake serve --auth none --workers 1` and a FastAPI app (`--fastapi-workers`
   uvicorn workers, default 1; OMP_NUM_THREADS=1) that loads the exported model with `lightgbm.Booster` and scores JSON
   rows with `booster.predict`: the small web app a team would write. Checks that both
   give the same probabilities for 200 rows.
3. Drives each with `wrk` (keep-alive, POST): single-row requests at 1, 8 and 64
   connections (latency p50 / p99, requests/s) and 1,000-row batches at 1 and 8
   connections (rows/s); risklake also with the batch as an Arrow IPC stream. The servers
   alternate, each condition `--repeats` times; medians are printed, with each server's CPU
   time (user + system of its process tree) per 1,000 rows.
"""

import argparse
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc

APP = '''
import os
import numpy as np
import lightgbm as lgb
from fastapi import FastAPI, Request

booster = lgb.Booster(model_file=os.environ["BENCH_MODEL"])
features = booster.feature_name()
app = FastAPI()


@app.post("/predict")
async def predict(request: Request):
    body = await request.json()
    rows = body["rows"]
    x = np.array([[np.nan if r.get(f) is None else r[f] for f in features] for r in rows], dtype=np.float64)
    p = booster.predict(x, num_threads=1)
    return {"predictions": [{"probability": float(v)} for v in p]}
'''


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out.stderr}")
    return out.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User + system CPU seconds of a process and its descendants (live ones)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for t in Path(f"/proc/{p}/task").iterdir():
                children = Path(f"/proc/{p}/task/{t.name}/children").read_text().split()
                pids.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def wrk(url, body_file, content_type, connections, seconds):
    script = body_file.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
        f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
    )
    threads = min(2, connections)
    out = run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", str(script), url])
    unit = {"us": 1e-3, "ms": 1.0, "s": 1000.0}

    def latency(pct):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * unit[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        sys.exit(f"wrk saw errors against {url}:\n{out}")
    return {"p50": latency(50), "p99": latency(99), "rps": rps}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", default=None)
    ap.add_argument("--fastapi-workers", type=int, default=1,
                    help="uvicorn worker processes (with 2 on this machine every request waited ~44 ms)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    work = Path(args.work or tempfile.mkdtemp(prefix="scoring-bench-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    home = work / "home"
    rl = lambda *a: json.loads(run([args.bin, "--home", str(home), "--json", *a]))  # noqa: E731

    rl("gen", "credit", "--rows", "50000", "--features", "20", "--seed", "3", "--table", "apps")
    gbdt = rl("train", "gbdt", "--table", "apps", "--label", "bad", "--exclude", "id,month,x06_grade,x14_purpose",
              "--param", "num_iterations=200", "--param", "num_leaves=31", "--valid-fraction", "0.2")
    rl("model", "register", "--run", str(gbdt["run"]), "--name", "gbdt", "--alias", "champion")
    model_txt = work / "gbdt.txt"
    run([args.bin, "--home", str(home), "model", "export", "--model", str(gbdt["run"]), "--format", "lightgbm",
         "--out", str(model_txt)])
    plan = rl("features", "bin", "--table", "apps", "--label", "bad", "--exclude", "id,month")
    lr = rl("train", "lr", "--table", "apps", "--label", "bad", "--plan", str(plan["run"]), "--valid-fraction", "0.2")
    card = rl("scorecard", "build", "--model", str(lr["run"]), "--base-points", "600", "--base-odds", "50", "--pdo", "20")
    rl("model", "register", "--run", str(card["run"]), "--name", "card", "--alias", "champion")
    rows = rl("sql", "SELECT * FROM apps ORDER BY id LIMIT 1000")["results"][0]["data"]
    for r in rows:
        r.pop("bad", None)
    card_features = len(card["features"]) if isinstance(card["features"], list) else card["features"]
    print(f"GBDT: {gbdt['trees']} trees on {gbdt['features']} features; scorecard: {card_features} features", flush=True)

    bodies = {}
    for name, payload in [("one", {"rows": rows[:1]}), ("batch", {"rows": rows})]:
        p = work / f"{name}.json"
        p.write_text(json.dumps(payload))
        bodies[name] = p
    table = pa.Table.from_pylist(rows)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    bodies["arrow"] = work / "batch.arrow"
    bodies["arrow"].write_bytes(sink.getvalue())

    rl_port, api_port = free_port(), free_port()
    server = subprocess.Popen([args.bin, "--home", str(home), "serve", "--bind", f"127.0.0.1:{rl_port}", "--auth", "none",
                               "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    server.stdout.readline()
    (work / "app.py").write_text(APP)
    env = dict(os.environ, BENCH_MODEL=str(model_txt), OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    fastapi = subprocess.Popen([sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(api_port),
                                "--workers", str(args.fastapi_workers), "--log-level", "warning"], cwd=work, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        def post(url, payload):
            req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
            for _ in range(100):
                try:
                    return json.loads(urllib.request.urlopen(req, timeout=30).read())
                except OSError:
                    time.sleep(0.2)
            sys.exit(f"{url} never answered")

        ours = post(f"http://127.0.0.1:{rl_port}/api/v1/models/gbdt@champion/predict", {"rows": rows[:200]})
        theirs = post(f"http://127.0.0.1:{api_port}/predict", {"rows": rows[:200]})
        a = np.array([p["probability"] for p in ours["predictions"]])
        b = np.array([p["probability"] for p in theirs["predictions"]])
        print(f"same model: max |risklake - LightGBM| over 200 rows = {np.abs(a - b).max():.2e}", flush=True)
        assert np.abs(a - b).max() < 1e-9

        targets = {
            "risklake gbdt": (f"http://127.0.0.1:{rl_port}/api/v1/models/gbdt@champion/predict", server.pid),
            "FastAPI + LightGBM": (f"http://127.0.0.1:{api_port}/predict", fastapi.pid),
            "risklake scorecard": (f"http://127.0.0.1:{rl_port}/api/v1/models/card@champion/predict", server.pid),
        }
        conditions = [("one", 1), ("one", 8), ("one", 64), ("batch", 1), ("batch", 8), ("arrow", 1), ("arrow", 8)]
        results = {}
        for rep in range(args.repeats):
            for body, conns in conditions:
                for name, (url, pid) in targets.items():
                    if body == "arrow" and name.startswith("FastAPI"):
                        continue
                    ctype = "application/vnd.apache.arrow.stream" if body == "arrow" else "application/json"
                    before = cpu_seconds(pid)
                    r = wrk(url, bodies[body], ctype, conns, args.seconds)
                    r["cpu"] = cpu_seconds(pid) - before
                    rows_per_request = 1 if body == "one" else len(rows)
                    r["rows"] = r["rps"] * rows_per_request
                    r["cpu_per_1k_rows"] = 1000 * r["cpu"] / (r["rows"] * args.seconds)
                    results.setdefault((name, body, conns), []).append(r)
                    print(f"rep {rep + 1} {name:20s} {body:5s} c={conns:<3d} p50 {r['p50']:8.3f} ms  p99 {r['p99']:8.3f} ms  "
                          f"{r['rps']:9.1f} req/s  {r['rows']:10.0f} rows/s  cpu {r['cpu']:.1f} s", flush=True)
        print("\nmedians of", args.repeats, "runs:")
        print("| server | body | connections | p50 ms | p99 ms | requests/s | rows/s | CPU s per 1k rows |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for (name, body, conns), rs in results.items():
            med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            print(f"| {name} | {body} | {conns} | {med['p50']:.3f} | {med['p99']:.3f} | {med['rps']:.0f} | {med['rows']:.0f} | "
                  f"{med['cpu_per_1k_rows']:.4f} |")
        print("\nratios risklake gbdt / FastAPI + LightGBM (medians):")
        for body, conns in conditions:
            if body == "arrow":
                continue
            ours = results[("risklake gbdt", body, conns)]
            theirs = results[("FastAPI + LightGBM", body, conns)]
            m = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
            print(f"{body} c={conns}: p99 {m(ours, 'p99') / m(theirs, 'p99'):.2f}x, "
                  f"throughput {m(ours, 'rows') / m(theirs, 'rows'):.2f}x, "
                  f"CPU per row {m(ours, 'cpu_per_1k_rows') / m(theirs, 'cpu_per_1k_rows'):.2f}x")
    finally:
        server.send_signal(signal.SIGTERM)
        fastapi.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        fastapi.wait(timeout=30)


if __name__ == "__main__":
    main()
