"""Two-way interoperability with the reference Paimon implementation, pypaimon.

risklake writes tables (append, partitioned, primary key with upserts) that pypaimon must
read identically, and pypaimon writes tables that risklake must read identically,
including time travel to an earlier snapshot. RISKLAKE_BIN points at the binary.
"""

import json
import os
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
from pypaimon import CatalogFactory, Schema

BIN = os.environ.get("RISKLAKE_BIN", "risklake")


def risklake(home, *args):
    out = subprocess.run([BIN, "--home", str(home), "--json", *args], capture_output=True, text=True)
    assert out.returncode == 0, f"risklake {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


def catalog(home):
    return CatalogFactory.create({"warehouse": str(home / "warehouse")})


def pypaimon_read(home, name):
    table = catalog(home).get_table(name)
    rb = table.new_read_builder()
    splits = rb.new_scan().plan().splits()
    return rb.new_read().to_arrow(splits)


def risklake_read(home, tmp_path, sql, name="out.parquet"):
    path = tmp_path / name
    risklake(home, "sql", sql, "--format", "parquet", "--out", str(path))
    return pq.read_table(path)


def same_rows(a: pa.Table, b: pa.Table, key="id"):
    """Equal columns, types (after normalizing string/int widths) and values, in key order."""
    assert a.column_names == b.column_names, (a.column_names, b.column_names)
    a = a.sort_by(key)
    b = b.sort_by(key)
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_string(x.type) or pa.types.is_large_string(x.type) or pa.types.is_string_view(x.type):
            x, y = x.cast(pa.string()), y.cast(pa.string())
        assert x.type == y.type, f"column {name}: {x.type} vs {y.type}"
        assert x.equals(y), f"column {name} differs"


def test_risklake_tables_read_identically_in_pypaimon(tmp_path):
    home = tmp_path / "home"
    # An append table partitioned by month, written by risklake's generator.
    risklake(home, "gen", "credit", "--rows", "3000", "--features", "10", "--table", "apps", "--partition-by", "month")
    mine = risklake_read(home, tmp_path, "SELECT * FROM apps")
    theirs = pypaimon_read(home, "default.apps")
    assert theirs.num_rows == 3000
    same_rows(mine, theirs.select(mine.column_names))

    # A primary-key table with an upsert: the second file replaces two rows, adds one.
    first = tmp_path / "first.csv"
    first.write_text("id,name,limit_amount\n1,ann,1000.5\n2,bob,2000\n3,cy,\n")
    second = tmp_path / "second.csv"
    second.write_text("id,name,limit_amount\n2,bob,2500\n3,cy,300\n4,dee,400\n")
    risklake(home, "ingest", str(first), "--table", "risk.limits", "--primary-key", "id")
    risklake(home, "ingest", str(second), "--table", "risk.limits", "--mode", "upsert")
    theirs = pypaimon_read(home, "risk.limits").sort_by("id")
    assert theirs.column("id").to_pylist() == [1, 2, 3, 4]
    assert theirs.column("limit_amount").to_pylist() == [1000.5, 2500.0, 300.0, 400.0]
    mine = risklake_read(home, tmp_path, "SELECT * FROM risk.limits", "limits.parquet")
    same_rows(mine, theirs)


def test_pypaimon_tables_read_identically_in_risklake(tmp_path):
    home = tmp_path / "home"
    risklake(home, "init")
    cat = catalog(home)
    cat.create_database("ext", True)

    data = pa.table({
        "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
        "month": pa.array(["2024-01", "2024-01", "2024-02", "2024-02", "2024-03", "2024-03"]),
        "amount": pa.array([10.5, None, 30.25, 40.0, 50.0, 60.75], pa.float64()),
        "bad": pa.array([0, 1, 0, 0, 1, 0], pa.int32()),
    })
    cat.create_table("ext.events", Schema.from_pyarrow_schema(data.schema, partition_keys=["month"]), False)
    write(cat.get_table("ext.events"), data.slice(0, 4))
    write(cat.get_table("ext.events"), data.slice(4, 2))
    mine = risklake_read(home, tmp_path, "SELECT * FROM ext.events")
    same_rows(mine, pypaimon_read(home, "ext.events"))
    same_rows(mine, data)
    # Time travel to pypaimon's first snapshot.
    first = risklake_read(home, tmp_path, "SELECT * FROM ext.events VERSION AS OF 1", "v1.parquet")
    same_rows(first, data.slice(0, 4))

    pk_schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("score", pa.float64()), ("grade", pa.string())])
    cat.create_table("ext.scores", Schema.from_pyarrow_schema(pk_schema, primary_keys=["id"], options={"bucket": "2"}), False)
    write(cat.get_table("ext.scores"), pa.table({"id": [1, 2, 3], "score": [0.1, 0.2, 0.3], "grade": ["A", "B", "C"]}, schema=pk_schema))
    write(cat.get_table("ext.scores"), pa.table({"id": [2, 4], "score": [0.25, 0.4], "grade": ["B+", "D"]}, schema=pk_schema))
    mine = risklake_read(home, tmp_path, "SELECT * FROM ext.scores", "scores.parquet")
    theirs = pypaimon_read(home, "ext.scores")
    same_rows(mine, theirs)
    assert mine.sort_by("id").column("score").to_pylist() == [0.1, 0.25, 0.3, 0.4]

    # risklake appends to the pypaimon table; pypaimon sees the merged result.
    more = tmp_path / "more.csv"
    more.write_text("id,score,grade\n1,0.15,A-\n")
    risklake(home, "ingest", str(more), "--table", "ext.scores", "--mode", "upsert")
    theirs = pypaimon_read(home, "ext.scores").sort_by("id")
    assert theirs.column("score").to_pylist() == [0.15, 0.25, 0.3, 0.4]
    assert theirs.column("grade").to_pylist() == ["A-", "B+", "C", "D"]


def write(table, data):
    wb = table.new_batch_write_builder()
    w = wb.new_write()
    c = wb.new_commit()
    try:
        w.write_arrow(data)
        c.commit(w.prepare_commit())
    finally:
        w.close()
        c.close()


def test_concurrent_risklake_writers_lose_no_commit(tmp_path):
    """Four ingest processes at once, three files each, into one table that none of them
    finds existing: every row arrives, every snapshot id is used once, pypaimon agrees."""
    home = tmp_path / "home"
    files = {}
    for w in range(4):
        for k in range(3):
            f = tmp_path / f"part{w}_{k}.csv"
            f.write_text("id,amount\n" + "".join(f"{w * 1000 + k * 100 + i},{i}.5\n" for i in range(50)))
            files[w, k] = f

    def spawn(w):
        script = " && ".join(f"{BIN} --home {home} --json ingest {files[w, k]} --table race" for k in range(3))
        return subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    procs = [spawn(w) for w in range(4)]
    reported = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        # Three JSON documents (pretty-printed) one after another.
        decoder, text = json.JSONDecoder(), out.strip()
        while text:
            doc, end = decoder.raw_decode(text)
            reported.append(doc["snapshot"])
            text = text[end:].lstrip()
    assert sorted(reported) == list(range(1, 13))
    theirs = pypaimon_read(home, "default.race")
    assert theirs.num_rows == 4 * 3 * 50
    snaps = risklake(home, "sql", 'SELECT snapshot_id FROM "race$snapshots" ORDER BY snapshot_id')
    assert [r["snapshot_id"] for r in snaps["results"][0]["data"]] == list(range(1, 13))


def pypaimon_read_tag(home, name, tag):
    table = catalog(home).get_table(name).copy({"scan.tag-name": tag})
    rb = table.new_read_builder()
    return rb.new_read().to_arrow(rb.new_scan().plan().splits())


def test_maintained_tables_read_identically_in_pypaimon(tmp_path):
    """`risklake maintain` compacts a primary-key table, expires snapshots and removes
    unreferenced files; pypaimon reads the latest state and a tagged snapshot as before,
    and can still write to the table."""
    home = tmp_path / "home"
    for i in range(25):
        f = tmp_path / f"u{i}.csv"
        f.write_text("id,score\n" + "".join(f"{(i * 7 + k) % 40},{i * 100 + k}.5\n" for k in range(8)))
        risklake(home, "ingest", str(f), "--table", "pk", "--primary-key", "id", "--mode", "upsert")
    risklake(home, "tag", "pk", "mid", "--snapshot", "10")
    before = pypaimon_read(home, "default.pk")
    mid = pypaimon_read_tag(home, "default.pk", "mid")
    r = risklake(home, "maintain", "pk", "--retain-last", "1", "--retain-age", "0", "--orphan-grace", "0")
    t = r["tables"][0]
    assert t["compaction"]["files_before"] > t["compaction"]["files_after"], t
    assert t["expired"] == list(range(1, 26)), t
    same_rows(pypaimon_read(home, "default.pk"), before)
    same_rows(pypaimon_read_tag(home, "default.pk", "mid"), mid)
    same_rows(risklake_read(home, tmp_path, "SELECT * FROM pk"), before)
    # pypaimon writes on top of the maintained table, risklake reads it.
    pk_table = catalog(home).get_table("default.pk")
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("score", pa.float64())])
    write(pk_table, pa.table({"id": [999], "score": [1.0]}, schema=schema))
    n = risklake(home, "sql", "SELECT COUNT(*) AS n FROM pk")["results"][0]["data"][0]["n"]
    assert n == before.num_rows + 1
