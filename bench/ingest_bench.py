#!/usr/bin/env python3
"""CSV -> lake and Parquet -> lake throughput: risklake vs pyarrow + pypaimon, same data,
same machine, one run. Prints a markdown table (rows/s, MB/s, wall and CPU seconds).

Usage: python bench/ingest_bench.py --bin PATH/TO/risklake [--rows 1000000] [--features 24]
(run it with a Python that has pypaimon and pyarrow, e.g. the test venv).
"""

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pypaimon import CatalogFactory, Schema


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_risklake(binary, home, *args):
    c0, t0 = child_cpu(), time.perf_counter()
    subprocess.run([binary, "--home", home, "--quiet", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, child_cpu() - c0


def pypaimon_ingest(warehouse, name, read):
    c0, t0 = self_cpu(), time.perf_counter()
    table = read()
    cat = CatalogFactory.create({"warehouse": warehouse})
    cat.create_database("default", True)
    cat.create_table(f"default.{name}", Schema.from_pyarrow_schema(table.schema), False)
    t = cat.get_table(f"default.{name}")
    wb = t.new_batch_write_builder()
    w, c = wb.new_write(), wb.new_commit()
    w.write_arrow(table)
    c.commit(w.prepare_commit())
    w.close()
    c.close()
    return time.perf_counter() - t0, self_cpu() - c0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=24)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="rl-ingest-bench-")
    try:
        home = os.path.join(tmp, "home")
        csv, parquet = os.path.join(tmp, "data.csv"), os.path.join(tmp, "data.parquet")
        for out in (csv, parquet):
            subprocess.run([args.bin, "--home", home, "--quiet", "gen", "credit", "--rows", str(args.rows),
                            "--features", str(args.features), "--out", out], check=True, stdout=subprocess.DEVNULL)
        rows = []
        for fmt, path in (("CSV", csv), ("Parquet", parquet)):
            mb = os.path.getsize(path) / 1e6
            wall, cpu = run_risklake(args.bin, home, "ingest", path, "--table", f"bench_{fmt.lower()}")
            rows.append((fmt, "risklake ingest", wall, cpu, mb))
            read = (lambda p=path: pacsv.read_csv(p)) if fmt == "CSV" else (lambda p=path: pq.read_table(p))
            wall2, cpu2 = pypaimon_ingest(os.path.join(tmp, "pywh"), f"bench_{fmt.lower()}", read)
            rows.append((fmt, "pyarrow + pypaimon", wall2, cpu2, mb))
        print(f"rows: {args.rows}, features: {args.features}, cores: {os.cpu_count()}")
        print("| source | tool | wall s | CPU s | rows/s | MB/s (input) | wall ratio risklake/ref |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for i, (fmt, tool, wall, cpu, mb) in enumerate(rows):
            ratio = f"{wall / rows[i + 1][2]:.2f}" if i % 2 == 0 else ""
            print(f"| {fmt} ({mb:.0f} MB) | {tool} | {wall:.2f} | {cpu:.2f} | {args.rows / wall:,.0f} | {mb / wall:.1f} | {ratio} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
