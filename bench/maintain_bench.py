#!/usr/bin/env python3
"""Read time of a primary-key table after many small upserts, before and after
`risklake maintain` (compaction + expiry), with pypaimon reading the same table.

Usage: python bench/maintain_bench.py RISKLAKE_BINARY [UPSERTS=200] [ROWS_PER_UPSERT=500]
Prints wall / CPU seconds of a full read (risklake SQL SUM over every row; pypaimon
to_arrow), median of 3, before and after, and the data files in the table.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

exe = sys.argv[1]
upserts = int(sys.argv[2]) if len(sys.argv) > 2 else 200
per = int(sys.argv[3]) if len(sys.argv) > 3 else 500


def rl(home, *args):
    out = subprocess.run([exe, "--home", home, "--json", *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_risklake(home):
    t0, c0 = time.perf_counter(), child_cpu()
    r = rl(home, "sql", "SELECT COUNT(*) AS n, SUM(score) AS s FROM pk")
    return time.perf_counter() - t0, child_cpu() - c0, r["results"][0]["data"][0]["n"]


def timed_pypaimon(home):
    from pypaimon import CatalogFactory

    t0, c0 = time.perf_counter(), time.process_time()
    table = CatalogFactory.create({"warehouse": f"{home}/warehouse"}).get_table("default.pk")
    rb = table.new_read_builder()
    n = rb.new_read().to_arrow(rb.new_scan().plan().splits()).num_rows
    return time.perf_counter() - t0, time.process_time() - c0, n


def data_files(home):
    d = f"{home}/warehouse/default.db/pk"
    return sum(len([f for f in fs if f.startswith("data-")]) for _, _, fs in os.walk(d))


def measure(home, label):
    rows = []
    for _ in range(3):  # alternating: risklake, pypaimon, risklake, ...
        rows.append(("risklake", *timed_risklake(home)))
        rows.append(("pypaimon", *timed_pypaimon(home)))
    for tool in ("risklake", "pypaimon"):
        w = statistics.median(r[1] for r in rows if r[0] == tool)
        c = statistics.median(r[2] for r in rows if r[0] == tool)
        n = [r[3] for r in rows if r[0] == tool][0]
        print(f"{label:>7} {tool:>8}: {w:.3f} s wall, {c:.3f} CPU s, {n} rows, {data_files(home)} data files")


with tempfile.TemporaryDirectory() as tmp:
    home = f"{tmp}/home"
    t0 = time.perf_counter()
    for i in range(upserts):
        f = f"{tmp}/u.csv"
        with open(f, "w") as out:
            out.write("id,score\n")
            for k in range(per):
                out.write(f"{(i * 7919 + k * 13) % (per * 40)},{i + k / 1000}\n")
        rl(home, "ingest", f, "--table", "pk", "--primary-key", "id", "--mode", "upsert", "--allow-duplicate-source")
    print(f"{upserts} upserts of {per} rows: {time.perf_counter() - t0:.1f} s")
    measure(home, "before")
    t0 = time.perf_counter()
    r = rl(home, "maintain", "pk", "--retain-last", "1", "--retain-age", "0")
    print(f"maintain: {time.perf_counter() - t0:.2f} s wall; {json.dumps(r['tables'][0]['compaction'])}; "
          f"{len(r['tables'][0]['expired'])} snapshots expired, {r['tables'][0]['expired_files']} files removed")
    measure(home, "after")
