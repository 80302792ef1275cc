"""The curated merge of StreamingDedupIngestion on local Spark 3.5 + Iceberg: duplicates across
files and runs end up once, late duplicates change nothing, re-running a run changes nothing."""
import datetime as dt
import gzip
import itertools
import json
import os

import pytest

FIELDS = {"id": "event_id", "type": "event_type", "subtype": "event_subtype", "time": "event_time"}
_tables = itertools.count()


def event(event_id, time="2026-01-31T10:00:00Z", type_="account", subtype="created", **extra):
    body = {"event_id": event_id, "event_type": type_, "event_time": time, **extra}
    if subtype is not None:
        body["event_subtype"] = subtype
    return body


def write_raw(root, events, name, modified, type_="account", day=("2026", "01", "31"), compress=True):
    """Writes one Firehose-like object (GZIP JSON lines) with a given modification time."""
    folder = root / f"event_type={type_}" / "event_subtype=created" / f"year={day[0]}" / f"month={day[1]}" / f"day={day[2]}"
    folder.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(e) + "\n" for e in events).encode()
    path = folder / (name + (".json.gz" if compress else ".json"))
    path.write_bytes(gzip.compress(data) if compress else data)
    stamp = modified.replace(tzinfo=dt.timezone.utc).timestamp()
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def table(spark):
    name = f"local.db.events_{next(_tables)}"
    spark.sql(
        f"""CREATE TABLE {name} (event_id string, event_type string, event_subtype string, event_time timestamp,
        payload string, ingested_at timestamp) USING iceberg"""
    )
    return name


def rows(spark, table):
    return sorted(
        (r.event_id, r.event_type, r.event_subtype, str(r.event_time), r.payload, str(r.ingested_at))
        for r in spark.table(table).collect()
    )


T0 = dt.datetime(2026, 1, 31, 12, 0, 0)


def test_duplicates_across_files_and_within_a_file_end_up_once(spark, merge_module, table, tmp_path):
    raw = tmp_path / "events"
    write_raw(raw, [event("a"), event("b"), event("a")], "part-1", T0 - dt.timedelta(minutes=50))
    write_raw(raw, [event("b"), event("c", subtype=None)], "part-2", T0 - dt.timedelta(minutes=40))
    write_raw(raw, [event("d", type_="lesson", subtype="started")], "part-3", T0 - dt.timedelta(minutes=30), type_="lesson")

    inserted = merge_module.run(spark, str(raw), table, FIELDS, T0)

    assert inserted == 4
    result = {r[0]: r for r in rows(spark, table)}
    assert sorted(result) == ["a", "b", "c", "d"]
    assert result["c"][2] == "none"
    assert result["d"][1:3] == ("lesson", "started")
    assert result["a"][3] == "2026-01-31 10:00:00"
    assert json.loads(result["a"][4]) == event("a")


def test_a_duplicate_in_a_later_run_or_after_the_dedup_window_changes_nothing(spark, merge_module, table, tmp_path):
    raw = tmp_path / "events"
    write_raw(raw, [event("a", v=1), event("b", v=1)], "part-1", T0 - dt.timedelta(minutes=30))
    assert merge_module.run(spark, str(raw), table, FIELDS, T0) == 2
    first = rows(spark, table)

    # An hour later: "a" again (a producer retry after the dedup window, other content) and "e" new.
    t1 = T0 + dt.timedelta(hours=1)
    write_raw(raw, [event("a", v=2), event("e")], "part-2", t1 - dt.timedelta(minutes=10))
    assert merge_module.run(spark, str(raw), table, FIELDS, t1) == 1

    second = rows(spark, table)
    assert [r[0] for r in second] == ["a", "b", "e"]
    assert [r for r in second if r[0] in ("a", "b")] == first


def test_re_running_a_run_changes_nothing(spark, merge_module, table, tmp_path):
    raw = tmp_path / "events"
    write_raw(raw, [event(str(i)) for i in range(20)] + [event("3"), event("7")], "part-1", T0 - dt.timedelta(minutes=20))
    assert merge_module.run(spark, str(raw), table, FIELDS, T0) == 20
    before = rows(spark, table)

    # The same run again (a Glue retry, or an operator re-run), incremental and full scan.
    assert merge_module.run(spark, str(raw), table, FIELDS, T0) == 0
    assert merge_module.run(spark, str(raw), table, FIELDS, T0, full_scan=True) == 0
    assert rows(spark, table) == before


def test_a_crash_between_merge_and_watermark_only_means_a_re_read(spark, merge_module, table, tmp_path):
    raw = tmp_path / "events"
    write_raw(raw, [event("x"), event("y")], "part-1", T0 - dt.timedelta(minutes=20))
    lines = merge_module.read_raw(spark, str(raw))
    events = merge_module.dedup(merge_module.normalize(lines, "event_id", "event_type", "event_subtype", "event_time"))
    assert merge_module.merge(spark, events, table) == 2  # committed, then the job dies: no watermark
    assert merge_module.get_watermark(spark, table) is None
    before = rows(spark, table)

    assert merge_module.run(spark, str(raw), table, FIELDS, T0) == 0
    assert rows(spark, table) == before
    assert merge_module.get_watermark(spark, table) == T0


def test_incremental_runs_read_only_objects_since_the_watermark_minus_the_overlap(spark, merge_module, table, tmp_path):
    raw = tmp_path / "events"
    write_raw(raw, [event("old")], "part-1", T0 - dt.timedelta(minutes=5))
    assert merge_module.run(spark, str(raw), table, FIELDS, T0) == 1

    t1 = T0 + dt.timedelta(hours=1)
    # Landed long before the watermark (outside the 30-minute overlap) but never merged: an
    # incremental run does not look back that far; a full scan does.
    write_raw(raw, [event("forgotten")], "part-0", T0 - dt.timedelta(hours=3))
    write_raw(raw, [event("late-listing")], "part-2", T0 - dt.timedelta(minutes=10))
    write_raw(raw, [event("new")], "part-3", t1 - dt.timedelta(minutes=1))
    # Modified after the run started: left for the next run.
    write_raw(raw, [event("future")], "part-4", t1 + dt.timedelta(minutes=1))
    assert merge_module.run(spark, str(raw), table, FIELDS, t1, overlap_minutes=30) == 2
    assert [r[0] for r in rows(spark, table)] == ["late-listing", "new", "old"]

    assert merge_module.run(spark, str(raw), table, FIELDS, t1 + dt.timedelta(hours=1), full_scan=True) == 2
    assert [r[0] for r in rows(spark, table)] == ["forgotten", "future", "late-listing", "new", "old"]


def test_earliest_event_time_wins_within_a_run_whatever_the_file_order(spark, merge_module, tmp_path):
    from pyspark.sql import Row

    lines = spark.createDataFrame([
        Row(value=json.dumps(event("k", time="2026-01-31T11:00:00Z", v="late"))),
        Row(value=json.dumps(event("k", time="2026-01-31T09:00:00Z", v="early"))),
        Row(value=""),
        Row(value=json.dumps({"event_type": "account"})),
    ])
    events = merge_module.dedup(merge_module.normalize(lines, "event_id", "event_type", "event_subtype", "event_time")).collect()
    assert len(events) == 1
    assert json.loads(events[0].payload)["v"] == "early"


def test_configured_and_nested_fields_and_a_timestamp_without_zone_table(spark, merge_module, tmp_path):
    name = f"local.db.events_ntz_{next(_tables)}"
    spark.sql(
        f"""CREATE TABLE {name} (event_id string, event_type string, event_subtype string, event_time timestamp_ntz,
        payload string, ingested_at timestamp_ntz) USING iceberg"""
    )
    raw = tmp_path / "events"
    body = [{"meta": {"id": "n-1"}, "kind": "account", "occurred_at": "2026-01-31T10:00:00Z"},
            {"meta": {"id": "n-1"}, "kind": "account", "occurred_at": "2026-01-31T10:00:00Z"}]
    write_raw(raw, body, "part-1", T0 - dt.timedelta(minutes=5), compress=False)
    fields = {"id": "meta.id", "type": "kind", "subtype": "sub", "time": "occurred_at"}
    assert merge_module.run(spark, str(raw), name, fields, T0) == 1
    assert rows(spark, name)[0][:4] == ("n-1", "account", "none", "2026-01-31 10:00:00")
