"""Write-audit-publish on Iceberg branches (``lakehouse_glue.write_audit_publish``, ``reprocess``,
``rollback``) on the local Spark 3.5 + Iceberg 1.7.1 session: what readers of main see, what the
branch holds, what lands in the ops data and in the metrics."""
import datetime as dt
import json
import pathlib
import uuid

import lakehouse_glue as lg
import pytest

NOW = dt.datetime(2026, 12, 1, 12, 0, 0)
RULES = [{"rule": "IsComplete", "column": "status", "severity": "block"},
         {"rule": "ColumnValuesIn", "column": "status", "values": ["new", "paid"], "severity": "warn"}]


@pytest.fixture
def table(spark):
    name = f"wap_{uuid.uuid4().hex[:8]}"
    fq = f"local.curated.{name}"
    spark.sql(f"CREATE TABLE {fq} (id bigint, status string) USING iceberg {lg.properties_sql()}")
    yield fq
    spark.sql(f"DROP TABLE IF EXISTS {fq}")


def rows(spark, fq):
    return sorted((r["id"], r["status"]) for r in spark.table(fq).collect())


def merge_rows(spark, data):
    df = spark.createDataFrame(data, "id bigint, status string")
    return lambda target: lg.merge_by_key(spark, df, target, ["id"])


def append_rows(spark, data):
    df = spark.createDataFrame(data, "id bigint, status string")
    return lambda target: df.writeTo(target).append()


def ops(path):
    out = []
    for f in sorted(pathlib.Path(path).rglob("part-*")):
        out.extend(json.loads(line) for line in f.read_text().splitlines() if line.strip())
    return out


def refs(spark, fq):
    return {r["name"]: r["snapshot_id"] for r in spark.sql(f"SELECT name, snapshot_id FROM {fq}.refs").collect()}


def test_passing_rows_publish_in_one_fast_forward_and_a_warning_rule_publishes_and_records(spark, table, tmp_path):
    first = lg.write_audit_publish(spark, table, RULES, append_rows(spark, [(1, "new"), (2, "paid")]), "run-1",
                                   str(tmp_path), NOW)
    assert first["audited"] and first["passed"] and first["published"]
    assert first["mainSnapshotBefore"] is None and first["mainSnapshotAfter"] == first["auditSnapshot"]
    assert rows(spark, table) == [(1, "new"), (2, "paid")]
    assert set(refs(spark, table)) == {"main"}
    # a MERGE, with a value only the warning rule refuses: published, and the warning recorded
    second = lg.write_audit_publish(spark, table, RULES, merge_rows(spark, [(2, "lost"), (3, "paid")]), "run-2",
                                    str(tmp_path), NOW)
    assert second["passed"] and second["published"] and rows(spark, table) == [(1, "new"), (2, "lost"), (3, "paid")]
    # the published snapshot is the audited one, a child of the previous main: nothing rewritten
    parent = spark.sql(f"SELECT parent_id FROM {table}.snapshots WHERE snapshot_id = {second['mainSnapshotAfter']}").collect()[0][0]
    assert second["mainSnapshotAfter"] == second["auditSnapshot"] and parent == second["mainSnapshotBefore"] == first["mainSnapshotAfter"]
    assert set(refs(spark, table)) == {"main"}
    recorded = ops(tmp_path)
    assert sorted((a["runId"], a["passed"], a["published"]) for a in recorded if a["kind"] == "audit") == [
        ("run-1", True, True), ("run-2", True, True)]
    warned = [r for r in recorded if r["kind"] == "rule" and not r["passed"]]
    assert [(r["runId"], r["severity"], r["rule"]) for r in warned] == [("run-2", "warn", "ColumnValuesIn")]
    publisher = lg.MetricsPublisher("CdkLakehouse/Merge", "p", NOW)
    publisher.add_audit("t", second)
    assert {d["MetricName"]: d["Value"] for d in publisher.data} == {"AuditsPassed": 1.0, "AuditsFailed": 0.0, "RuleFailures": 1.0}


def test_a_blocking_failure_keeps_main_and_the_branch_and_the_fixed_rerun_publishes_once(spark, table, tmp_path):
    lg.write_audit_publish(spark, table, RULES, append_rows(spark, [(1, "new")]), "good", str(tmp_path), NOW)
    before = refs(spark, table)["main"]
    with pytest.raises(lg.AuditFailedError) as err:
        lg.write_audit_publish(spark, table, RULES, append_rows(spark, [(2, None), (3, "paid")]), "bad", str(tmp_path), NOW)
    outcome = err.value.outcome
    assert outcome["audited"] and not outcome["passed"] and not outcome["published"]
    assert refs(spark, table)["main"] == before == outcome["mainSnapshotAfter"]
    assert rows(spark, table) == [(1, "new")]
    assert rows(spark, lg.branch_table(table, "audit_bad")) == [(1, "new"), (2, None), (3, "paid")]
    assert 'IsComplete "status"' in str(err.value) and f"main stays at snapshot {before}" in str(err.value)
    recorded = [r for r in ops(tmp_path) if r["runId"] == "bad"]
    rule_rows = {r["description"]: r for r in recorded if r["kind"] == "rule"}
    assert rule_rows['IsComplete "status"']["passed"] is False and rule_rows['IsComplete "status"']["severity"] == "block"
    assert [r["published"] for r in recorded if r["kind"] == "audit"] == [False]
    publisher = lg.MetricsPublisher("CdkLakehouse/Merge", "orders", NOW)
    publisher.add_audit("orders", outcome)
    got = {(d["MetricName"], tuple(x["Value"] for x in d["Dimensions"])): d["Value"] for d in publisher.data}
    assert got == {("AuditsPassed", ("orders", "orders")): 0.0, ("AuditsFailed", ("orders", "orders")): 1.0,
                   ("RuleFailures", ("orders", "orders")): 1.0}

    # the data fixed: published once, main moved exactly once after the failure
    fixed = lg.write_audit_publish(spark, table, RULES, append_rows(spark, [(2, "paid"), (3, "paid")]), "fixed", str(tmp_path), NOW)
    assert fixed["published"] and rows(spark, table) == [(1, "new"), (2, "paid"), (3, "paid")]
    main_history = [r["snapshot_id"] for r in spark.sql(f"SELECT snapshot_id FROM {table}.history ORDER BY made_current_at").collect()]
    assert main_history[main_history.index(before) + 1:] == [fixed["mainSnapshotAfter"]]
    # the failed run's branch is still there for inspection; the passed ones are gone
    assert set(refs(spark, table)) == {"main", "audit_bad"}

    # a write that adds nothing commits nothing (no empty snapshot on main), and is not audited
    def insert_known(target):
        lg.insert_new_by_key(spark, spark.createDataFrame([(1, "new")], "id bigint, status string"), target, ["id"])
    nothing = lg.write_audit_publish(spark, table, RULES, insert_known, "nothing", str(tmp_path), NOW)
    assert not nothing["audited"] and not nothing["published"] and refs(spark, table)["main"] == fixed["mainSnapshotAfter"]
    assert "audit_nothing" not in refs(spark, table)


def test_without_rules_the_write_goes_to_main_as_before(spark, table):
    outcome = lg.write_audit_publish(spark, table, [], append_rows(spark, [(1, "x")]), "plain")
    assert outcome["published"] and not outcome["audited"] and outcome["branch"] is None
    assert rows(spark, table) == [(1, "x")] and set(refs(spark, table)) == {"main"}


def test_reprocess_publishes_atomically_while_a_pinned_reader_keeps_the_old_snapshot(spark, table, tmp_path):
    lg.write_audit_publish(spark, table, [], append_rows(spark, [(1, "new"), (2, "bad-old")]), "load")
    old = refs(spark, table)["main"]
    pinned = spark.read.option("snapshot-id", old).table(table)  # a reader that started before the publish
    seen = []

    rebuilt = spark.createDataFrame([(1, "new"), (2, "paid"), (3, "paid")], "id bigint, status string")

    def observe(target):  # runs inside the reprocess, after the branch write: readers of main still see the old rows
        lg.overwrite_with(spark, rebuilt)(target)
        seen.append((rows(spark, table), sorted((r["id"], r["status"]) for r in pinned.collect()), refs(spark, table)["main"]))

    outcome = lg.write_audit_publish(spark, table, RULES, observe, "reprocess-1", str(tmp_path), NOW, operation="reprocess",
                                     always_branch=True)
    assert seen == [([(1, "new"), (2, "bad-old")], [(1, "new"), (2, "bad-old")], old)]
    assert outcome["published"] and rows(spark, table) == [(1, "new"), (2, "paid"), (3, "paid")]
    assert sorted((r["id"], r["status"]) for r in pinned.collect()) == [(1, "new"), (2, "bad-old")]
    # main flipped in one commit: one history entry after `old`, whose parent is `old`
    after = [r["snapshot_id"] for r in spark.sql(f"SELECT snapshot_id FROM {table}.history ORDER BY made_current_at").collect()]
    assert after[after.index(old) + 1:] == [outcome["mainSnapshotAfter"]]
    parent = spark.sql(f"SELECT parent_id FROM {table}.snapshots WHERE snapshot_id = {outcome['mainSnapshotAfter']}").collect()[0][0]
    assert parent == old
    # the same through the public helper, with a rule that blocks a rebuild that lost rows
    shrink = [{"rule": "RowCountChange", "maxDecreasePercent": 10}]
    with pytest.raises(lg.AuditFailedError):
        lg.reprocess(spark, table, shrink, spark.createDataFrame([(1, "new")], "id bigint, status string"), "reprocess-2",
                     str(tmp_path), NOW)
    assert rows(spark, table) == [(1, "new"), (2, "paid"), (3, "paid")]
    assert [r["operation"] for r in ops(tmp_path) if r["kind"] == "audit" and r["runId"].startswith("reprocess")] == ["reprocess"] * 2


def test_rollback_to_a_snapshot_and_to_a_timestamp_restores_earlier_rows_and_records_it(spark, table, tmp_path):
    lg.write_audit_publish(spark, table, [], append_rows(spark, [(1, "new")]), "a")
    first = refs(spark, table)["main"]
    committed = spark.sql(f"SELECT committed_at FROM {table}.snapshots WHERE snapshot_id = {first}").collect()[0][0]
    lg.write_audit_publish(spark, table, [], merge_rows(spark, [(1, "paid"), (2, "new")]), "b")
    second = refs(spark, table)["main"]
    record = lg.rollback(spark, table, snapshot_id=first, results_path=str(tmp_path), run_id="rb-1", now=NOW)
    assert rows(spark, table) == [(1, "new")] and refs(spark, table)["main"] == first
    assert record["mainSnapshotAfter"] == first and record["mainSnapshotBefore"] == second
    assert [(r["kind"], r["runId"], r["requestedSnapshotId"]) for r in ops(tmp_path)] == [("rollback", "rb-1", first)]
    # forward again to the second snapshot, then back by time: the snapshot current just after `first` was committed
    spark.sql(f"CALL local.system.set_current_snapshot('{table.split('.', 1)[1]}', {second})")
    assert rows(spark, table) == [(1, "paid"), (2, "new")]
    stamp = (committed + dt.timedelta(milliseconds=1)).isoformat() + "Z"
    lg.rollback(spark, table, to_timestamp=stamp, results_path=str(tmp_path), run_id="rb-2", now=NOW)
    assert rows(spark, table) == [(1, "new")] and refs(spark, table)["main"] == first
    with pytest.raises(lg.GlueArgumentError, match="exactly one"):
        lg.rollback(spark, table)


def test_names_and_rule_loading(spark, tmp_path):
    assert lg.split_fq("`local`.`cur.ated`.`t`") == ["local", "cur.ated", "t"] and lg.split_fq("a.b.c") == ["a", "b", "c"]
    assert lg.audit_branch_name("jr_ab-12:3") == "audit_jr_ab_12_3"
    inline = json.dumps({"version": 1, "tables": {"t": [{"rule": "IsComplete", "column": "a"}]}})
    on_disk = tmp_path / "rules.json"
    on_disk.write_text(json.dumps({"version": 1, "tables": {"u": []}}))
    assert lg.load_quality_rules(spark, inline) == {"t": [{"rule": "IsComplete", "column": "a"}]}
    assert lg.load_quality_rules(spark, inline, str(on_disk)) == {"u": []}  # the path takes precedence
    assert lg.load_quality_rules(spark) == {}
    with pytest.raises(ValueError, match="does not exist"):
        lg.load_quality_rules(spark, inline, str(tmp_path / "missing.json"))
