"""Benchmark: how the CDC merge's cost follows the changes (issue 15), in ONE Spark session with
interleaved runs, on local Spark 3.5 + Iceberg 1.7 (the Glue 5.0 runtime).

Three approaches on the same files, each in its own database and raw folder:

- ``before``: the merge script as it was at ``--baseline-rev`` (read with ``git show``), with the
  construct's default settings (maintenance on, as the Glue job runs it);
- ``after``: the merge script of this working tree, default settings (maintenance on);
- ``rewrite``: a naive full rewrite (read the table and the batch, keep the newest state per
  key, ``INSERT OVERWRITE`` the table).

Scenarios:

(a)/(d) a full load of N keys, then ``--runs`` runs of ``--change-rate`` x N changes each (90 %
    updates, 5 % deletes, 5 % inserts; 10 % of the changes to keys beyond the full load);
    seconds, changes/s and bytes written per run (Iceberg snapshot summaries' ``added-files-size``
    of every snapshot a run committed: merge, tombstones, compaction);
(b) the same with 2N keys and the SAME number of changes per run (spread over the 2N keys);
(c) ``--tables`` small tables merged once, then a run with no new files (before: one table
    after another; after: the default parallelism).

The runs interleave: run r of before, after and rewrite, at N then at 2N, then run r + 1, so a
load spike from a neighbour hits every approach alike. The final tables of the three approaches
are compared (row count and a hash of the visible columns).

    .venv/bin/python benchmarks/cdc_merge_scale.py                       # 200 k keys, 20 k changes a run
    .venv/bin/python benchmarks/cdc_merge_scale.py --keys 400000         # the trend at a second size
    .venv/bin/python benchmarks/cdc_merge_scale.py --out benchmarks/out/cdc_merge_scale-200k.json
"""
import argparse
import datetime as dt
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT_REL = "src/ingestion/cdc/glue/cdc_merge.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

from cdc_merge import T0, iceberg_jar, write_files  # noqa: E402  (same data layout as benchmarks/cdc_merge.py)

CATALOG = "bench"
APPROACHES = ("before", "after", "rewrite")


def session(work, driver_memory):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]").appName("cdc-merge-scale")
        .config("spark.jars", iceberg_jar())
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config(f"spark.sql.catalog.{CATALOG}", "org.apache.iceberg.spark.SparkCatalog")
        .config(f"spark.sql.catalog.{CATALOG}.type", "hadoop")
        .config(f"spark.sql.catalog.{CATALOG}.warehouse", str(work / "warehouse"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "8")
        # As in benchmarks/cdc_merge.py: Iceberg's vectorized reader crashed a JVM once here.
        .config("spark.sql.iceberg.vectorization.enabled", "false")
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline_script(rev, work):
    text = subprocess.run(["git", "show", f"{rev}:{SCRIPT_REL}"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    path = work / "cdc_merge_before.py"
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- data


def generate(spark, folder, keys, changes, runs, seed):
    """Full load of ``keys`` keys (folder/0) and ``runs`` batches of ``changes`` changes."""
    from pyspark.sql import functions as F

    load = spark.range(1, keys + 1).select(
        F.lit("I").alias("Op"), F.lit(T0).cast("timestamp").alias("_dms_commit_ts"),
        F.lit(None).cast("string").alias("_dms_change_seq"), F.col("id").cast("long").alias("id"),
        F.concat(F.lit("customer-"), F.col("id")).alias("name"), (F.col("id") % 1000 / 10).cast("decimal(10,2)").alias("amount"),
        F.lit("new").alias("status"), F.lit(T0).cast("timestamp").alias("updated_at"))
    write_files(spark, load, folder / "0", [f"LOAD{i + 1:08X}.parquet" for i in range(max(1, keys // 100_000))])
    for run in range(1, runs + 1):
        start = (run - 1) * changes
        r = F.rand(seed=seed + run)
        op = F.when(r < 0.05, "D").when(r < 0.10, "I").otherwise("U")
        epoch = (T0 + dt.timedelta(days=run) - dt.datetime(1970, 1, 1)).total_seconds()
        ts = (F.lit(epoch) + (F.col("id") - start) / 100).cast("timestamp")
        batch = spark.range(start, start + changes).select(
            op.alias("Op"), ts.alias("_dms_commit_ts"),
            F.concat(F.lit("2026010100000000"), F.lpad(F.col("id").cast("string"), 19, "0")).alias("_dms_change_seq"),
            (F.when(F.rand(seed=seed + 1000 + run) < 0.1, keys + (F.rand(seed=seed + 2000 + run) * keys / 10).cast("long"))
             .otherwise((F.rand(seed=seed + 3000 + run) * keys).cast("long") + 1)).alias("id"),
            F.concat(F.lit("customer-"), F.col("id")).alias("name"),
            (F.rand(seed=seed + 4000 + run) * 1000).cast("decimal(10,2)").alias("amount"),
            F.element_at(F.array(F.lit("new"), F.lit("paid"), F.lit("shipped")), (F.col("id") % 3 + 1).cast("int")).alias("status"),
            ts.alias("updated_at"))
        day = (T0 + dt.timedelta(days=run)).strftime("%Y/%m/%d/%Y%m%d")
        write_files(spark, batch.orderBy("_dms_change_seq"), folder / str(run), [f"{day}-{i:06d}000.parquet" for i in range(2)])


def deliver(batch_folder, table_dir):
    for src in batch_folder.rglob("*.parquet"):
        dst = table_dir / src.relative_to(batch_folder)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.link(src, dst)


# --------------------------------------------------------------------------- measuring


def written_since(spark, tables, since_ms):
    """Bytes of the files every snapshot committed at or after ``since_ms`` added (data and
    delete files), over ``tables``; and those snapshots' operations."""
    total, ops = 0, []
    for name in tables:
        if not spark.catalog.tableExists(name):
            continue
        for row in spark.sql(f"SELECT operation, summary['added-files-size'] AS b FROM {name}.snapshots "
                             f"WHERE committed_at >= timestamp_millis({since_ms})").collect():
            total += int(row["b"] or 0)
            ops.append(row["operation"])
    return total, ops


def table_bytes(spark, name):
    return int(spark.sql(f"SELECT coalesce(sum(file_size_in_bytes), 0) FROM {name}.files").collect()[0][0])


def checksum(spark, name):
    row = spark.table(name).selectExpr("count(*) AS n", "sum(hash(id, name, amount, status, updated_at)) AS h").collect()[0]
    return row["n"], row["h"]


class Lake:
    """One approach at one size: its raw folder, its database, how it runs a batch."""

    def __init__(self, spark, work, approach, size, module=None):
        self.spark, self.approach, self.size, self.module = spark, approach, size, module
        self.database = f"{approach}_{size}"
        self.raw = work / "raw" / self.database
        self.table_dir = self.raw / "shop" / "public" / "orders"
        self.table = f"{CATALOG}.{self.database}.shop_public_orders" if module else f"{CATALOG}.{self.database}.orders"
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{self.database}")

    def run(self, batch_folder, run):
        if self.module is not None:
            deliver(batch_folder, self.table_dir)
            tables = [{"name": "public.orders", "schema": "public", "table": "orders", "primaryKey": ["id"], "mode": "cdc"}]
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            [result] = self.module.run(self.spark, "shop", self.raw.as_uri() + "/", "shop/", CATALOG, self.database, "shop_",
                                       tables, "_ops/cdc/shop/", "_quarantine/shop/", now, maintenance=True)
            return result
        return naive_run(self.spark, self.table, batch_folder, run)

    def tables(self):
        return [self.table, self.table + "__cdc_tombstones"] if self.module else [self.table]


def naive_run(spark, table, batch_folder, run):
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    batch = spark.read.parquet(*[str(p) for p in sorted(batch_folder.rglob("*.parquet"))])
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
    return {}


# --------------------------------------------------------------------------- storage requests

#: Median latency assumed for one small S3 request (HEAD, GET, PUT, LIST page) from Glue in the
#: bucket's Region: AWS's S3 performance guide speaks of "tens of milliseconds" for requests
#: under 512 KB (whitepaper "Best Practices Design Patterns: Optimizing Amazon S3 Performance",
#: "Timeouts and Retries for Latency-Sensitive Applications").
S3_REQUEST_SECONDS = 0.03


class CountingFS:
    """A Hadoop FileSystem (py4j) that counts the calls that are storage requests on S3: exists,
    getFileStatus (HEAD), open (GET), create (PUT), listStatus (one LIST) and listFiles (one LIST
    page per 1,000 entries, S3A's and EMRFS's flat listing)."""

    SINGLE = ("exists", "getFileStatus", "open", "create", "listStatus", "delete", "rename", "mkdirs")

    def __init__(self, fs, counter):
        self._fs, self._counter = fs, counter

    def __getattr__(self, name):
        attr = getattr(self._fs, name)
        if name in self.SINGLE:
            def call(*a):
                self._counter["requests"] += 1
                return attr(*a)
            return call
        if name == "listFiles":
            def listing(*a):
                return CountingIterator(attr(*a), self._counter)
            return listing
        return attr


class CountingIterator:
    def __init__(self, it, counter):
        self._it, self._counter, self._n = it, counter, 0
        counter["requests"] += 1

    def hasNext(self):
        return self._it.hasNext()

    def next(self):
        self._n += 1
        if self._n % 1000 == 1 and self._n > 1:
            self._counter["requests"] += 1
        return self._it.next()


def count_requests(module, counter):
    original = module._path

    def _path(spark, url):
        fs, path = original(spark, url)
        return CountingFS(fs, counter), path
    module._path = _path


# --------------------------------------------------------------------------- scenarios


def scaling(spark, work, modules, args):
    sizes = {"N": args.keys, "2N": 2 * args.keys}
    changes = int(args.keys * args.change_rate)
    for label, keys in sizes.items():
        generate(spark, work / "batches" / label, keys, changes, args.runs, seed=7)
    lakes = {(a, s): Lake(spark, work, a, s, modules.get(a)) for s in sizes for a in APPROACHES}
    figures = {f"{a}/{s}": {"seconds": [], "bytes": [], "ops": [], "paths": [], "compactions": 0} for a, s in lakes}
    for run in range(0, args.runs + 1):
        for size in sizes:
            for approach in APPROACHES:
                lake = lakes[(approach, size)]
                since = int(time.time() * 1000)
                start = time.perf_counter()
                result = lake.run(work / "batches" / size / str(run), run)
                seconds = time.perf_counter() - start
                written, ops = written_since(spark, lake.tables(), since)
                entry = figures[f"{approach}/{size}"]
                if run == 0:
                    entry["fullLoadSeconds"] = round(seconds, 2)
                else:
                    entry["seconds"].append(round(seconds, 2))
                    entry["bytes"].append(written)
                    entry["ops"].append(ops)
                    entry["paths"].append(result.get("path"))
                    entry["compactions"] += ops.count("replace")
                print(json.dumps({"run": run, "size": size, "approach": approach, "seconds": round(seconds, 2),
                                  "bytes": written, "ops": ops, "path": result.get("path")}), file=sys.stderr, flush=True)
    for (approach, size), lake in lakes.items():
        entry = figures[f"{approach}/{size}"]
        entry["rows"], entry["checksum"] = checksum(spark, lake.table)
        entry["tableBytes"] = table_bytes(spark, lake.table)
        entry["meanSeconds"] = round(sum(entry["seconds"]) / len(entry["seconds"]), 2)
        entry["changesPerSecond"] = round(changes / entry["meanSeconds"])
        entry["meanBytes"] = round(sum(entry["bytes"]) / len(entry["bytes"]))
    if "after" in modules:
        # The share of the curated table's bytes that is the _cdc_order column (Parquet column
        # sizes of the current data files).
        spark_table = lakes[("after", "N")].table
        sizes_row = spark.sql(f"SELECT column_sizes FROM {spark_table}.data_files").collect()
        schema = spark.table(spark_table).schema
        field_id = {f.name: i + 1 for i, f in enumerate(schema.fields)}
        total = sum(sum(r["column_sizes"].values()) for r in sizes_row if r["column_sizes"])
        order = sum(r["column_sizes"].get(field_id["_cdc_order"], 0) for r in sizes_row if r["column_sizes"])
        figures["orderColumnShare"] = round(order / total, 3) if total else None
    return figures, changes


def idle_tables(spark, work, modules, args):
    """``--tables`` tables, each with ``--idle-days`` day folders of 4 raw files, all listed in
    their ledgers: runs with no new files, before (one table after another) and after (default
    parallelism), twice each, interleaved. Counts the storage requests each run makes per table
    and estimates the run's time on S3 at ``S3_REQUEST_SECONDS`` a request (requests of one
    table are sequential; ``after`` runs ``DEFAULT_PARALLELISM`` tables at once)."""
    from pyspark.sql import functions as F

    raw = work / "raw-many"
    count, days = args.tables, args.idle_days
    rows = spark.range(0, 10).select(
        F.lit("I").alias("Op"), F.lit(T0).cast("timestamp").alias("_dms_commit_ts"),
        F.concat(F.lit("2026010100000000"), F.lpad(F.col("id").cast("string"), 19, "0")).alias("_dms_change_seq"),
        F.col("id"), F.lit("x").alias("name"))
    staging = work / "many-staging"
    rows.coalesce(1).write.parquet(str(staging))
    one = next(staging.glob("part-*.parquet"))
    # Each table: a DMS folder per day (yyyy/mm/dd) with 4 files a day, hard links of one file.
    for t in range(count):
        for day in range(days):
            moment = T0 + dt.timedelta(days=day)
            folder = raw / "shop" / "many" / f"t{t:03d}" / moment.strftime("%Y/%m/%d")
            folder.mkdir(parents=True, exist_ok=True)
            for h in range(4):
                os.link(one, folder / (moment.strftime("%Y%m%d-") + f"{h * 6:02d}0000000.parquet"))
    tables = [{"name": "many.*", "schema": "many", "table": "*", "primaryKey": ["id"], "mode": "cdc"}]
    database = "many"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{database}")

    def timed(module):
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        start = time.perf_counter()
        results = module.run(spark, "shop", raw.as_uri() + "/", "shop/", CATALOG, database, "shop_", tables,
                             "_ops/cdc/shop/", "_quarantine/shop/", now, maintenance=True)
        assert len(results) == count
        return round(time.perf_counter() - start, 2), sum(r["filesMerged"] for r in results)

    # A run with no new files reads each table's ledger and lists its raw folder, nothing else:
    # the ledgers are written directly (every file listed as merged), as a first run leaves them.
    after = modules["after"]
    state = raw.as_uri() + "/_ops/cdc/shop/"
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    for t in range(count):
        files = {rel: "setup" for rel, _ in after.list_parquet_files(spark, raw.as_uri() + f"/shop/many/t{t:03d}/")}
        after.save_ledger(spark, state, "many", f"t{t:03d}", {"version": 1, "files": files, "maxOrder": None,
                                                            "lastCommitTs": None, "tombstoneHorizon": None}, now)
    out = {"filesPerTable": 4 * days, "dayFolders": days}
    counters = {}
    for approach in ("before", "after"):
        counters[approach] = {"requests": 0}
        count_requests(modules[approach], counters[approach])
    for approach in ("before", "after") * 2:
        counters[approach]["requests"] = 0
        seconds, files = timed(modules[approach])
        assert files == 0
        out.setdefault(f"idleRunSeconds ({approach})", []).append(seconds)
        out[f"requestsPerTable ({approach})"] = counters[approach]["requests"] / count
    par = modules["after"].DEFAULT_PARALLELISM
    out["parallelism (after)"] = par
    out["estimatedS3Seconds (before)"] = round(count * out["requestsPerTable (before)"] * S3_REQUEST_SECONDS, 1)
    out["estimatedS3Seconds (after)"] = round(count * out["requestsPerTable (after)"] * S3_REQUEST_SECONDS / par, 1)
    print(json.dumps({"scenario": "idle", **out}), file=sys.stderr, flush=True)
    return out


def report(figures, idle, changes, args):
    lines, ratios = [], {}
    if figures:
        lines += [f"CDC merge scale benchmark: N = {args.keys:,} keys, {changes:,} changes a run ({args.change_rate:.0%} of N), "
                 f"{args.runs} runs, maintenance on (defaults); local[2] Spark 3.5 + Iceberg 1.7"]
        lines.append(f"\n{'approach/size':<14}{'full load s':>12}{'mean run s':>12}{'changes/s':>11}{'MiB/run':>10}"
                     f"{'compactions':>13}{'table MiB':>11}{'rows':>10}  per-run seconds")
        for key, e in figures.items():
            if not isinstance(e, dict):
                continue
            lines.append(f"{key:<14}{e['fullLoadSeconds']:>12.1f}{e['meanSeconds']:>12.2f}{e['changesPerSecond']:>11,}"
                         f"{e['meanBytes'] / 2 ** 20:>10.2f}{e['compactions']:>13}{e['tableBytes'] / 2 ** 20:>11.1f}{e['rows']:>10,}  "
                         + " ".join(f"{s:.1f}" for s in e["seconds"]))
        for size in ("N", "2N"):
            rw = figures[f"rewrite/{size}"]
            for approach in ("before", "after"):
                e = figures.get(f"{approach}/{size}")
                if e:
                    ratios[f"{approach}/{size} throughput vs rewrite"] = round(rw["meanSeconds"] / e["meanSeconds"], 2)
                    ratios[f"{approach}/{size} bytes vs rewrite"] = round(e["meanBytes"] / max(rw["meanBytes"], 1), 3)
        for approach in APPROACHES:
            ratios[f"{approach} seconds 2N / N"] = round(figures[f"{approach}/2N"]["meanSeconds"] / figures[f"{approach}/N"]["meanSeconds"], 2)
            ratios[f"{approach} bytes 2N / N"] = round(figures[f"{approach}/2N"]["meanBytes"] / max(figures[f"{approach}/N"]["meanBytes"], 1), 2)
        if figures.get("after/N") and figures.get("before/N"):
            ratios["after vs before throughput (N)"] = round(figures["before/N"]["meanSeconds"] / figures["after/N"]["meanSeconds"], 2)
        lines.append("")
        lines += [f"{k:<40}{v:>8}" for k, v in ratios.items()]
        for size in ("N", "2N"):
            same = len({(figures[f"{a}/{size}"]["rows"], figures[f"{a}/{size}"]["checksum"]) for a in APPROACHES if f"{a}/{size}" in figures}) == 1
            lines.append(f"final tables identical at {size}: {same}")
        if figures.get("orderColumnShare") is not None:
            lines.append(f"_cdc_order share of the curated table's column bytes (after/N): {figures['orderColumnShare']:.0%}")
    if idle:
        lines.append(f"\n{args.tables} tables x {idle['filesPerTable']} files in {idle['dayFolders']} day folders, every file merged; "
                     "a run with no new files:")
        for approach in ("before", "after"):
            lines.append(f"  {approach:<7} local {' / '.join(f'{x:.1f}' for x in idle[f'idleRunSeconds ({approach})'])} s, "
                         f"{idle[f'requestsPerTable ({approach})']:.0f} storage requests a table, "
                         f"on S3 at {S3_REQUEST_SECONDS * 1000:.0f} ms a request about {idle[f'estimatedS3Seconds ({approach})']:.0f} s")
    return "\n".join(lines), ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=200_000, help="N, keys of the full load (default 200,000; 2N runs too)")
    parser.add_argument("--change-rate", type=float, default=0.1, help="changes a run as a share of N (default 0.1)")
    parser.add_argument("--runs", type=int, default=4, help="incremental runs (default 4)")
    parser.add_argument("--tables", type=int, default=100, help="tables of the no-change scenario (default 100; 0 skips it)")
    parser.add_argument("--baseline-rev", default="5c1803e", help="git revision of the 'before' script (default 5c1803e)")
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--out", help="also write the figures as JSON to this file")
    parser.add_argument("--idle-days", type=int, default=30, help="day folders of each idle table (default 30)")
    parser.add_argument("--scenarios", default="scale,idle", help="scale (a, b, d) and/or idle (c); default both")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="cdc-scale-"))
    try:
        spark = session(work, args.driver_memory)
        modules = {"before": load_module(baseline_script(args.baseline_rev, work), "cdc_merge_before"),
                   "after": load_module(ROOT / SCRIPT_REL, "cdc_merge_after")}
        started = time.perf_counter()
        wanted = args.scenarios.split(",")
        idle = idle_tables(spark, work, modules, args) if args.tables and "idle" in wanted else {}
        figures, changes = scaling(spark, work, modules, args) if "scale" in wanted else ({}, 0)
        if args.out:  # the raw figures first, whatever the report below does
            pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            pathlib.Path(args.out).write_text(json.dumps({"args": vars(args), "figures": figures, "idleTables": idle}, indent=1))
        text, ratios = report(figures, idle, changes, args)
        print(text)
        print(f"\n(total {time.perf_counter() - started:.0f} s)")
        if args.out:
            pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            pathlib.Path(args.out).write_text(json.dumps({"args": vars(args), "changesPerRun": changes, "figures": figures,
                                                          "ratios": ratios, "idleTables": idle, "report": text}, indent=1))
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
