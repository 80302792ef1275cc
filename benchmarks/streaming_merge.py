"""Streaming curated merge: does a run's time grow with the table's history?

One local Spark 3.5 + Iceberg 1.7.1 session (the tests' own, from test/python/conftest.py) holds four
curated tables of events:

- before: unpartitioned, an insert-only MERGE on event_id over the whole table (the job until
  issue 15);
- after: partitioned by days(event_time), the insert of new ids bounded to the days the dedup
  window reaches from the batch (streaming_merge.merge, the job now);

each with 1x and 4x the history (``--days`` and 4 x ``--days`` days of ``--per-day`` events,
written a day at a time as hourly runs would). The same batch (``--batch`` events of the last
day, a tenth of them duplicates of events already in the table) is merged into each table;
after every run the table is rolled back to its snapshot before the run, so every run sees the
same table. Runs are interleaved (1x before, 4x before, 1x after, 4x after, repeated), and the
median of ``--repeats`` timed runs is printed per table, side by side, with the 4x/1x ratios.

    .venv/bin/python benchmarks/streaming_merge.py                  # default, about 2 minutes here
    .venv/bin/python benchmarks/streaming_merge.py --days 60 --per-day 20000 --repeats 5
"""
import argparse
import datetime as dt
import importlib.util
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=15, help="days of history of the 1x tables (4x: four times as many)")
    parser.add_argument("--per-day", type=int, default=10000, help="events per day of history")
    parser.add_argument("--batch", type=int, default=2000, help="events per merged batch")
    parser.add_argument("--window-hours", type=float, default=24, help="dedup window (the construct's default: 24 h)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per table (after one untimed warm-up)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--java-options", default=None, help="driver JVM options")
    parser.add_argument("--no-codegen", action="store_true", help="interpreted expressions (no Janino code generation)")
    opts = parser.parse_args()

    conftest = load("lakehouse_conftest", ROOT / "test" / "python" / "conftest.py")  # also puts lakehouse_glue on sys.path
    sm = load("streaming_merge", ROOT / "src" / "ingestion" / "streaming" / "glue" / "streaming_merge.py")
    from pyspark.sql import functions as F

    warehouse = tempfile.mkdtemp(prefix="streaming-merge-bench-")
    spark = conftest.spark_session(warehouse, app="streaming-merge-benchmark", cores=opts.cores, memory="2g",
                                   shuffle_partitions=opts.cores * 2,
                                   # Four times here the driver JVM (OpenJDK 17.0.15) crashed with SIGSEGV in class
                                   # loading under Janino code generation at the first run (G1, parallel GC, C1 only
                                   # alike): --no-codegen runs Spark's expressions interpreted, without Janino.
                                   java_options=opts.java_options)
    if opts.no_codegen:
        spark.conf.set("spark.sql.codegen.wholeStage", "false")
        spark.conf.set("spark.sql.codegen.factoryMode", "NO_CODEGEN")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")  # as on a large table: no broadcast of the target
    base = dt.datetime(2026, 1, 1)
    epoch = int((base - dt.datetime(1970, 1, 1)).total_seconds())
    window = opts.window_hours * 3600

    def day_events(first_day, days, prefix):
        n = days * opts.per_day
        return (spark.range(n)
                .withColumn("day", (F.col("id") / opts.per_day).cast("int") + first_day)
                # The id names the day, so the 1x and 4x tables hold the same events on the days they share.
                .select(F.concat(F.lit(prefix), F.col("day").cast("string"), F.lit("-"), (F.col("id") % opts.per_day).cast("string"))
                        .alias("event_id"),
                        F.lit("click").alias("event_type"), F.lit("none").alias("event_subtype"),
                        F.timestamp_seconds(F.lit(epoch) + F.col("day") * 86400 + F.col("id") % 86400).alias("event_time"),
                        F.concat(F.lit('{"n":'), F.col("id").cast("string"), F.lit("}")).alias("payload"),
                        F.lit(base).cast("timestamp").alias("ingested_at")))

    tables = {}
    print(f"building history: {opts.days} and {4 * opts.days} days x {opts.per_day} events ...", flush=True)
    for size in (1, 4):
        days = opts.days * size
        first = 4 * opts.days - days  # every table's history ends on the same day
        history = day_events(first, days, "h")
        for kind in ("before", "after"):
            name = f"local.bench.events_{kind}_{size}x"
            parts = "PARTITIONED BY (days(event_time))" if kind == "after" else ""
            spark.sql(f"CREATE TABLE {name} (event_id string, event_type string, event_subtype string, event_time timestamp, "
                      f"payload string, ingested_at timestamp) USING iceberg {parts} {conftest_props()}")
            # One append per 5 days keeps the build short; each holds time-ordered files, as hourly runs leave them.
            for start in range(first, first + days, 5):
                chunk = history.where((F.col("event_time") >= F.lit(base + dt.timedelta(days=start)))
                                      & (F.col("event_time") < F.lit(base + dt.timedelta(days=start + 5))))
                chunk.sortWithinPartitions("event_time").writeTo(name).append()
            tables[(kind, size)] = name
    last_day = 4 * opts.days - 1
    fresh = day_events(last_day, 1, "n").limit(opts.batch - opts.batch // 10)
    # Duplicates: ids of the last history day (their event times are those of the stored copies).
    stored_last = spark.table(tables[("after", 1)]).where(
        F.col("event_time") >= F.lit(base + dt.timedelta(days=last_day))).limit(opts.batch // 10)
    batch = fresh.unionByName(stored_last.select(*fresh.columns)).drop("ingested_at").cache()
    batch.count()
    rows = {size: spark.table(tables[("before", size)]).count() for size in (1, 4)}
    print(f"history rows: 1x {rows[1]:,}, 4x {rows[4]:,}; batch {batch.count():,} events "
          f"({opts.batch // 10:,} duplicates); window {opts.window_hours:g} h", flush=True)

    def one_run(kind, size):
        name = tables[(kind, size)]
        snap = sm.lg.last_commit(spark, name)["snapshotId"]
        started = time.perf_counter()
        if kind == "after":
            inserted = sm.merge(spark, batch, name, window)
        else:  # the job until issue 15: MERGE ... ON t.event_id = s.event_id WHEN NOT MATCHED THEN INSERT *
            source = batch.select(*sm.COLUMNS).withColumn("ingested_at", F.current_timestamp())
            sm.lg.merge_by_key(spark, source, name, ["event_id"], update=False, strict=False)
            inserted = int(spark.sql(f"SELECT summary['added-records'] FROM {name}.snapshots ORDER BY committed_at DESC LIMIT 1")
                           .collect()[0][0] or 0)
        seconds = time.perf_counter() - started
        spark.sql(f"CALL local.system.rollback_to_snapshot('{name.split('.', 1)[1]}', {snap})")
        return seconds, inserted

    order = [("before", 1), ("before", 4), ("after", 1), ("after", 4)]
    times = {k: [] for k in order}
    inserted = {}
    for k in order:  # warm-up
        inserted[k] = one_run(*k)[1]
    for _ in range(opts.repeats):
        for k in order:
            seconds, n = one_run(*k)
            assert n == inserted[k]
            times[k].append(seconds)
    expected = opts.batch - opts.batch // 10
    for k in order:
        if inserted[k] != expected:
            print(f"WARNING: {k} inserted {inserted[k]}, expected {expected}", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    print()
    print(f"{'history':<10}{'rows':>12}{'before (s)':>14}{'after (s)':>12}{'after/before':>15}")
    for size in (1, 4):
        print(f"{str(size) + 'x':<10}{rows[size]:>12,}{med[('before', size)]:>14.2f}{med[('after', size)]:>12.2f}"
              f"{med[('after', size)] / med[('before', size)]:>15.2f}")
    print(f"{'4x/1x':<10}{'':>12}{med[('before', 4)] / med[('before', 1)]:>14.2f}{med[('after', 4)] / med[('after', 1)]:>12.2f}")
    print(f"\nmedian of {opts.repeats} interleaved runs each; rows inserted per run: "
          + ", ".join(f"{k[0]} {k[1]}x {inserted[k]}" for k in order))
    print("runs (s): " + "; ".join(f"{k[0]} {k[1]}x " + " ".join(f"{s:.2f}" for s in times[k]) for k in order))
    spark.stop()


def conftest_props():
    import lakehouse_glue as lg
    return lg.properties_sql()


if __name__ == "__main__":
    main()
