"""The speed view of StreamingDedupIngestion (issue 18).

1. The view's SQL, as the construct synthesizes it (``speed_view_fixture.json``, kept equal to the template
   by test/streaming-speed-view.test.ts), parses with sqlglot's Trino dialect, and every table and column it
   names exists in the Glue tables the construct declares (sqlglot's qualifier raises on an unknown one);
   its output columns and types are the ones the view JSON declares.
2. The same SQL, transpiled by sqlglot from Trino to Spark SQL, runs over raw files in the Firehose layout
   and a curated Iceberg table written by the real ``streaming_merge.run``: each event id comes back once
   before a merge, after it, with duplicates in raw and with an event both merged and in raw again, and the
   raw rows the view returns are the rows the next merge writes.
"""
import datetime as dt
import gzip
import itertools
import json
import os
import pathlib

import pytest
import sqlglot
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

FIXTURE = pathlib.Path(__file__).with_name("speed_view_fixture.json")
FIELDS = {"id": "event_id", "type": "event_type", "subtype": "event_subtype", "time": "event_time"}
HIVE_TO_TRINO = {"string": "varchar", "timestamp": "timestamp(6)"}
_tables = itertools.count()


@pytest.fixture(scope="module")
def fixture():
    return json.loads(FIXTURE.read_text())


def catalog_schema(fixture):
    """The Glue tables the construct declares, as sqlglot's schema (catalog.database.table -> columns)."""
    schema = {}
    for table in fixture["tables"]:
        columns = {c["name"]: HIVE_TO_TRINO.get(c["type"], c["type"]) for c in table["columns"]}
        schema.setdefault("awsdatacatalog", {}).setdefault(table["database"], {})[table["name"]] = columns
    return schema


def parse(sql):
    return sqlglot.parse_one(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)


def checked(sql, fixture):
    """The SQL qualified against the declared tables: raises on a table or column they do not have."""
    return qualify(parse(sql), schema=catalog_schema(fixture), dialect="trino", validate_qualify_columns=True)


def test_every_table_and_column_the_view_names_is_declared(fixture):
    sql = fixture["view"]["definition"]["originalSql"]
    tree = checked(sql, fixture)
    tables = {(t.catalog, t.db, t.name) for t in tree.find_all(exp.Table) if t.db}
    declared = {("awsdatacatalog", t["database"], t["name"]) for t in fixture["tables"]}
    assert tables == declared  # both tables are read, nothing else

    # The output columns and their types are what the view JSON declares (Athena checks it on every query).
    typed = annotate_types(tree, schema=catalog_schema(fixture), dialect="trino")
    outputs = [(s.alias_or_name, s.type.sql("trino").lower()) for s in typed.selects]
    declared_columns = [(c["name"], c["type"]) for c in fixture["view"]["definition"]["columns"]]
    assert outputs == declared_columns


@pytest.mark.parametrize("mutation", [
    ("json_extract_scalar(line,", "json_extract_scalar(lines,"),  # a column the lines table lacks
    ('"lake_curated"."events"', '"lake_curated"."event"'),        # a table nobody declared
    ("c.event_time >=", "c.event_ts >="),                          # a curated column that does not exist
])
def test_the_check_fails_on_a_name_the_tables_do_not_have(fixture, mutation):
    sql = fixture["view"]["definition"]["originalSql"].replace(*mutation, 1)
    assert sql != fixture["view"]["definition"]["originalSql"]
    with pytest.raises(sqlglot.errors.OptimizeError):
        checked(sql, fixture)


# ---- execution in Spark over tables the real merge wrote ----

def spark_sql(fixture, lines_view, curated_table):
    """The view's SQL in Spark's dialect, reading the test's lines view and curated table."""
    tree = parse(fixture["view"]["definition"]["originalSql"])
    names = {t["name"]: t["database"] for t in fixture["tables"]}
    raw_name = next(n for n, db in names.items() if n.endswith("_lines"))

    def swap(node):
        if isinstance(node, exp.Table) and node.db:
            return exp.to_table(lines_view if node.name == raw_name else curated_table, dialect="spark").as_(node.alias) \
                if node.alias else exp.to_table(lines_view if node.name == raw_name else curated_table, dialect="spark")
        return node

    return tree.transform(swap).sql(dialect="spark")


def write_raw(root, events, name, modified):
    """One Firehose object (GZIP JSON lines) per (type, subtype, day) partition, with a modification time."""
    groups = {}
    for e in events:
        key = (e["event_type"], e.get("event_subtype") or "none", e["event_time"][0:4], e["event_time"][5:7], e["event_time"][8:10])
        groups.setdefault(key, []).append(e)
    stamp = modified.replace(tzinfo=dt.timezone.utc).timestamp()
    for (type_, subtype, year, month, day), group in groups.items():
        folder = root / f"event_type={type_}" / f"event_subtype={subtype}" / f"year={year}" / f"month={month}" / f"day={day}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.gz"
        path.write_bytes(gzip.compress("".join(json.dumps(e) + "\n" for e in group).encode()))
        os.utime(path, (stamp, stamp))


def lines_view(spark, root, name):
    """The lines table as Athena sees it: one string per line, and the partition values (strings) of its path."""
    from pyspark.sql import functions as F

    df = spark.read.option("recursiveFileLookup", "true").text(str(root)).withColumnRenamed("value", "line")
    for part in ("event_type", "event_subtype", "year", "month", "day"):
        df = df.withColumn(part, F.regexp_extract(F.input_file_name(), f"/{part}=([^/]+)/", 1))
    df.createOrReplaceTempView(name)
    return name


def view_rows(spark, fixture, root, table):
    lines = lines_view(spark, root, f"speed_lines_{next(_tables)}")
    return [r.asDict() for r in spark.sql(spark_sql(fixture, lines, table)).collect()]


def key(row):
    return (row["event_id"], row["event_type"], row["event_subtype"], str(row["event_time"]), row["payload"])


# The events are dated today from 00:05 on; in the first hour of a UTC day the test clock waits at
# 01:00 so the merges it runs (20 minutes before NOW, and after it) come after every event of today.
_REAL_NOW = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
NOW = max(_REAL_NOW, dt.datetime.combine(_REAL_NOW.date(), dt.time(1, 0)))
TODAY = NOW.date()


def day_back(number):
    """How many days before today event ``e<number>`` happened: today or yesterday (inside the default
    2-day lookback), and 5 days for ``e5`` (outside it)."""
    return 5 if number == 5 else number % 2


def make_event(number, variant, second):
    """Event ``e<number>``: its type, subtype and day depend on its id (copies of one event share them);
    copies differ in their time (within a minute) and payload."""
    day = TODAY - dt.timedelta(days=day_back(number))
    time = dt.datetime.combine(day, dt.time(0, 5 + number, second))
    body = {"event_id": f"e{number}", "event_type": "click" if number % 2 else "view", "event_time": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "v": variant}
    if number % 3:
        body["event_subtype"] = "web"
    return body


event_spec = st.tuples(st.integers(0, 5), st.integers(0, 2), st.integers(0, 59))
batches = st.lists(event_spec, max_size=6)


def events_of(batch):
    return [make_event(n, variant, second) for n, variant, second in batch]


@settings(max_examples=1, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Before any merge, duplicates in raw, and an unmerged event dated before the lookback (e5).
@example(merged=[], arrived=[(1, 0, 0), (1, 1, 5), (2, 0, 0), (5, 0, 0)])
# An event both merged and in raw again (e2), duplicates on both sides of the boundary.
@example(merged=[(1, 0, 0), (2, 0, 0), (2, 1, 3)], arrived=[(2, 2, 1), (3, 0, 0), (3, 0, 0)])
@given(merged=batches, arrived=batches)
def test_each_event_once_across_the_merge_boundary(spark, merge_module, fixture, tmp_path_factory, merged, arrived):
    root = tmp_path_factory.mktemp("raw") / "events"
    root.mkdir()
    table = f"local.db.speed_{next(_tables)}"
    first, second = events_of(merged), events_of(arrived)

    merge_1 = NOW - dt.timedelta(minutes=20)
    if first:
        write_raw(root, first, "part-1", merge_1 - dt.timedelta(minutes=10))
    merge_module.run(spark, str(root), table, FIELDS, merge_1)
    if second:
        write_raw(root, second, "part-2", merge_1 + dt.timedelta(minutes=10))

    before = view_rows(spark, fixture, root, table)
    ids_merged = {e["event_id"] for e in first}
    ids_all = ids_merged | {e["event_id"] for e in second}
    # Each event once; an unmerged event dated before the lookback is not there yet (never twice).
    ids_seen = ids_merged | {e["event_id"] for e in second if day_back(int(e["event_id"][1:])) < 2}
    assert sorted(r["event_id"] for r in before) == sorted(ids_seen)
    assert all((r["source"] == "curated") == (r["event_id"] in ids_merged) for r in before)
    assert all(r["ingested_at"] is None for r in before if r["source"] == "raw")

    # After the next merge: every event once, from curated, and the rows the view returned from raw
    # are exactly the rows the merge wrote.
    merge_module.run(spark, str(root), table, FIELDS, NOW + dt.timedelta(minutes=1))
    after = view_rows(spark, fixture, root, table)
    assert sorted(r["event_id"] for r in after) == sorted(ids_all)
    assert {r["source"] for r in after} <= {"curated"}
    assert sorted(map(key, (r for r in after if r["event_id"] in ids_seen))) == sorted(map(key, before))
