"""Benchmark: the CdcIngestion merge job against a naive full rewrite, on local Spark + Iceberg.

Scenario (defaults): a full load of 100,000 keys (DMS ``LOAD*.parquet`` files), then 10 runs
of 100,000 CDC changes each (1,000,000 change rows: 90 % updates, 5 % deletes, 5 % inserts of
new or deleted keys, several changes per key per batch), delivered as DMS CDC files before each
run.

- ``cdc_merge``: the Glue script's ``run()`` (ledger, ordering, MERGE INTO, counts).
- ``naive``: every run reads the whole table and the batch, keeps the latest state per key and
  rewrites the table (``INSERT OVERWRITE``).

Each approach runs in its own Python + Spark JVM process (same settings), so the peak memory of
one is not inherited by the other; the parent samples the RSS of each child's process tree
(python + the Spark JVM) from /proc every 0.2 s. Times are wall-clock of the incremental runs
only (data generation and the full load are reported apart). Both final tables are compared.

    .venv/bin/python benchmarks/cdc_merge.py                # full size
    .venv/bin/python benchmarks/cdc_merge.py --rows 100000 --keys 10000 --runs 5   # quick
"""
import argparse
import datetime as dt
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "src" / "ingestion" / "cdc" / "glue" / "cdc_merge.py"
ICEBERG_VERSION = "1.7.1"
CACHE = pathlib.Path.home() / ".cache" / "cdk-lakehouse" / "iceberg"
JAR = CACHE / f"iceberg-spark-runtime-3.5_2.12-{ICEBERG_VERSION}.jar"
T0 = dt.datetime(2026, 1, 1)


def iceberg_jar():
    if not JAR.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=".fetch-", dir=CACHE))
        subprocess.run(
            ["mvn", "-B", "-q", "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy",
             f"-Dartifact=org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:{ICEBERG_VERSION}",
             f"-DoutputDirectory={staging}"], check=True)
        (staging / JAR.name).replace(JAR)
        shutil.rmtree(staging, ignore_errors=True)
    return str(JAR)


def session(work, driver_memory):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]").appName("cdc-merge-benchmark")
        .config("spark.jars", iceberg_jar())
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.catalog.bench", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.catalog.bench.type", "hadoop")
        .config("spark.sql.catalog.bench.warehouse", str(work / "warehouse"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "8")
        # Iceberg's vectorized (Arrow) Parquet reader crashed this JVM (SIGSEGV in shaded netty)
        # once at full size on the benchmark machine; both approaches read rows without it.
        .config("spark.sql.iceberg.vectorization.enabled", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sql("CREATE NAMESPACE IF NOT EXISTS bench.curated")
    return spark


def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cdc_merge", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- data


def write_files(spark, df, folder, names):
    """Writes ``df`` as len(names) Parquet files named ``names`` (relative to ``folder``)."""
    staging = folder / ("_staging" + str(time.time_ns()))
    df.repartition(len(names)).write.parquet(str(staging))
    parts = sorted(staging.glob("part-*.parquet"))
    for part, name in zip(parts, names):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        part.replace(target)
    shutil.rmtree(staging)


def generate(args, work):
    """Full load + ``runs`` CDC batches under work/batches/<n>/ (n=0 is the full load)."""
    from pyspark.sql import functions as F

    spark = session(work, args.driver_memory)
    keys, runs, per_run = args.keys, args.runs, args.rows // args.runs
    load = spark.range(1, keys + 1).select(
        F.lit("I").alias("Op"), F.lit(T0).cast("timestamp").alias("_dms_commit_ts"),
        F.lit(None).cast("string").alias("_dms_change_seq"), F.col("id").cast("long").alias("id"),
        F.concat(F.lit("customer-"), F.col("id")).alias("name"), (F.col("id") % 1000 / 10).cast("decimal(10,2)").alias("amount"),
        F.lit("new").alias("status"), F.lit(T0).cast("timestamp").alias("updated_at"))
    files = max(1, keys // 50_000)
    write_files(spark, load, work / "batches" / "0", [f"LOAD{i + 1:08X}.parquet" for i in range(files)])
    for run in range(1, runs + 1):
        start = (run - 1) * per_run
        r = F.rand(seed=run)
        op = F.when(r < 0.05, "D").when(r < 0.10, "I").otherwise("U")
        epoch = (T0 + dt.timedelta(days=run) - dt.datetime(1970, 1, 1)).total_seconds()
        ts = (F.lit(epoch) + (F.col("id") - start) / 100).cast("timestamp")
        batch = spark.range(start, start + per_run).select(
            op.alias("Op"), ts.alias("_dms_commit_ts"),
            F.concat(F.lit("2026010100000000"), F.lpad(F.col("id").cast("string"), 19, "0")).alias("_dms_change_seq"),
            # 10 % of the changes go to keys beyond the full load (new keys), the rest anywhere
            (F.when(F.rand(seed=1000 + run) < 0.1, keys + (F.rand(seed=2000 + run) * keys / 10).cast("long"))
             .otherwise((F.rand(seed=3000 + run) * keys).cast("long") + 1)).alias("id"),
            F.concat(F.lit("customer-"), F.col("id")).alias("name"),
            (F.rand(seed=4000 + run) * 1000).cast("decimal(10,2)").alias("amount"),
            F.element_at(F.array(F.lit("new"), F.lit("paid"), F.lit("shipped")), (F.col("id") % 3 + 1).cast("int")).alias("status"),
            ts.alias("updated_at"))
        day = (T0 + dt.timedelta(days=run)).strftime("%Y/%m/%d/%Y%m%d")
        write_files(spark, batch.orderBy("_dms_change_seq"), work / "batches" / str(run),
                    [f"{day}-{i:06d}000.parquet" for i in range(4)])
    spark.stop()


# --------------------------------------------------------------------------- approaches


def bytes_added(spark, table):
    """Bytes of every file the table's snapshots added (data and delete files), from Iceberg's
    snapshot summaries: what the runs wrote, even where later snapshots replaced it."""
    total = 0
    # The merge job also writes its deleted keys to <table>__cdc_tombstones: count those bytes too.
    for name in (table, table + "__cdc_tombstones"):
        if name != table and not spark.catalog.tableExists(name):
            continue
        row = spark.sql(f"SELECT sum(cast(summary['added-files-size'] AS bigint)) AS b FROM {name}.snapshots").collect()[0]
        total += int(row["b"] or 0)
    return total


def incremental(args, work):
    cdc = load_script()
    spark = session(work, args.driver_memory)
    raw = work / "raw"
    table_dir = raw / "shop" / "public" / "orders"
    tables = [{"name": "public.orders", "schema": "public", "table": "orders", "primaryKey": ["id"], "mode": "cdc"}]
    timings = []
    for run in range(0, args.runs + 1):
        for src in (work / "batches" / str(run)).rglob("*.parquet"):
            dst = table_dir / src.relative_to(work / "batches" / str(run))
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dst)
        start = time.perf_counter()
        [result] = cdc.run(spark, "shop", raw.as_uri() + "/", "shop/", "bench", "curated", "shop_", tables,
                           "_ops/cdc/shop/", "_quarantine/shop/", dt.datetime(2026, 2, 1) + dt.timedelta(hours=run))
        timings.append(time.perf_counter() - start)
        if run == 0:
            base_bytes = bytes_added(spark, "bench.curated.shop_public_orders")
        print(json.dumps({"run": run, "seconds": round(timings[-1], 2), "changesRead": result["changesRead"],
                          "applied": result["changesApplied"], "quarantined": result["changesQuarantined"]}), file=sys.stderr)
    return spark, "bench.curated.shop_public_orders", timings, base_bytes


def naive(args, work):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = session(work, args.driver_memory)
    table = "bench.curated.naive_orders"
    timings = []
    for run in range(0, args.runs + 1):
        start = time.perf_counter()
        batch = spark.read.parquet(*[str(p) for p in sorted((work / "batches" / str(run)).rglob("*.parquet"))])
        changes = batch.select("*", F.coalesce(F.col("_dms_change_seq"), F.lit("")).alias("_seq"))
        if run == 0:
            changes.limit(0).drop("Op", "_dms_commit_ts", "_dms_change_seq", "_seq").writeTo(table) \
                .tableProperty("format-version", "2").create()
        current = spark.table(table).select("*", F.lit("U").alias("Op"), F.lit(None).cast("timestamp").alias("_dms_commit_ts"),
                                            F.lit(None).cast("string").alias("_dms_change_seq"), F.lit("").alias("_seq"),
                                            F.lit(0).alias("_src"))
        both = current.unionByName(changes.withColumn("_src", F.lit(1)))
        window = Window.partitionBy("id").orderBy(F.col("_src").desc(), F.col("_seq").desc())
        latest = both.withColumn("_rank", F.row_number().over(window)).where("_rank = 1 AND Op != 'D'")
        latest.select(*spark.table(table).columns).writeTo(table).overwritePartitions()
        timings.append(time.perf_counter() - start)
        if run == 0:
            base_bytes = bytes_added(spark, table)
        print(json.dumps({"run": run, "seconds": round(timings[-1], 2)}), file=sys.stderr)
    return spark, table, timings, base_bytes


def child(args):
    work = pathlib.Path(args.work)
    if args.child == "generate":
        generate(args, work)
        return
    spark, table, timings, base_bytes = (incremental if args.child == "cdc_merge" else naive)(args, work)
    df = spark.table(table)
    checksum = df.selectExpr("count(*) AS n", "sum(hash(id, name, amount, status, updated_at)) AS h").collect()[0]
    files = spark.sql(f"SELECT count(*) FROM {table}.files").collect()[0][0]
    written = bytes_added(spark, table) - base_bytes
    print(json.dumps({"timings": timings, "rows": checksum["n"], "checksum": checksum["h"], "dataFiles": files,
                      "incrementalBytes": written}))
    spark.stop()


# --------------------------------------------------------------------------- parent


def tree_rss(pid):
    """RSS in bytes of ``pid`` and all its descendants (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total


def run_child(name, args, work):
    cmd = [sys.executable, __file__, "--child", name, "--work", str(work), "--rows", str(args.rows), "--keys", str(args.keys),
           "--runs", str(args.runs), "--driver-memory", args.driver_memory]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    errors = []
    reader = threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True)
    reader.start()
    out = proc.stdout.read()
    proc.wait()
    done.set()
    sampler.join()
    reader.join()
    if proc.returncode != 0:
        sys.stderr.write("".join(errors[-60:]))
        raise SystemExit(f"{name} failed ({proc.returncode})")
    progress = [line for line in errors if line.startswith("{")]
    return (json.loads(out.strip().splitlines()[-1]) if out.strip() else {}), peak[0], progress


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="CDC change rows in all runs (default 1,000,000)")
    parser.add_argument("--keys", type=int, default=100_000, help="keys in the full load (default 100,000)")
    parser.add_argument("--runs", type=int, default=10, help="incremental runs (default 10)")
    parser.add_argument("--driver-memory", default="2g", help="Spark driver memory of each approach (default 2g)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    work = pathlib.Path(tempfile.mkdtemp(prefix="cdc-bench-"))
    try:
        started = time.perf_counter()
        run_child("generate", args, work)
        print(f"generated {args.keys:,} full-load rows and {args.rows:,} changes in {args.runs} batches "
              f"({time.perf_counter() - started:.0f} s)")
        results = {}
        for name in ("cdc_merge", "naive"):
            out, peak, _ = run_child(name, args, work)
            results[name] = (out, peak)
        print(f"\n{'approach':<14}{'full load s':>12}{'incr. runs s':>14}{'changes/s':>12}{'peak RSS MiB':>14}{'rows':>10}{'files':>7}"
              f"{'MiB written by incr. runs':>27}")
        for name, (out, peak) in results.items():
            incr = sum(out["timings"][1:])
            print(f"{name:<14}{out['timings'][0]:>12.1f}{incr:>14.1f}{args.rows / incr:>12,.0f}{peak / 2 ** 20:>14,.0f}"
                  f"{out['rows']:>10,}{out['dataFiles']:>7}{out['incrementalBytes'] / 2 ** 20:>27,.1f}")
        (a, pa), (b, pb) = results["cdc_merge"], results["naive"]
        speed = (args.rows / sum(a["timings"][1:])) / (args.rows / sum(b["timings"][1:]))
        print(f"\nratio cdc_merge / naive: throughput {speed:.2f}x, peak memory {pa / pb:.2f}x, "
              f"bytes written by incremental runs {a['incrementalBytes'] / max(b['incrementalBytes'], 1):.2f}x")
        print("per-run seconds cdc_merge:", " ".join(f"{t:.1f}" for t in a["timings"][1:]))
        print("per-run seconds naive:    ", " ".join(f"{t:.1f}" for t in b["timings"][1:]))
        print("final tables identical:", a["rows"] == b["rows"] and a["checksum"] == b["checksum"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
