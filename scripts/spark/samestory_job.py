#!/usr/bin/env python3
"""samestory beyond one machine: the same `dedup` / `clusters` output from Spark or DuckDB.

    samestory_job.py --engine spark|duckdb --binary PATH --signed DIR --out DIR
                     [--inputs FILE... --shards N] [--preset dedup|clusters]
                     [--keep central|longest|first] [--all] [--master local[2]]

Stages (docs/scale.md has the figures and the reasoning):

1. sign (optional, with --inputs): `samestory sign --shard I/N` for every shard, as Spark
   tasks (DuckDB: one after another). Each writes DIR/documents, DIR/bands and a manifest.
2. links: every member of a band bucket, of a group of equal copy keys and of a group of equal
   ids is linked to the group's smallest doc_id (a star, never all pairs of a bucket).
3. connected components of the links, with alternating large-star and small-star rounds in
   plain SQL (Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014)
   until a round changes nothing: no GraphFrames jar needed.
4. group: the documents of each component (rows with signatures and shingle sets) go to
   `samestory group`, which verifies candidates exactly and groups as the CLI does. Spark:
   mapInArrow over partitions hashed by component; DuckDB: one sorted Parquet file, streamed.
5. output: dedup records sorted by doc_id, one directory per input shard; cluster records
   sorted by size and representative, numbered in order.

The SQL of stages 2 and 3 is shared by both engines (LEAST/GREATEST, window MIN, DISTINCT).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Stage 2. Every column a bucket is keyed by, every member linked to its smallest doc_id.
LINKS_SQL = """
SELECT DISTINCT a, b FROM (
    SELECT doc_id AS a, MIN(doc_id) OVER (PARTITION BY band, key) AS b FROM bands
    UNION ALL
    SELECT doc_id AS a, MIN(doc_id) OVER (PARTITION BY content_hi, content_lo) AS b
    FROM documents WHERE status = 'signed'
    UNION ALL
    SELECT doc_id AS a, MIN(doc_id) OVER (PARTITION BY id) AS b FROM documents
) WHERE a <> b
"""

# Stage 3, large-star: every node's larger neighbours are linked to the smallest node of
# its closed neighbourhood.
LARGE_STAR_SQL = """
WITH nbr AS (SELECT a AS u, b AS v FROM {edges} UNION ALL SELECT b AS u, a AS v FROM {edges}),
     m AS (SELECT u, LEAST(u, MIN(v)) AS m FROM nbr GROUP BY u)
SELECT DISTINCT nbr.v AS a, m.m AS b FROM nbr JOIN m ON nbr.u = m.u WHERE nbr.v > nbr.u
"""

# Stage 3, small-star: every node and its smaller neighbours are linked to the smallest of
# them.
SMALL_STAR_SQL = """
WITH nbr AS (SELECT GREATEST(a, b) AS u, LEAST(a, b) AS v FROM {edges}),
     m AS (SELECT u, MIN(v) AS m FROM nbr GROUP BY u)
SELECT DISTINCT a, b FROM (
    SELECT nbr.v AS a, m.m AS b FROM nbr JOIN m ON nbr.u = m.u WHERE nbr.v <> m.m
    UNION ALL
    SELECT u AS a, m AS b FROM m
)
"""

# How many edges of one set are not in the other (0 both ways: the round changed nothing).
CHANGED_SQL = """
SELECT (SELECT COUNT(*) FROM (SELECT a, b FROM {new} EXCEPT SELECT a, b FROM {old}))
     + (SELECT COUNT(*) FROM (SELECT a, b FROM {old} EXCEPT SELECT a, b FROM {new})) AS changed
"""

# How many components, and the largest (what one group task holds).
COMPONENTS_SQL = """
SELECT COUNT(*) AS components, MAX(n) AS largest FROM (
    SELECT component, COUNT(*) AS n FROM ({rows}) GROUP BY component
)
"""

# Each node's component: the root its star points to (after convergence one edge per node);
# roots and unlinked documents are their own component.
ROWS_SQL = """
SELECT d.*, COALESCE(c.component, d.doc_id) AS component
FROM documents d LEFT JOIN (SELECT a AS doc_id, MIN(b) AS component FROM {edges} GROUP BY a) c
ON d.doc_id = c.doc_id
"""

SHARD_BITS = 40


def log(msg: str) -> None:
    print(f"samestory-job: {msg}", file=sys.stderr, flush=True)


def group_args(args) -> list[str]:
    extra = ["--keep", args.keep]
    if args.all:
        extra.append("--all")
    return extra


def sign_command(args, shard: int) -> list[str]:
    cmd = [args.binary, "sign", *args.inputs, "--out", str(args.signed),
           "--shard", f"{shard}/{args.shards}", "--preset", args.preset, "--quiet"]
    return cmd + (args.sign_flag or [])


# ---------------------------------------------------------------- DuckDB


def run_duckdb(args) -> dict:
    import duckdb

    timings = {}
    t = time.perf_counter()
    if args.inputs:
        for shard in range(args.shards):
            subprocess.run(sign_command(args, shard), check=True, stdout=subprocess.DEVNULL)
        timings["sign"] = time.perf_counter() - t
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute("SET preserve_insertion_order = false")
    signed = args.signed
    con.execute(f"CREATE VIEW documents AS SELECT * FROM read_parquet('{signed}/documents/*.parquet')")
    con.execute(f"CREATE VIEW bands AS SELECT * FROM read_parquet('{signed}/bands/*.parquet')")
    t = time.perf_counter()
    con.execute(f"CREATE TABLE e0 AS {LINKS_SQL}")
    timings["links"] = time.perf_counter() - t
    t = time.perf_counter()
    edges, rounds = "e0", 0
    while True:
        rounds += 1
        con.execute(f"CREATE TABLE l{rounds} AS " + LARGE_STAR_SQL.format(edges=edges))
        con.execute(f"CREATE TABLE e{rounds} AS " + SMALL_STAR_SQL.format(edges=f"l{rounds}"))
        con.execute(f"DROP TABLE l{rounds}")
        changed = con.execute(CHANGED_SQL.format(new=f"e{rounds}", old=edges)).fetchone()[0]
        con.execute(f"DROP TABLE {edges}")
        edges = f"e{rounds}"
        if changed == 0:
            break
    timings["components"] = time.perf_counter() - t
    timings["rounds"] = rounds
    count, largest = con.execute(
        COMPONENTS_SQL.format(rows=ROWS_SQL.format(edges=edges))).fetchone()
    timings["components_count"], timings["largest_component"] = count, largest
    t = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="samestory-duckdb-"))
    try:
        rows = work / "rows.parquet"
        con.execute(
            f"COPY ({ROWS_SQL.format(edges=edges)} ORDER BY component, doc_id) "
            f"TO '{rows}' (FORMAT parquet)"
        )
        args.out.mkdir(parents=True, exist_ok=True)
        level = "dedup" if args.preset == "dedup" else "clusters"
        target = args.out / f"{level}.jsonl"
        with open(target, "wb") as out:
            subprocess.run([args.binary, "group", str(rows), "--manifest", str(signed),
                            "--quiet", *group_args(args)], check=True, stdout=out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    timings["group"] = time.perf_counter() - t
    return timings


# ---------------------------------------------------------------- Spark


def group_partition(binary: str, manifest: str, extra: list[str], dedup: bool):
    """The mapInArrow function: one partition's rows (sorted by component, doc_id) through
    `samestory group --partial`, keyed records back."""

    def run(batches):
        import pyarrow as pa
        import pyarrow.parquet as pq
        from pyspark import SparkFiles

        exe = binary
        shipped = os.path.join(SparkFiles.getRootDirectory(), os.path.basename(binary))
        if os.path.exists(shipped):
            exe = shipped
        with tempfile.TemporaryDirectory(prefix="samestory-group-") as tmp:
            path = os.path.join(tmp, "rows.parquet")
            writer = None
            for batch in batches:
                if writer is None:
                    writer = pq.ParquetWriter(path, batch.schema)
                writer.write_batch(batch)
            if writer is None:
                return
            writer.close()
            done = subprocess.run(
                [exe, "group", path, "--manifest", manifest, "--partial", "--quiet", *extra],
                capture_output=True,
            )
            if done.returncode != 0:
                raise RuntimeError(f"samestory group failed: {done.stderr.decode()}")
            rows = [json.loads(line) for line in done.stdout.splitlines()]
        if dedup:
            schema = pa.schema([("doc_id", pa.int64()), ("record", pa.string())])
        else:
            schema = pa.schema([("size", pa.int64()), ("representative", pa.string()),
                                ("skipped", pa.int64()), ("tail", pa.string())])
        yield pa.RecordBatch.from_pylist(rows, schema=schema)

    return run


def run_spark(args) -> dict:
    from pyspark.sql import SparkSession, functions as F

    # Python workers run this interpreter (the one with pyarrow), unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    if args.event_log:
        # Spark's own per-task metrics, for shuffle bytes (shuffle_bytes() reads them).
        args.event_log.mkdir(parents=True, exist_ok=True)
        builder = (builder.config("spark.eventLog.enabled", "true")
                   .config("spark.eventLog.compress", "false")
                   .config("spark.eventLog.dir", args.event_log.resolve().as_uri()))
    spark = (
        builder.master(args.master)
        .appName("samestory")
        .config("spark.sql.shuffle.partitions", str(args.partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "4096")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="samestory-ckpt-"))
    timings = {}
    try:
        t = time.perf_counter()
        if args.inputs:
            commands = [sign_command(args, s) for s in range(args.shards)]
            (spark.sparkContext.parallelize(commands, len(commands))
             .foreach(lambda cmd: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)))
            timings["sign"] = time.perf_counter() - t
        signed = str(args.signed)
        spark.read.parquet(f"{signed}/documents").createOrReplaceTempView("documents")
        spark.read.parquet(f"{signed}/bands").createOrReplaceTempView("bands")
        t = time.perf_counter()
        edges = spark.sql(LINKS_SQL).localCheckpoint()
        edges.createOrReplaceTempView("e_old")
        edges.count()
        timings["links"] = time.perf_counter() - t
        t = time.perf_counter()
        rounds = 0
        while True:
            rounds += 1
            large = spark.sql(LARGE_STAR_SQL.format(edges="e_old")).localCheckpoint()
            large.createOrReplaceTempView("e_large")
            new = spark.sql(SMALL_STAR_SQL.format(edges="e_large")).localCheckpoint()
            new.createOrReplaceTempView("e_new")
            changed = spark.sql(CHANGED_SQL.format(new="e_new", old="e_old")).first()[0]
            new.createOrReplaceTempView("e_old")
            if changed == 0:
                break
        timings["components"] = time.perf_counter() - t
        timings["rounds"] = rounds
        count, largest = spark.sql(
            COMPONENTS_SQL.format(rows=ROWS_SQL.format(edges="e_old"))).first()
        timings["components_count"], timings["largest_component"] = count, largest
        t = time.perf_counter()
        rows = spark.sql(ROWS_SQL.format(edges="e_old"))
        dedup = args.preset == "dedup"
        keyed = (
            rows.repartition(args.partitions, "component")
            .sortWithinPartitions("component", "doc_id")
            .mapInArrow(
                group_partition(os.path.abspath(args.binary), signed, group_args(args), dedup),
                "doc_id long, record string" if dedup
                else "size long, representative string, skipped long, tail string",
            )
        )
        args.out.mkdir(parents=True, exist_ok=True)
        if dedup:
            # One directory of output per input shard, records in input order.
            (keyed.withColumn("shard", F.shiftright("doc_id", SHARD_BITS))
             .repartition("shard").sortWithinPartitions("shard", "doc_id")
             .select("shard", F.col("record").alias("value"))
             .write.mode("overwrite").partitionBy("shard").text(str(args.out / "dedup")))
        else:
            ordered = keyed.orderBy(
                F.col("skipped").isNotNull(), F.col("skipped"),
                F.col("size").desc(), F.col("representative"),
            )
            lines = ordered.select("tail").rdd.zipWithIndex().map(
                lambda r: '{"cluster":%d,%s' % (r[1] + 1, r[0][0]))
            target = str(args.out / "clusters")
            shutil.rmtree(target, ignore_errors=True)
            lines.saveAsTextFile(target)
        timings["group"] = time.perf_counter() - t
    finally:
        spark.stop()
    return timings


def shuffle_bytes(event_log: Path) -> dict:
    """Shuffle bytes written and read, summed over every task of the run's event log."""
    written = read = records = 0
    for log in sorted(p for p in event_log.rglob("events_*") if p.is_file()):
        with open(log) as f:
            for line in f:
                if '"SparkListenerTaskEnd"' not in line:
                    continue
                metrics = json.loads(line).get("Task Metrics") or {}
                w = metrics.get("Shuffle Write Metrics") or {}
                r = metrics.get("Shuffle Read Metrics") or {}
                written += w.get("Shuffle Bytes Written", 0)
                records += w.get("Shuffle Records Written", 0)
                read += r.get("Remote Bytes Read", 0) + r.get("Local Bytes Read", 0)
    return {"shuffle_bytes_written": written, "shuffle_records_written": records,
            "shuffle_bytes_read": read}


def collect_output(out: Path, preset: str, engine: str) -> bytes:
    """The job's output as one byte string, in order (what the CLI prints)."""
    if engine == "duckdb":
        return (out / f"{preset}.jsonl").read_bytes()
    if preset == "dedup":
        shards = sorted((out / "dedup").glob("shard=*"), key=lambda p: int(p.name.split("=")[1]))
        files = [f for s in shards for f in sorted(s.glob("part-*"))]
    else:
        files = sorted((out / "clusters").glob("part-*"))
    return b"".join(f.read_bytes() for f in files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=["spark", "duckdb"], required=True)
    ap.add_argument("--binary", required=True, help="the samestory binary")
    ap.add_argument("--signed", type=Path, required=True, help="the sign output directory")
    ap.add_argument("--out", type=Path, required=True, help="where the output goes")
    ap.add_argument("--inputs", nargs="*", help="sign these first (else DIR is signed already)")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--sign-flag", action="append", help="one more flag for sign (repeatable)")
    ap.add_argument("--preset", choices=["dedup", "clusters"], default="dedup")
    ap.add_argument("--keep", choices=["central", "longest", "first"], default="central")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    ap.add_argument("--driver-memory", default="2g")
    ap.add_argument("--print", action="store_true", help="print the output to stdout")
    ap.add_argument("--event-log", type=Path, help="Spark: keep the event log here and report shuffle bytes")
    args = ap.parse_args()
    started = time.perf_counter()
    timings = run_spark(args) if args.engine == "spark" else run_duckdb(args)
    timings["total"] = time.perf_counter() - started
    if args.engine == "spark" and args.event_log:
        timings.update(shuffle_bytes(args.event_log))
    log(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in timings.items()}))
    if args.print:
        sys.stdout.buffer.write(collect_output(args.out, args.preset, args.engine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
