"""The streaming merge with data quality rules: a failed audit fails the run before the watermark
moves and leaves main as it was; the re-run after the data is fixed publishes once; a reprocess
rebuilds the table from raw on a branch and publishes it in one commit."""
import datetime as dt
import json
import pathlib

import lakehouse_glue as lg
import pytest

from test_streaming_merge import FIELDS, T0, event, rows, table, write_raw  # noqa: F401 (fixture)

RULES = [{"rule": "ColumnValuesIn", "column": "event_type", "values": ["account", "lesson"], "severity": "block"},
         {"rule": "IsUnique", "columns": ["event_id"], "severity": "block"}]


def refs(spark, fq):
    return {r["name"]: r["snapshot_id"] for r in spark.sql(f"SELECT name, snapshot_id FROM {fq}.refs").collect()}


def test_a_failed_audit_fails_the_run_keeps_main_and_the_watermark_and_the_fixed_rerun_publishes_once(
        spark, merge_module, table, tmp_path):  # noqa: F811
    raw, ops = tmp_path / "events", tmp_path / "ops"
    write_raw(raw, [event("a"), event("b")], "part-1", T0 - dt.timedelta(minutes=50))
    first = merge_module.run(spark, str(raw), table, FIELDS, T0, rules=RULES, run_id="r1", results_path=str(ops))
    assert first["inserted"] == 2 and first["committed"] and first["audit"]["published"]
    main = refs(spark, table)["main"]
    watermark = merge_module.get_watermark(spark, table)

    t1 = T0 + dt.timedelta(hours=1)
    bad = write_raw(raw, [event("c", type_="spam")], "part-2", t1 - dt.timedelta(minutes=10), type_="spam")
    with pytest.raises(lg.AuditFailedError) as err:
        merge_module.run(spark, str(raw), table, FIELDS, t1, rules=RULES, run_id="r2", results_path=str(ops))
    assert refs(spark, table)["main"] == main and merge_module.get_watermark(spark, table) == watermark
    assert sorted(r[0] for r in rows(spark, table)) == ["a", "b"]
    assert sorted(r["event_id"] for r in spark.table(lg.branch_table(table, "audit_r2")).collect()) == ["a", "b", "c"]
    publisher = merge_module.metrics("CdkLakehouse/Merge", "events", "events", None, 1.0, t1, failed=True, audit=err.value.outcome)
    got = {d["MetricName"]: d["Value"] for d in publisher.data if len(d["Dimensions"]) == 2}
    assert (got["AuditsFailed"], got["AuditsPassed"], got["RuleFailures"], got["TablesFailed"]) == (1.0, 0.0, 1.0, 1.0)

    bad.unlink()  # the producer's bad object removed (or re-landed fixed) from raw
    write_raw(raw, [event("c")], "part-2-fixed", t1 - dt.timedelta(minutes=5))
    fixed = merge_module.run(spark, str(raw), table, FIELDS, t1, rules=RULES, run_id="r3", results_path=str(ops))
    assert fixed["inserted"] == 1 and fixed["audit"]["published"]
    history = [r[0] for r in spark.sql(f"SELECT snapshot_id FROM {table}.history ORDER BY made_current_at").collect()]
    assert history[history.index(main) + 1:] == [fixed["audit"]["mainSnapshotAfter"]]
    assert sorted(r[0] for r in rows(spark, table)) == ["a", "b", "c"]
    records = [json.loads(line) for f in sorted(pathlib.Path(ops).rglob("part-*")) for line in f.read_text().splitlines()]
    assert sorted((r["runId"], r["passed"]) for r in records if r["kind"] == "audit") == [("r1", True), ("r2", False), ("r3", True)]


def test_reprocess_rebuilds_from_raw_on_a_branch_and_publishes_in_one_commit(spark, merge_module, table, tmp_path):  # noqa: F811
    raw = tmp_path / "events"
    write_raw(raw, [event("a"), event("b"), event("c")], "part-1", T0 - dt.timedelta(minutes=50))
    merge_module.run(spark, str(raw), table, FIELDS, T0)
    spark.sql(f"DELETE FROM {table} WHERE event_id = 'b'")  # a bug lost a row
    old = refs(spark, table)["main"]
    pinned = spark.read.option("snapshot-id", old).table(table)
    t1 = T0 + dt.timedelta(hours=1)
    outcome = merge_module.reprocess(spark, str(raw), table, FIELDS, t1, rules=RULES, run_id="re1",
                                     results_path=str(tmp_path / "ops"))
    assert outcome["published"] and outcome["operation"] == "reprocess"
    assert sorted(r[0] for r in rows(spark, table)) == ["a", "b", "c"]
    assert sorted(r["event_id"] for r in pinned.collect()) == ["a", "c"]  # the reader that started before
    history = [r[0] for r in spark.sql(f"SELECT snapshot_id FROM {table}.history ORDER BY made_current_at").collect()]
    assert history[history.index(old) + 1:] == [outcome["mainSnapshotAfter"]]
    assert merge_module.get_watermark(spark, table) == t1 and set(refs(spark, table)) == {"main"}
