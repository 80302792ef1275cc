"""The curated merge of StreamingDedupIngestion on local Spark 3.5 + Iceberg: duplicates across
files and runs end up once, late duplicates change nothing, re-running a run changes nothing."""
import datetime as dt
import gzip
import itertools
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

    inserted = merge_module.run(spark, str(raw), table, FIELDS, T0)["inserted"]

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
    assert merge_module.run(spark, str(raw), table, FIELDS, T0)["inserted"] == 2
    first = rows(spark, table)

    # An hour later: "a" again (a producer retry after the dedup window, other content) and "e" new.
    t1 = T0 + dt.timedelta(hours=1)
    write_raw(raw, [event("a", v=2), event("e")], "part-2", t1 - dt.timedelta(minutes=10))
    assert merge_module.run(spark, str(raw), table, FIELDS, t1)["inserted"] == 1

    second = rows(spark, table)
    assert [r[0] for r in second] == ["a", "b", "e"]
    assert [r for r in second if r[0] in ("a", "b")] == first


def test_re_running_a_run_changes_nothing(spark, merge_module, table, tmp_path):
    raw = tmp_path / "events"
    write_raw(raw, [event(str(i)) for i in range(20)] + [event("3"), event("7")], "part-1", T0 - dt.timedelta(minutes=20))
    assert merge_module.run(spark, str(raw), table, FIELDS, T0)["inserted"] == 20
    before = rows(spark, table)

    # The same run again (a Glue retry, or an operator re-run), incremental and full scan.
    assert merge_module.run(spark, str(raw), table, FIELDS, T0)["inserted"] == 0
    assert merge_module.run(spark, str(raw), table, FIELDS, T0, full_scan=True)["inserted"] == 0
    assert rows(spark, table) == before


def test_a_crash_between_merge_and_watermark_only_means_a_re_read(spark, merge_module, table, tmp_path):
    raw = tmp_path / "events"
    write_raw(raw, [event("x"), event("y")], "part-1", T0 - dt.timedelta(minutes=20))
    lines = merge_module.read_raw(spark, str(raw))
    events = merge_module.dedup(merge_module.normalize(lines, "event_id", "event_type", "event_subtype", "event_time"))
    assert merge_module.merge(spark, events, table) == 2  # committed, then the job dies: no watermark
    assert merge_module.get_watermark(spark, table) is None
    before = rows(spark, table)

    assert merge_module.run(spark, str(raw), table, FIELDS, T0)["inserted"] == 0
    assert rows(spark, table) == before
    assert merge_module.get_watermark(spark, table) == T0


def test_incremental_runs_read_only_objects_since_the_watermark_minus_the_overlap(spark, merge_module, table, tmp_path):
    raw = tmp_path / "events"
    write_raw(raw, [event("old")], "part-1", T0 - dt.timedelta(minutes=5))
    assert merge_module.run(spark, str(raw), table, FIELDS, T0)["inserted"] == 1

    t1 = T0 + dt.timedelta(hours=1)
    # Landed long before the watermark (outside the 30-minute overlap) but never merged: an
    # incremental run does not look back that far; a full scan does.
    write_raw(raw, [event("forgotten")], "part-0", T0 - dt.timedelta(hours=3))
    write_raw(raw, [event("late-listing")], "part-2", T0 - dt.timedelta(minutes=10))
    write_raw(raw, [event("new")], "part-3", t1 - dt.timedelta(minutes=1))
    # Modified after the run started: left for the next run.
    write_raw(raw, [event("future")], "part-4", t1 + dt.timedelta(minutes=1))
    assert merge_module.run(spark, str(raw), table, FIELDS, t1, overlap_minutes=30)["inserted"] == 2
    assert [r[0] for r in rows(spark, table)] == ["late-listing", "new", "old"]

    assert merge_module.run(spark, str(raw), table, FIELDS, t1 + dt.timedelta(hours=1), full_scan=True)["inserted"] == 2
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
    assert merge_module.run(spark, str(raw), name, fields, T0)["inserted"] == 1
    assert rows(spark, name)[0][:4] == ("n-1", "account", "none", "2026-01-31 10:00:00")


# --------------------------------------------------------------------------- partitioning and the bounded MERGE


def test_a_run_partitions_the_table_by_event_day_and_new_files_land_in_day_partitions(spark, merge_module, table, tmp_path):
    import lakehouse_glue as lg

    assert lg.partition_fields(spark, table) == []  # as the construct's CreateTable leaves it
    raw = tmp_path / "events"
    write_raw(raw, [event("a", time="2026-01-30T23:59:59Z"), event("b", time="2026-01-31T00:00:00Z")], "part-1",
              T0 - dt.timedelta(minutes=5))
    assert merge_module.run(spark, str(raw), table, FIELDS, T0)["inserted"] == 2
    assert lg.partition_fields(spark, table) == ["days(event_time)"]
    days = sorted(str(r.day) for r in spark.sql(f"SELECT partition.event_time_day AS day FROM {table}.files").collect())
    assert days == ["2026-01-30", "2026-01-31"]


def _data_files(spark, table, day):
    return [r.file_path for r in spark.sql(f"SELECT file_path FROM {table}.files WHERE partition.event_time_day = DATE '{day}'").collect()]


def test_the_merge_never_opens_a_day_the_dedup_window_cannot_reach(spark, merge_module, table):
    """History of 2026-01-01 whose data files are then removed from disk: a batch of 2026-01-10
    with a one-day window merges without opening them, and a batch whose window reaches that day
    fails on the missing file (so the first run did prune, it did not just get lucky)."""
    events = lambda ids, time: spark.createDataFrame(  # noqa: E731
        [(i, "account", "created", dt.datetime.fromisoformat(time), "{}") for i in ids],
        "event_id string, event_type string, event_subtype string, event_time timestamp, payload string")
    merge_module.ensure_table(spark, table)
    assert merge_module.merge(spark, events(["old-1", "old-2"], "2026-01-01T10:00:00"), table, 86400) == 2
    assert merge_module.merge(spark, events(["mid-1"], "2026-01-05T10:00:00"), table, 86400) == 1
    spark.catalog.clearCache()
    for path in _data_files(spark, table, "2026-01-01"):
        os.remove(path.replace("file:", "", 1))

    assert merge_module.merge(spark, events(["new-1", "mid-1"], "2026-01-10T10:00:00"), table, 86400) == 2
    assert merge_module.merge(spark, events(["x"], "2026-01-04T12:00:00"), table, 86400) == 1  # reaches 01-03..01-05
    with pytest.raises(Exception, match="(?i)not.?found|does not exist|FileNotFound"):
        merge_module.merge(spark, events(["y"], "2026-01-02T09:00:00"), table, 86400)  # reaches 2026-01-01


WINDOW = 6 * 3600
BASE = dt.datetime(2026, 1, 1)
EVENT = st.tuples(st.sampled_from(["e1", "e2", "e3", "e4", "e5", "e6"]),
                  st.one_of(st.none(), st.integers(0, 10 * 24).map(lambda h: BASE + dt.timedelta(hours=h))))


def model_merge(state, batch, window):
    """The bounded MERGE's rule: earliest time per id in the batch (null last); an event is
    inserted unless the table holds its id with a time within the window of the batch's range,
    or without a time when the batch has events without one."""
    best = {}
    for event_id, time in batch:
        key = (time is None, time or BASE)
        if event_id not in best or key < (best[event_id] is None, best[event_id] or BASE):
            best[event_id] = time
    times = [t for t in best.values() if t is not None]
    has_null = any(t is None for t in best.values())
    w = dt.timedelta(seconds=window)
    inserted = 0
    for event_id, time in best.items():
        reachable = [t for i, t in state if i == event_id and (
            (t is None and has_null) or (t is not None and times and min(times) - w <= t <= max(times) + w))]
        if not reachable:
            state.append((event_id, time))
            inserted += 1
    return inserted


@settings(max_examples=8, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.lists(EVENT, max_size=6), min_size=1, max_size=4))
def test_bounded_merge_equals_its_model_over_random_batches(spark, merge_module, batches):
    name = f"local.db.events_model_{next(_tables)}"
    merge_module.ensure_table(spark, name)
    state = []
    for batch in batches:
        df = spark.createDataFrame([(i, "t", "none", t, json.dumps([i, str(t)])) for i, t in batch],
                                   "event_id string, event_type string, event_subtype string, event_time timestamp, payload string")
        expected = model_merge(state, batch, WINDOW)
        assert merge_module.merge(spark, merge_module.dedup(df), name, WINDOW) == expected
        got = sorted(((r.event_id, r.event_time) for r in spark.table(name).collect()), key=repr)
        assert got == sorted(state, key=repr)


def test_lines_without_id_go_to_quarantine_and_the_run_reports_commit_and_metrics(spark, merge_module, table, tmp_path):
    raw = tmp_path / "events"
    write_raw(raw, [event("a"), {"event_type": "account"}, {"event_id": "no-type"}], "part-1", T0 - dt.timedelta(minutes=5))
    quarantine = tmp_path / "quarantine"
    result = merge_module.run(spark, str(raw), table, FIELDS, T0, quarantine_path=str(quarantine))
    assert (result["inserted"], result["quarantined"], result["committed"]) == (1, 2, True)
    kept = [json.loads(line) for f in quarantine.rglob("*.json") for line in f.read_text().splitlines()]
    assert sorted(json.loads(k["payload"]).get("event_id", "-") for k in kept) == ["-", "no-type"]
    assert {k["_reason"] for k in kept} == {merge_module.REJECT_REASON}

    again = merge_module.run(spark, str(raw), table, FIELDS, T0)  # nothing new: no commit on main
    assert (again["inserted"], again["committed"]) == (0, False)
    assert again["lastCommit"] == result["lastCommit"]

    now = result["lastCommit"]["committedAt"] + dt.timedelta(seconds=30)
    data = merge_module.metrics("CdkLakehouse/Merge", "clicks", "events", result, 12.0, now).data
    by = {(d["MetricName"], len(d["Dimensions"])): d for d in data}
    assert by[("RowsMerged", 2)]["Value"] == 1 and by[("RowsMerged", 2)]["Dimensions"][1] == {"Name": "Table", "Value": "events"}
    assert by[("RowsQuarantined", 1)]["Value"] == 2 and by[("TableCommits", 1)]["Value"] == 1
    assert by[("CommitAgeSeconds", 2)]["Value"] == 30 and by[("RunSeconds", 1)]["Value"] == 12
    assert by[("TablesFailed", 1)]["Value"] == 0
    failed = merge_module.metrics("CdkLakehouse/Merge", "clicks", "events", None, 3.0, now, failed=True).data
    assert {(d["MetricName"], d["Value"]) for d in failed if len(d["Dimensions"]) == 1} >= {("TablesFailed", 1.0), ("RowsMerged", 0.0)}
