"""The CDC merge with data quality rules (write-audit-publish) and the reprocess operation: a
failed audit leaves the curated table's and the tombstone table's main as they were and writes no
ledger, so the run after the fix merges the same files and publishes once; a reprocess rebuilds
the curated table from every raw file on a branch and publishes it in one commit."""
import datetime as dt
import json
import pathlib

import lakehouse_glue as lg
import pytest

from cdc_helpers import cdc, cdc_path, change, full_load, load_path, spec

COLS = "id int, name string, qty int"
ORDERS = [spec("public.orders")]
NAME = "shop_public_orders"
RULES = {NAME: [{"rule": "ColumnValues", "column": "qty", "min": 0, "severity": "block"},
                {"rule": "IsComplete", "column": "name", "severity": "warn"}]}


def refs(spark, fq):
    return {r["name"]: r["snapshot_id"] for r in spark.sql(f"SELECT name, snapshot_id FROM {fq}.refs").collect()}


def history(spark, fq):
    return [r[0] for r in spark.sql(f"SELECT snapshot_id FROM {fq}.history ORDER BY made_current_at").collect()]


def test_a_failed_audit_keeps_both_tables_and_the_ledger_and_the_fixed_run_publishes_once(lake, tmp_path):
    ops = str(tmp_path / "ops")
    lake.write("public", "orders", {load_path(1): [full_load(1, name="a", qty=1), full_load(2, name="b", qty=2)]}, COLS)
    [first] = lake.run(ORDERS, quality={"rules": RULES, "run_id": "c1", "results_path": ops})
    assert first["audit"]["published"] and first["committed"] and first["rowsUpserted"] == 2
    curated, tombs = lake.ident(NAME), lake.ident(cdc.tombstone_table_name(NAME))
    main, tomb_main = refs(lake.spark, curated)["main"], refs(lake.spark, tombs).get("main")

    lake.write("public", "orders", {cdc_path(1): [change("D", 10, 1), change("U", 11, 2, name="b", qty=-5)]}, COLS)
    with pytest.raises(cdc.CdcRunFailed) as err:
        lake.run(ORDERS, quality={"rules": RULES, "run_id": "c2", "results_path": ops})
    [failed] = err.value.results
    assert failed["failed"] and "AuditFailedError" in failed["error"] and failed["audit"]["passed"] is False
    assert refs(lake.spark, curated)["main"] == main and refs(lake.spark, tombs).get("main") == tomb_main
    assert [r["id"] for r in lake.rows(NAME)] == [1, 2]
    assert sorted(r["id"] for r in lake.spark.table(lg.branch_table(curated, "audit_c2")).collect()) == [2]
    publisher = cdc.build_metrics("shop", err.value.results, dt.datetime(2026, 2, 1), namespace="CdkLakehouse/Merge")
    per_table = {d["MetricName"]: d["Value"] for d in publisher.data if len(d["Dimensions"]) == 2}
    assert (per_table["AuditsFailed"], per_table["RuleFailures"], per_table["TablesFailed"]) == (1.0, 1.0, 1.0)

    # the producer's fix: a correcting change with a later sequence (the bad file stays in raw)
    lake.write("public", "orders", {cdc_path(2): [change("U", 12, 2, name="b", qty=5)]}, COLS)
    [fixed] = lake.run(ORDERS, quality={"rules": RULES, "run_id": "c3", "results_path": ops})
    assert fixed["audit"]["published"] and fixed["filesMerged"] == 2
    assert [(r["id"], r["qty"]) for r in lake.rows(NAME)] == [(2, 5)]
    assert history(lake.spark, curated)[history(lake.spark, curated).index(main) + 1:] == [fixed["audit"]["mainSnapshotAfter"]]
    assert "audit_c3" not in refs(lake.spark, tombs) and lake.spark.table(tombs).count() == 1  # the delete of 1


def test_reprocess_rebuilds_from_raw_and_publishes_in_one_commit(lake, tmp_path):
    lake.write("public", "orders", {load_path(1): [full_load(1, name="a", qty=1), full_load(2, name="b", qty=2)],
                                    cdc_path(1): [change("D", 10, 1), change("I", 11, 3, name="c", qty=3)]}, COLS)
    lake.run(ORDERS)
    curated = lake.ident(NAME)
    expected = lake.rows(NAME)
    lake.spark.sql(f"UPDATE {curated} SET qty = 99 WHERE id = 2")  # a bug wrote a wrong value
    old = refs(lake.spark, curated)["main"]
    pinned = lake.spark.read.option("snapshot-id", old).table(curated)
    ops = str(tmp_path / "ops")
    [result] = lake.run(ORDERS, quality={"rules": RULES, "run_id": "re1", "results_path": ops, "rebuild": True})
    assert result["audit"]["published"] and result["audit"]["operation"] == "reprocess" and result["filesMerged"] == 2
    assert lake.rows(NAME) == expected
    assert sorted((r["id"], r["qty"]) for r in pinned.collect()) == [(2, 99), (3, 3)]
    assert history(lake.spark, curated)[history(lake.spark, curated).index(old) + 1:] == [result["audit"]["mainSnapshotAfter"]]
    records = [json.loads(line) for f in pathlib.Path(ops).rglob("part-*") for line in f.read_text().splitlines()]
    assert [(r["operation"], r["passed"]) for r in records if r["kind"] == "audit"] == [("reprocess", True)]
    # the ledger lists every raw file again: the next run merges only new files
    ledger = cdc.load_ledger(lake.spark, lake.raw_root + "_ops/cdc/shop/", "public", "orders")
    assert sorted(ledger["files"]) == sorted([load_path(1), cdc_path(1)])
