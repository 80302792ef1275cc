"""The shared Glue module (src/core/glue/lakehouse_glue.py) on local Spark 3.5 + Iceberg 1.7.1.

Generative tests (Hypothesis, fixed seeds via ``derandomize``) drive argument parsing, schema
evolution over random schemas and MERGE by key against a Python model of the table; the metrics
are sent through boto3 to moto's CloudWatch, which keeps what PutMetricData accepted.
"""
import datetime as dt
import decimal
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import types as T

import lakehouse_glue as lg

SPARK_SETTINGS = settings(max_examples=10, derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_names = itertools.count()


def new_table(prefix="t"):
    return f"local.core.{prefix}_{next(_names)}"


# --------------------------------------------------------------------------- parse_args

ARG_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
ARG_VALUE = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20).filter(
    lambda v: not v.startswith("--"))


@settings(max_examples=200, derandomize=True, database=None)
@given(st.dictionaries(ARG_NAME, ARG_VALUE, min_size=1, max_size=8), st.lists(st.booleans(), min_size=8, max_size=8),
       st.data())
def test_parse_args_reads_both_forms_and_applies_defaults(given_args, equals_form, data):
    argv = ["script.py", "--JOB_ID", "j_1"]
    for (name, value), eq in zip(given_args.items(), equals_form):
        argv += [f"--{name}={value}"] if eq or value == "" else [f"--{name}", value]
    names = sorted(given_args)
    required = data.draw(st.lists(st.sampled_from(names), unique=True))
    absent = data.draw(st.lists(ARG_NAME.filter(lambda n: n not in given_args and n != "JOB_ID"), unique=True, max_size=3))
    optional = {n: given_args[n] + "-default" for n in names if n not in required}
    optional.update({n: None for n in absent})
    out = lg.parse_args(argv, required, optional)
    assert out == {**{n: given_args[n] for n in names}, **{n: None for n in absent}}


def test_parse_args_names_every_missing_argument_and_refuses_duplicates():
    with pytest.raises(lg.GlueArgumentError, match="--catalog, --table"):
        lg.parse_args(["x", "--database", "d"], ["catalog", "database", "table"])
    with pytest.raises(lg.GlueArgumentError, match="--table is given twice"):
        lg.parse_args(["x", "--table", "a", "--table=b"], ["table"])
    assert lg.parse_args(["x", "--flag", "--other", "v"], ["flag", "other"]) == {"flag": "", "other": "v"}


# --------------------------------------------------------------------------- schema evolution

# (Spark SQL type, a value of it, the types Iceberg widens it to)
TYPES = {
    "int": (T.IntegerType(), 7, ["bigint"]),
    "bigint": (T.LongType(), 2 ** 40, []),
    "float": (T.FloatType(), 1.5, ["double"]),
    "double": (T.DoubleType(), 2.25, []),
    "string": (T.StringType(), "x", []),
    "boolean": (T.BooleanType(), True, []),
    "date": (T.DateType(), dt.date(2026, 1, 2), []),
    "timestamp": (T.TimestampType(), dt.datetime(2026, 1, 2, 3, 4, 5), []),
    "decimal(9,2)": (T.DecimalType(9, 2), decimal.Decimal("12.34"), ["decimal(12,2)"]),
    "decimal(12,2)": (T.DecimalType(12, 2), decimal.Decimal("1234567.89"), []),
}
COLUMNS = ["a", "b", "c", "d", "e"]


def struct(spec):
    return T.StructType([T.StructField(n, TYPES[t][0], True) for n, t in spec])


def row_of(spec):
    return tuple(TYPES[t][1] for _, t in spec)


def model_evolve(old, new):
    """Expected table columns after evolving ``old`` with ``new``, or the columns that must fail."""
    have = dict(old)
    out, bad = dict(old), []
    for name, kind in new:
        if name not in have:
            out[name] = kind
        elif kind == have[name]:
            continue
        elif kind in TYPES[have[name]][2]:
            out[name] = kind
        elif have[name] in TYPES[kind][2]:
            continue  # the narrower type fits the wider column
        else:
            bad.append(name)
    return [(n, out[n]) for n in list(dict(old)) + [n for n, _ in new if n not in have]], bad


SCHEMA = st.lists(st.tuples(st.sampled_from(COLUMNS), st.sampled_from(sorted(TYPES))), min_size=1, max_size=4,
                  unique_by=lambda c: c[0])


@SPARK_SETTINGS
@given(SCHEMA, SCHEMA)
def test_create_then_evolve_over_random_schemas_matches_the_iceberg_rules(spark, first, second):
    table = new_table("evolve")
    lg.create_or_evolve_table(spark, table, struct(first))
    expected, bad = model_evolve(first, second)
    if bad:
        with pytest.raises(lg.SchemaEvolutionError) as err:
            lg.create_or_evolve_table(spark, table, struct(second))
        for name in bad:
            assert repr(name) in str(err.value)
        assert [(f.name, f.dataType.simpleString()) for f in spark.table(table).schema] == \
            [(n, TYPES[t][0].simpleString()) for n, t in first]  # nothing changed
        return
    schema = lg.create_or_evolve_table(spark, table, struct(second))
    assert [(f.name, f.dataType.simpleString()) for f in schema] == [(n, TYPES[t][0].simpleString()) for n, t in expected]
    # Rows of both schemas align to the table and read back with their values (nulls where absent).
    for spec in (first, second):
        df = spark.createDataFrame([row_of(spec)], struct(spec))
        lg.align_to_table(spark, df, table).writeTo(table).append()
    got = [r.asDict() for r in spark.table(table).collect()]
    want = [{n: (dict(zip([c for c, _ in spec], row_of(spec))).get(n)) for n, _ in expected} for spec in (first, second)]
    key = lambda r: json.dumps(r, sort_keys=True, default=str)  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)


def test_align_refuses_a_value_type_the_column_cannot_hold_unless_not_strict(spark):
    table = new_table("align")
    lg.create_or_evolve_table(spark, table, struct([("id", "bigint"), ("n", "int")]))
    df = spark.createDataFrame([(1, "12"), (2, "x")], "id bigint, n string")
    with pytest.raises(lg.SchemaEvolutionError, match="'n' is int in the table but string in the rows"):
        lg.align_to_table(spark, df, table)
    loose = lg.align_to_table(spark, df, table, strict=False).orderBy("id").collect()
    assert [(r.id, r.n) for r in loose] == [(1, 12), (2, None)]


def test_partition_evolution_adds_a_missing_day_transform_once_and_new_files_land_in_day_partitions(spark):
    table = new_table("parts")
    schema = struct([("id", "string"), ("ts", "timestamp")])
    lg.create_or_evolve_table(spark, table, schema)
    assert lg.partition_fields(spark, table) == []
    spark.createDataFrame([("old", dt.datetime(2026, 1, 1, 5))], schema).writeTo(table).append()
    lg.create_or_evolve_table(spark, table, schema, partition_by=["days(ts)"])
    lg.create_or_evolve_table(spark, table, schema, partition_by=["days(`ts`)"])  # idempotent
    assert lg.partition_fields(spark, table) == ["days(ts)"]
    spark.createDataFrame([("a", dt.datetime(2026, 1, 2, 5)), ("b", dt.datetime(2026, 1, 3, 5))], schema).writeTo(table).append()
    files = spark.sql(f"SELECT partition.ts_day AS day, spec_id FROM {table}.files").collect()
    assert sorted((str(r.day), r.spec_id) for r in files) == [("2026-01-02", 1), ("2026-01-03", 1), ("None", 0)]


def test_a_new_table_gets_the_shared_properties_partition_spec_and_sort_order(spark):
    table = new_table("created")
    lg.create_or_evolve_table(spark, table, struct([("id", "string"), ("ts", "timestamp")]), partition_by=["days(ts)"],
                              sort_by=["id"], properties={"write.target-file-size-bytes": "134217728"})
    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    for key, value in lg.ICEBERG_TABLE_PROPERTIES.items():
        if key != "format-version":
            assert props[key] == value
    assert props["format-version"] == "2" or props.get("format") == "iceberg/parquet"
    assert props["write.target-file-size-bytes"] == "134217728"
    assert lg.partition_fields(spark, table) == ["days(ts)"]
    assert "id" in props.get("sort-order", "")
    assert lg.table_exists(spark, "local", "core", table.rsplit(".", 1)[1])
    assert not lg.table_exists(spark, "local", "core", "no_such_table")


# --------------------------------------------------------------------------- merge by key

BATCH = st.dictionaries(st.integers(0, 30), st.integers(-5, 5), max_size=12)


@SPARK_SETTINGS
@given(st.lists(BATCH, min_size=1, max_size=4), st.sampled_from(["update", "insert-only merge", "insert new"]))
def test_merge_by_key_and_insert_new_by_key_equal_a_python_model_of_the_table(spark, batches, mode):
    table = new_table("merge")
    schema = struct([("id", "int"), ("v", "int"), ("extra", "string")])
    lg.create_or_evolve_table(spark, table, schema)
    model = {}
    for batch in batches:
        rows = spark.createDataFrame([(k, v) for k, v in batch.items()], "id int, v int") if batch else \
            spark.createDataFrame([], "id int, v int")
        new = [k for k in batch if k not in model]
        before = lg.last_commit(spark, table)
        if mode == "insert new":
            assert lg.insert_new_by_key(spark, rows, table, ["id"]) == len(new)
            if not new:  # nothing new: nothing committed
                assert lg.last_commit(spark, table) == before
        else:
            lg.merge_by_key(spark, rows, table, ["id"], update=mode == "update")
        for k, v in batch.items():
            if mode == "update" or k not in model:
                model[k] = v
        assert sorted((r.id, r.v, r.extra) for r in spark.table(table).collect()) == sorted((k, v, None) for k, v in model.items())


def test_merge_by_key_conditions_carry_columns_and_a_target_filter(spark):
    table = new_table("cond")
    lg.create_or_evolve_table(spark, table, struct([("id", "int"), ("v", "int"), ("day", "int")]))
    spark.createDataFrame([(1, 10, 1), (2, 20, 1), (3, 30, 2)], "id int, v int, day int").writeTo(table).append()
    changes = spark.createDataFrame([(1, 11, 1, "upsert"), (2, 0, 1, "delete"), (3, 31, 2, "upsert"), (4, 40, 2, "skip")],
                                    "id int, v int, day int, action string")
    lg.merge_by_key(spark, changes, table, ["id"], matched_condition="s.action = 'upsert'", delete_condition="s.action = 'delete'",
                    insert_condition="s.action = 'upsert'", carry=["action"], target_filter="t.day = 1")
    # id 3 is outside the target filter: it counts as unmatched and is inserted again.
    assert sorted(tuple(r) for r in spark.table(table).collect()) == [(1, 11, 1), (3, 30, 2), (3, 31, 2)]
    assert "action" not in spark.table(table).columns


def test_last_commit_is_the_current_snapshot_on_main(spark):
    table = new_table("commits")
    lg.create_or_evolve_table(spark, table, struct([("id", "int")]))
    assert lg.last_commit(spark, table) is None
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    spark.createDataFrame([(1,)], "id int").writeTo(table).append()
    spark.createDataFrame([(2,)], "id int").writeTo(table).append()
    commit = lg.last_commit(spark, table)
    current = spark.sql(f"SELECT snapshot_id FROM {table}.snapshots ORDER BY committed_at DESC LIMIT 1").collect()[0][0]
    assert commit["snapshotId"] == current
    assert before <= commit["committedAt"] <= dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    # Rolling back moves main to the older snapshot: that is the last commit readers see.
    first = spark.sql(f"SELECT snapshot_id FROM {table}.snapshots ORDER BY committed_at LIMIT 1").collect()[0][0]
    spark.sql(f"CALL local.system.rollback_to_snapshot('{table.split('.', 1)[1]}', {first})")
    assert lg.last_commit(spark, table)["snapshotId"] == first
    age = lg.commit_age_seconds(lg.last_commit(spark, table), commit["committedAt"] + dt.timedelta(seconds=90))
    assert 90 <= age < 100


# --------------------------------------------------------------------------- small files, ledger, quarantine


@pytest.mark.parametrize("as_url", [False, True])
def test_run_ledger_round_trips_and_replaces_in_one_write(spark, tmp_path, as_url):
    path = tmp_path / "state" / "ledger" / "shop" / "orders.json"
    url = path.as_uri() if as_url else str(path)
    ledger = lg.RunLedger(spark, url)
    default = {"version": 1, "files": {}}
    first = ledger.load(default)
    first["files"]["a.parquet"] = "run-1"
    assert default == {"version": 1, "files": {}}  # the default is copied, never mutated
    assert ledger.load() is None
    now = dt.datetime(2026, 2, 1, 12, 0, 0)
    ledger.save(first, now)
    assert ledger.load(default) == {"version": 1, "files": {"a.parquet": "run-1"}, "updatedAt": "2026-02-01T12:00:00"}
    ledger.save({"version": 1, "files": {}}, now)
    assert json.loads(path.read_text())["files"] == {}
    assert lg.read_text(spark, str(tmp_path / "nothing.json")) is None
    lg.write_text(spark, str(tmp_path / "_manifest.json"), "héllo")
    assert lg.read_text(spark, str(tmp_path / "_manifest.json")) == "héllo"


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_write_quarantine_counts_and_keeps_the_reason(spark, tmp_path, fmt):
    rows = spark.createDataFrame([(None, "a"), (None, "b")], "id int, v string")
    target = str(tmp_path / "q" / "run-1")
    assert lg.write_quarantine(rows, target, reason="null_primary_key", fmt=fmt) == 2
    assert lg.write_quarantine(rows.where("v = 'z'"), str(tmp_path / "q" / "run-2"), reason="x", fmt=fmt) == 0
    assert not (tmp_path / "q" / "run-2").exists()
    back = getattr(spark.read, fmt)(target).collect()
    assert sorted((r.v, r._reason) for r in back) == [("a", "null_primary_key"), ("b", "null_primary_key")]
    with pytest.raises(ValueError, match="fmt must be"):
        lg.write_quarantine(rows, target, fmt="csv")


# --------------------------------------------------------------------------- metrics


def test_metrics_reach_cloudwatch_with_the_shared_names_dimensions_and_units():
    boto3 = pytest.importorskip("boto3")
    from moto import mock_aws

    now = dt.datetime(2026, 2, 1, 12, 0, 0)
    pub = lg.MetricsPublisher("CdkLakehouse/Merge", "shop", now)
    tables = [f"t{i}" for i in range(5)]
    for i, table in enumerate(tables):
        pub.add_table(table, rows_merged=i * 10, rows_quarantined=i, committed=i % 2 == 0,
                      commit_age_seconds=None if i == 4 else 60.0 * i, failed=i == 3)
    pub.finish(run_seconds=42.5)
    # 5 tables x 4 counts + 4 ages + 4 totals + 1 age + RunSeconds
    assert len(pub.data) == 5 * 4 + 4 + 4 + 1 + 1
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        assert pub.publish(cw) == 2  # 30 data in batches of 20
        listed = cw.list_metrics(Namespace="CdkLakehouse/Merge")["Metrics"]
        seen = {(m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"]))) for m in listed}

        def value(metric, table=None, stat="Sum"):
            dims = [{"Name": "Pipeline", "Value": "shop"}] + ([{"Name": "Table", "Value": table}] if table else [])
            points = cw.get_metric_statistics(Namespace="CdkLakehouse/Merge", MetricName=metric, Dimensions=dims,
                                              StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=5),
                                              Period=60, Statistics=[stat])["Datapoints"]
            assert len(points) == 1, (metric, table, points)
            return points[0][stat], points[0]["Unit"]

        # moto matches a dimension filter against every metric that has those dimensions (CloudWatch
        # matches them exactly), so run totals are read from what was sent and per-table values from moto.
        totals = {(d["MetricName"], d["Unit"]): d["Value"] for d in pub.data if len(d["Dimensions"]) == 1}
        assert totals == {("RowsMerged", "Count"): 100.0, ("RowsQuarantined", "Count"): 10.0, ("TablesFailed", "Count"): 1.0,
                          ("TableCommits", "Count"): 3.0, ("CommitAgeSeconds", "Seconds"): 180.0,
                          ("RunSeconds", "Seconds"): 42.5}
        assert value("RunSeconds", stat="Maximum") == (42.5, "Seconds")
        assert value("RowsMerged", "t2") == (20.0, "Count")
        assert value("CommitAgeSeconds", "t3", stat="Maximum") == (180.0, "Seconds")
        assert value("TableCommits", "t3") == (0.0, "Count")
        assert value("TablesFailed", "t3") == (1.0, "Count")
        assert ("CommitAgeSeconds", (("Pipeline", "shop"), ("Table", "t4"))) not in seen
    with pytest.raises(ValueError, match="metrics_namespace"):
        lg.MetricsPublisher("", "shop")
