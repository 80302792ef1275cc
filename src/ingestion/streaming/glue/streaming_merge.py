"""Curated merge of StreamingDedupIngestion (Glue 5.0, Spark 3.5, Iceberg).

Reads the raw JSON-lines objects Firehose delivered since the last run (by S3 modification
time, with an overlap), keeps one row per event id, and inserts the ids the curated Iceberg
table does not hold yet (``lakehouse_glue.insert_new_by_key``, an insert-only merge by event id):
an event id already in the table is left alone, so a duplicate that arrives after the dedup
window or through a retry changes nothing, and re-running a run changes nothing (and commits
nothing).

The curated table is partitioned by event day (``days(event_time)``; the run adds that partition
field to a table created without it, so files written before keep their old spec). The merge
reads only the part of the table a duplicate of the batch can be in: rows whose event time lies
within the dedup window (``--dedup_window_seconds``) of the batch's earliest and latest event
time, plus rows without an event time when the batch has such events. Iceberg turns that range
into day partitions (and file min/max statistics), so a run's cost follows the batch, not the
table's history. A duplicate carries its event's time, so it is always found; an event id that
comes back with an event time more than the window away from its first copy is inserted again.

Every run publishes the shared merge metrics (``lakehouse_glue.MetricsPublisher``).

With quality rules for the curated table (``--quality_rules`` / ``--quality_rules_path``) the
insert goes through write-audit-publish (``lakehouse_glue.write_audit_publish``): an audit branch,
the rules, then a fast-forward of main; a failed audit fails the run before the watermark moves.
``--operation reprocess`` rebuilds the table from all raw objects the same way (``reprocess``);
``--operation rollback`` rolls main back (``lakehouse_glue.rollback``). See docs/write-audit-publish.md.

The logic is in plain functions (``normalize``, ``dedup``, ``merge``, ``run``) that the pytest
suite drives on a local SparkSession; ``main`` only wires Glue's arguments and job.
"""
import datetime as dt
import json
import sys
import time
from typing import Optional, Tuple

import lakehouse_glue as lg
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

WATERMARK_PROPERTY = "cdk-lakehouse.raw-watermark"
COLUMNS = ["event_id", "event_type", "event_subtype", "event_time", "payload"]
#: The curated table's columns (the construct creates the table with these).
SCHEMA = T.StructType([
    T.StructField("event_id", T.StringType()), T.StructField("event_type", T.StringType()),
    T.StructField("event_subtype", T.StringType()), T.StructField("event_time", T.TimestampType()),
    T.StructField("payload", T.StringType()), T.StructField("ingested_at", T.TimestampType()),
])
PARTITION_BY = ("days(event_time)",)
#: The dedup window of the construct's default (``dedupWindow``: 24 hours).
DEFAULT_WINDOW_SECONDS = 24 * 3600
REJECT_REASON = "no event id or event type"


def json_path(field):
    """Spark JSON path of a field path with dots (``meta.id`` -> ``$.meta.id``)."""
    return "$." + field


def read_raw(spark, raw_path, modified_after=None, modified_before=None):
    """The raw JSON lines (gzip or plain) under ``raw_path``, one row per line (``value``)."""
    reader = spark.read.option("recursiveFileLookup", "true")
    if modified_after is not None:
        reader = reader.option("modifiedAfter", modified_after.strftime("%Y-%m-%dT%H:%M:%S"))
    if modified_before is not None:
        reader = reader.option("modifiedBefore", modified_before.strftime("%Y-%m-%dT%H:%M:%S"))
    return reader.text(raw_path)


def _parsed(lines, id_field, type_field, subtype_field, time_field):
    value = F.col("value")
    return lines.where(F.length(F.trim(value)) > 0).select(
        F.get_json_object(value, json_path(id_field)).alias("event_id"),
        F.get_json_object(value, json_path(type_field)).alias("event_type"),
        F.coalesce(F.get_json_object(value, json_path(subtype_field)), F.lit("none")).alias("event_subtype"),
        F.get_json_object(value, json_path(time_field)).cast("timestamp").alias("event_time"),
        F.trim(value).alias("payload"),
    )


def normalize(lines, id_field, type_field, subtype_field, time_field):
    """Typed events from raw lines; lines without an id or type are left out (``rejected``)."""
    events = _parsed(lines, id_field, type_field, subtype_field, time_field)
    return events.where(F.col("event_id").isNotNull() & F.col("event_type").isNotNull())


def rejected(lines, id_field, type_field, subtype_field, time_field):
    """The non-empty lines ``normalize`` leaves out (the handler quarantines such records before
    they reach raw, so these are lines written to raw by other means), with ``_reason``."""
    events = _parsed(lines, id_field, type_field, subtype_field, time_field)
    return events.where(F.col("event_id").isNull() | F.col("event_type").isNull()).select(
        "payload", F.lit(REJECT_REASON).alias("_reason"))


def dedup(events):
    """One row per event id: the earliest event time wins, then the smallest payload, so the
    choice does not depend on file order."""
    window = Window.partitionBy("event_id").orderBy(F.col("event_time").asc_nulls_last(), F.col("payload").asc())
    return events.withColumn("_rank", F.row_number().over(window)).where(F.col("_rank") == 1).drop("_rank")


def _literal(value: dt.datetime) -> str:
    return "TIMESTAMP '" + value.strftime("%Y-%m-%d %H:%M:%S.%f") + "'"


def reach_filter(low: Optional[dt.datetime], high: Optional[dt.datetime], has_null: bool, window_seconds: float) -> str:
    """The merge's predicate on the target (``t.``): event times within ``window_seconds`` of the
    batch's range ``[low, high]``, and null event times when the batch has events without one.
    ``FALSE`` for an empty batch (no row of the table is read)."""
    parts = []
    if low is not None:
        window = dt.timedelta(seconds=window_seconds)
        parts.append(f"(t.event_time >= {_literal(low - window)} AND t.event_time <= {_literal(high + window)})")
    if has_null:
        parts.append("t.event_time IS NULL")
    return " OR ".join(parts) if parts else "FALSE"


def batch_reach(events: DataFrame) -> Tuple[Optional[dt.datetime], Optional[dt.datetime], bool, int]:
    """``(earliest, latest event time, any event without one, events)`` of a batch (one pass)."""
    row = events.agg(F.min("event_time").alias("lo"), F.max("event_time").alias("hi"),
                     F.count(F.when(F.col("event_time").isNull(), 1)).alias("nulls"),
                     F.count(F.lit(1)).alias("n")).collect()[0]
    return row["lo"], row["hi"], row["nulls"] > 0, row["n"]


def ensure_table(spark, table):
    """Creates the curated table (partitioned by event day) or adds the day partition field to a
    table created without it; returns the table's schema. Column types stay as the table has
    them (the merge casts, e.g. to ``timestamp_ntz``)."""
    return lg.create_or_evolve_table(spark, table, SCHEMA, partition_by=PARTITION_BY, keep_types=True)


def merge(spark, events, table, window_seconds=DEFAULT_WINDOW_SECONDS, bounded=True):
    """Inserts events whose id the table does not hold yet; returns how many it inserted. A batch
    without new events commits nothing (``lakehouse_glue.insert_new_by_key``).

    With ``bounded`` (the default) the merge reads only the rows ``reach_filter`` selects; without
    it, the whole table (the benchmark's "before")."""
    events = events.cache()
    low, high, has_null, count = batch_reach(events)
    if count == 0:
        events.unpersist()
        return 0
    target_filter = reach_filter(low, high, has_null, window_seconds) if bounded else None
    source = events.select(*COLUMNS).withColumn("ingested_at", F.current_timestamp())
    inserted = lg.insert_new_by_key(spark, source, table, ["event_id"], target_filter=target_filter, strict=False)
    events.unpersist()
    return inserted


def get_watermark(spark, table):
    """The start of the last successful run (UTC), or None before the first run."""
    rows = spark.sql(f"SHOW TBLPROPERTIES {table}").collect()
    for row in rows:
        if row["key"] == WATERMARK_PROPERTY:
            return dt.datetime.strptime(row["value"], "%Y-%m-%dT%H:%M:%S")
    return None


def set_watermark(spark, table, value):
    spark.sql(f"ALTER TABLE {table} SET TBLPROPERTIES ('{WATERMARK_PROPERTY}' = '{value.strftime('%Y-%m-%dT%H:%M:%S')}')")


def run(spark, raw_path, table, fields, now, overlap_minutes=30, full_scan=False,
        window_seconds=DEFAULT_WINDOW_SECONDS, quarantine_path=None, rules=None, run_id=None, results_path=None):
    """One merge run: raw objects modified since the watermark (minus the overlap) and before
    ``now``; the watermark moves to ``now`` after the insert commits. A crash in between only
    makes the next run read the same objects again, which changes nothing.

    Returns ``{"inserted", "quarantined", "committed", "lastCommit"}``: lines without an event id or
    type go to ``quarantine_path`` (JSON lines with ``_reason``) when one is given, and are counted
    either way; ``committed`` says whether the table's main branch got a new snapshot. With ``rules``
    the insert is audited on a branch first (``audit``: the ``write_audit_publish`` outcome); a failed
    audit raises ``lakehouse_glue.AuditFailedError`` before the watermark moves."""
    ensure_table(spark, table)
    watermark = None if full_scan else get_watermark(spark, table)
    after = watermark - dt.timedelta(minutes=overlap_minutes) if watermark else None
    lines = read_raw(spark, raw_path, modified_after=after, modified_before=now).cache()
    args = (fields["id"], fields["type"], fields["subtype"], fields["time"])
    before = lg.last_commit(spark, table)
    counts = []
    audit = lg.write_audit_publish(spark, table, rules, lambda target: counts.append(
        merge(spark, dedup(normalize(lines, *args)), target, window_seconds)), run_id or now.strftime("%Y%m%dT%H%M%S"),
        results_path, now)
    inserted = counts[0]
    bad = rejected(lines, *args)
    if quarantine_path:
        quarantined = lg.write_quarantine(bad, f"{quarantine_path.rstrip('/')}/run={now.strftime('%Y%m%dT%H%M%S')}/", fmt="json",
                                          mode="overwrite")
    else:
        quarantined = bad.count()
    lines.unpersist()
    set_watermark(spark, table, now)
    last = lg.last_commit(spark, table)
    committed = last is not None and (before is None or last["snapshotId"] != before["snapshotId"])
    return {"inserted": inserted, "quarantined": quarantined, "committed": committed, "lastCommit": last, "audit": audit}


def reprocess(spark, raw_path, table, fields, now, rules=None, run_id=None, results_path=None):
    """Rebuilds the curated table from every raw object (the same ``normalize`` and ``dedup`` as a
    run) on an audit branch while readers keep reading main, audits it with ``rules`` and
    publishes it in one fast-forward (``lakehouse_glue.reprocess``); the watermark then moves to
    ``now``. Returns the outcome; a failed audit raises ``lakehouse_glue.AuditFailedError``."""
    ensure_table(spark, table)
    lines = read_raw(spark, raw_path, modified_before=now)
    args = (fields["id"], fields["type"], fields["subtype"], fields["time"])
    rows = dedup(normalize(lines, *args)).select(*COLUMNS).withColumn("ingested_at", F.current_timestamp())
    outcome = lg.reprocess(spark, table, rules, rows, run_id or now.strftime("%Y%m%dT%H%M%S"), results_path, now)
    set_watermark(spark, table, now)
    return outcome


def metrics(namespace, pipeline, table_name, result, run_seconds, now, failed=False, audit=None):
    """The run's merge metrics: one curated table (``Table`` = its name) and the run totals."""
    publisher = lg.MetricsPublisher(namespace, pipeline, now)
    result = result or {}
    publisher.add_table(table_name, rows_merged=result.get("inserted", 0), rows_quarantined=result.get("quarantined", 0),
                        committed=bool(result.get("committed")),
                        commit_age_seconds=lg.commit_age_seconds(result.get("lastCommit"), now), failed=failed)
    publisher.add_audit(table_name, audit if audit is not None else result.get("audit"))
    publisher.finish(run_seconds)
    return publisher


def main():  # pragma: no cover - runs inside Glue only
    import boto3
    from awsglue.context import GlueContext
    from awsglue.job import Job

    args = lg.parse_args(
        sys.argv,
        ["JOB_NAME", "raw_path", "catalog", "curated_database", "curated_table", "id_field", "type_field",
         "subtype_field", "time_field", "overlap_minutes"],
        {"metrics_namespace": None, "pipeline_name": None, "dedup_window_seconds": str(DEFAULT_WINDOW_SECONDS),
         "quarantine_path": None, "full_scan": None, **lg.QUALITY_ARGUMENTS},
    )
    started = time.monotonic()
    glue_context = GlueContext(SparkSession.builder.getOrCreate().sparkContext)
    spark = glue_context.spark_session
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    table = lg.fq_name(args["catalog"], args["curated_database"], args["curated_table"])
    fields = {"id": args["id_field"], "type": args["type_field"], "subtype": args["subtype_field"], "time": args["time_field"]}
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    result, failure = None, None
    run_id, results_path = args["JOB_RUN_ID"] or now.strftime("%Y%m%dT%H%M%S"), args["quality_results_path"]
    if args["operation"] not in lg.OPERATIONS or (args["table"] not in (None, args["curated_table"])):
        raise lg.GlueArgumentError(f"--operation must be one of {', '.join(lg.OPERATIONS)} and --table {args['curated_table']}")
    if args["operation"] == "rollback":
        print(json.dumps(lg.rollback(spark, table, None if args["snapshot_id"] is None else int(args["snapshot_id"]),
                                     args["to_timestamp"], results_path, run_id, now), default=str))
        job.commit()
        return
    try:
        rules = lg.load_quality_rules(spark, args["quality_rules"], args["quality_rules_path"]).get(args["curated_table"])
        if args["operation"] == "reprocess":
            outcome = reprocess(spark, args["raw_path"], table, fields, now, rules, run_id, results_path)
            result = {"inserted": 0, "quarantined": 0, "committed": outcome["published"], "audit": outcome,
                      "lastCommit": lg.last_commit(spark, table)}
        else:
            result = run(spark, args["raw_path"], table, fields, now, int(args["overlap_minutes"]),
                         args["full_scan"] not in (None, "", "false"), float(args["dedup_window_seconds"]), args["quarantine_path"],
                         rules, run_id, results_path)
        print(json.dumps({"streamingMerge": table, **result}, default=str))
    except Exception as err:  # publish TablesFailed (and a failed audit), then fail the run
        failure = err
    if args["metrics_namespace"]:
        publisher = metrics(args["metrics_namespace"], args["pipeline_name"] or args["curated_table"], args["curated_table"],
                            result, time.monotonic() - started, now, failed=failure is not None,
                            audit=getattr(failure, "outcome", None))
        publisher.publish(boto3.client("cloudwatch"))
    if failure is not None:
        raise failure
    job.commit()


if __name__ == "__main__":  # pragma: no cover
    main()
