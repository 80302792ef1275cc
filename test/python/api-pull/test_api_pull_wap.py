"""The API-pull transform with data quality rules: a window whose records break a blocking rule
leaves main as it was (same snapshot id) and fails; the same window merged after the data is fixed
publishes once."""
import json

import pytest

import api_pull_transform as t
import lakehouse_glue as lg
from test_api_pull_transform import RUN1, RUN2, land_run, lake, rows, table  # noqa: F401 (fixtures)

RULES = [{"rule": "ColumnValues", "column": "amount", "min": 0, "severity": "block"}]


def test_a_window_that_breaks_a_rule_is_not_published_and_the_fixed_window_is(spark, lake, table):  # noqa: F811
    quarantine = f"file://{lake}/_quarantine/shop"
    ops = str(lake / "ops")
    good = land_run(lake, "orders", RUN1, [json.dumps({"data": [{"id": "a", "amount": 1}]})])
    first = t.transform_run(spark, good, "$.data", "id", table, quarantine, audit={"rules": RULES, "results_path": ops})
    assert first["audit"]["published"] and first["audit"]["runId"] == RUN1
    main = lg.ref_snapshot(spark, table)

    bad = land_run(lake, "orders", RUN2, [json.dumps({"data": [{"id": "a", "amount": -1}, {"id": "b", "amount": 2}]})])
    with pytest.raises(lg.AuditFailedError) as err:
        t.transform_run(spark, bad, "$.data", "id", table, quarantine, audit={"rules": RULES, "results_path": ops})
    assert lg.ref_snapshot(spark, table) == main and [(r["id"], r["amount"]) for r in rows(spark, table)] == [("a", 1)]
    publisher = t.metrics("CdkLakehouse/Merge", "shop", table.split(".")[-1], None, None, None, 1.0,
                          __import__("datetime").datetime(2024, 5, 1), failed=True, audit=err.value.outcome)
    assert {d["MetricName"]: d["Value"] for d in publisher.data if len(d["Dimensions"]) == 2 and d["MetricName"].startswith("Audit")} == {
        "AuditsPassed": 0.0, "AuditsFailed": 1.0}

    fixed = land_run(lake, "orders", RUN2, [json.dumps({"data": [{"id": "a", "amount": 5}, {"id": "b", "amount": 2}]})])
    again = t.transform_run(spark, fixed, "$.data", "id", table, quarantine, audit={"rules": RULES, "results_path": ops})
    assert again["audit"]["published"]
    assert [(r["id"], r["amount"]) for r in rows(spark, table)] == [("a", 5), ("b", 2)]
    history = [r[0] for r in spark.sql(f"SELECT snapshot_id FROM {table}.history ORDER BY made_current_at").collect()]
    assert history[history.index(main) + 1:] == [again["audit"]["mainSnapshotAfter"]]
