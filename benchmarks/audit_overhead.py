"""Benchmark: what write-audit-publish costs the CDC merge (issue 17), in ONE Spark session with
interleaved runs, on local Spark 3.5 + Iceberg 1.7.1 + Deequ 2.0.7 (the Glue 5.0 runtime).

The data is the CDC merge benchmark's (``benchmarks/cdc_merge_scale.py``'s ``generate``): a full
load of N keys, then ``--runs`` batches of ``--change-rate`` x N changes (90 % updates, 5 % deletes,
5 % inserts). Two lakes get the same files:

- ``plain``: the merge as without rules (``cdc_merge.run`` writes to main);
- ``audited``: the same run with quality rules (``quality=...``): audit branches of the curated and
  tombstone tables, Deequ rules on the curated branch, fast-forward of main.

For each run it prints the plain run's seconds, the audited run's seconds, the seconds spent in
the rule evaluation alone (``lakehouse_quality.evaluate``, timed inside the audited run) and both
as a fraction of the plain run. The runs interleave (plain r, audited r, plain r + 1, ...) so a
load spike from a neighbour hits both alike; the two tables are compared at the end.

    .venv/bin/python benchmarks/audit_overhead.py                      # 200 k keys, 20 k changes a run
    .venv/bin/python benchmarks/audit_overhead.py --keys 50000 --runs 2 --no-codegen
"""
import argparse
import datetime as dt
import importlib.util
import json
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "test" / "python"))
sys.path.insert(0, str(ROOT / "src" / "core" / "glue"))

from cdc_merge_scale import deliver, generate  # noqa: E402  (the CDC merge benchmark's data)
from conftest import spark_session  # noqa: E402  (the tests' Spark + Iceberg + Deequ)

import lakehouse_quality as lq  # noqa: E402

CATALOG = "local"
NAME = "shop_public_orders"
TABLES = [{"name": "public.orders", "schema": "public", "table": "orders", "primaryKey": ["id"], "mode": "cdc"}]
#: One rule of each kind a CDC table would carry (the data's columns: id, name, amount, status, updated_at).
RULES = {NAME: [
    {"rule": "IsComplete", "column": "name", "severity": "block"},
    {"rule": "IsUnique", "columns": ["id"], "severity": "block"},
    {"rule": "ColumnValues", "column": "amount", "min": 0, "max": 1000, "severity": "block"},
    {"rule": "ColumnValuesIn", "column": "status", "values": ["new", "paid", "shipped"], "severity": "block"},
    {"rule": "RowCountChange", "maxDecreasePercent": 50, "maxIncreasePercent": 100, "severity": "block"},
    {"rule": "Freshness", "column": "updated_at", "maxAgeSeconds": 10 * 365 * 86400, "severity": "warn"},
    {"rule": "CustomSql", "name": "no negative ids", "sql": "SELECT id FROM {table} WHERE id < 0", "expect": "zero_rows"},
]}


def load_cdc():
    spec = importlib.util.spec_from_file_location("cdc_merge", ROOT / "src" / "ingestion" / "cdc" / "glue" / "cdc_merge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=200_000, help="N, keys of the full load (default 200,000)")
    parser.add_argument("--change-rate", type=float, default=0.1, help="changes a run as a share of N (default 0.1)")
    parser.add_argument("--runs", type=int, default=3, help="incremental runs after the full load (default 3)")
    parser.add_argument("--driver-memory", default="3g")
    parser.add_argument("--out", help="also write the figures as JSON to this file")
    parser.add_argument("--no-codegen", action="store_true",
                        help="interpreted expressions (no Janino code generation): the driver JVM (OpenJDK 17.0.15) crashed "
                             "in class loading under code generation here, as in benchmarks/streaming_merge.py")
    args = parser.parse_args()

    work = pathlib.Path(tempfile.mkdtemp(prefix="audit-overhead-"))
    spark = spark_session(work / "warehouse", app="audit-overhead", memory=args.driver_memory)
    if args.no_codegen:
        spark.conf.set("spark.sql.codegen.wholeStage", "false")
        spark.conf.set("spark.sql.codegen.factoryMode", "NO_CODEGEN")
    cdc = load_cdc()
    timed = {"evaluate": 0.0}
    evaluate = lq.evaluate

    def timed_evaluate(*a, **k):
        start = time.perf_counter()
        try:
            return evaluate(*a, **k)
        finally:
            timed["evaluate"] += time.perf_counter() - start
    lq.evaluate = timed_evaluate

    data = work / "data"
    changes = int(args.keys * args.change_rate)
    generate(spark, data, args.keys, changes, args.runs, seed=17)
    lakes = {}
    for kind in ("plain", "audited"):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{kind}")
        lakes[kind] = work / "raw" / kind
    rows = []
    for run in range(0, args.runs + 1):
        figures = {"run": run, "changes": args.keys if run == 0 else changes}
        for kind in ("plain", "audited"):
            deliver(data / str(run), lakes[kind] / "shop" / "public" / "orders")
            timed["evaluate"] = 0.0
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            quality = {"rules": RULES, "run_id": f"bench{run}", "results_path": str(work / "ops")} if kind == "audited" else None
            start = time.perf_counter()
            [result] = cdc.run(spark, "shop", lakes[kind].as_uri() + "/", "shop/", CATALOG, kind, "shop_", TABLES,
                               "_ops/cdc/shop/", "_quarantine/shop/", now, maintenance=False, quality=quality)
            figures[kind] = round(time.perf_counter() - start, 2)
            if kind == "audited":
                figures["evaluate"] = round(timed["evaluate"], 2)
                figures["published"] = result["audit"]["published"]
        figures["overhead"] = round(figures["audited"] / figures["plain"] - 1, 3)
        figures["evaluateShare"] = round(figures["evaluate"] / figures["plain"], 3)
        rows.append(figures)
        print(json.dumps(figures), flush=True)
    same = [spark.table(f"{CATALOG}.{k}.{NAME}").selectExpr("count(*)", "sum(hash(id, name, amount, status, updated_at))")
            .collect()[0] for k in ("plain", "audited")]
    print()
    print(f"keys {args.keys:,}, changes a run {changes:,}, rules {len(RULES[NAME])} (Deequ 2.0.7, one AnalysisRunner pass + 1 SQL)")
    print(f"{'run':>4} {'plain (s)':>10} {'audited (s)':>12} {'rules (s)':>10} {'audited/plain-1':>16} {'rules/plain':>12}")
    for r in rows:
        print(f"{r['run']:>4} {r['plain']:>10.2f} {r['audited']:>12.2f} {r['evaluate']:>10.2f} {r['overhead']:>16.1%} {r['evaluateShare']:>12.1%}")
    incremental = rows[1:] or rows
    med = sorted(r["overhead"] for r in incremental)[len(incremental) // 2]
    med_rules = sorted(r["evaluateShare"] for r in incremental)[len(incremental) // 2]
    print(f"median over the incremental runs: audited/plain - 1 = {med:.1%}, rules/plain = {med_rules:.1%}; "
          f"tables equal: {same[0] == same[1]}")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps({"args": vars(args), "runs": rows, "tablesEqual": same[0] == same[1]}, indent=2))
    spark.stop()


if __name__ == "__main__":
    main()
