"""Curated merge of StreamingDedupIngestion (Glue 5.0, Spark 3.5, Iceberg).

Reads the raw JSON-lines objects Firehose delivered since the last run (by S3 modification
time, with an overlap), keeps one row per event id, and MERGEs them into the curated Iceberg
table: an event id already in the table is left alone, so a duplicate that arrives after the
dedup window or through a retry changes nothing, and re-running a run changes nothing.

The logic is in plain functions (``normalize``, ``dedup``, ``merge``, ``run``) that the pytest
suite drives on a local SparkSession; ``main`` only wires Glue's arguments and job.
"""
import datetime as dt
import sys

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

WATERMARK_PROPERTY = "cdk-lakehouse.raw-watermark"
COLUMNS = ["event_id", "event_type", "event_subtype", "event_time", "payload"]


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


def normalize(lines, id_field, type_field, subtype_field, time_field):
    """Typed events from raw lines; lines without an id or type are dropped (the handler
    quarantined such records before they reached raw)."""
    value = F.col("value")
    events = lines.where(F.length(F.trim(value)) > 0).select(
        F.get_json_object(value, json_path(id_field)).alias("event_id"),
        F.get_json_object(value, json_path(type_field)).alias("event_type"),
        F.coalesce(F.get_json_object(value, json_path(subtype_field)), F.lit("none")).alias("event_subtype"),
        F.get_json_object(value, json_path(time_field)).cast("timestamp").alias("event_time"),
        F.trim(value).alias("payload"),
    )
    return events.where(F.col("event_id").isNotNull() & F.col("event_type").isNotNull())


def dedup(events):
    """One row per event id: the earliest event time wins, then the smallest payload, so the
    choice does not depend on file order."""
    window = Window.partitionBy("event_id").orderBy(F.col("event_time").asc_nulls_last(), F.col("payload").asc())
    return events.withColumn("_rank", F.row_number().over(window)).where(F.col("_rank") == 1).drop("_rank")


def merge(spark, events, table):
    """Inserts events whose id the table does not hold yet; returns how many it inserted."""
    target = {f.name: f.dataType for f in spark.table(table).schema.fields}
    source = events.select(*[F.col(c).cast(target[c]).alias(c) for c in COLUMNS]).withColumn(
        "ingested_at", F.current_timestamp().cast(target["ingested_at"])
    )
    before = spark.table(table).count()
    view = "streaming_merge_source"
    source.createOrReplaceTempView(view)
    spark.sql(
        f"""
        MERGE INTO {table} t
        USING {view} s
        ON t.event_id = s.event_id
        WHEN NOT MATCHED THEN INSERT *
        """
    )
    return spark.table(table).count() - before


def get_watermark(spark, table):
    """The start of the last successful run (UTC), or None before the first run."""
    rows = spark.sql(f"SHOW TBLPROPERTIES {table}").collect()
    for row in rows:
        if row["key"] == WATERMARK_PROPERTY:
            return dt.datetime.strptime(row["value"], "%Y-%m-%dT%H:%M:%S")
    return None


def set_watermark(spark, table, value):
    spark.sql(f"ALTER TABLE {table} SET TBLPROPERTIES ('{WATERMARK_PROPERTY}' = '{value.strftime('%Y-%m-%dT%H:%M:%S')}')")


def run(spark, raw_path, table, fields, now, overlap_minutes=30, full_scan=False):
    """One merge run: raw objects modified since the watermark (minus the overlap) and before
    ``now``; the watermark moves to ``now`` after the MERGE commits. A crash in between only
    makes the next run read the same objects again, which changes nothing."""
    watermark = None if full_scan else get_watermark(spark, table)
    after = watermark - dt.timedelta(minutes=overlap_minutes) if watermark else None
    lines = read_raw(spark, raw_path, modified_after=after, modified_before=now)
    events = dedup(normalize(lines, fields["id"], fields["type"], fields["subtype"], fields["time"]))
    inserted = merge(spark, events, table)
    set_watermark(spark, table, now)
    return inserted


def main():  # pragma: no cover - runs inside Glue only
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions

    args = getResolvedOptions(
        sys.argv,
        ["JOB_NAME", "raw_path", "catalog", "curated_database", "curated_table", "id_field", "type_field",
         "subtype_field", "time_field", "overlap_minutes"],
    )
    full_scan = "--full_scan" in sys.argv
    glue_context = GlueContext(SparkSession.builder.getOrCreate().sparkContext)
    spark = glue_context.spark_session
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    table = f"{args['catalog']}.{args['curated_database']}.{args['curated_table']}"
    fields = {"id": args["id_field"], "type": args["type_field"], "subtype": args["subtype_field"], "time": args["time_field"]}
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    inserted = run(spark, args["raw_path"], table, fields, now, int(args["overlap_minutes"]), full_scan)
    print(f"merged {inserted} new events into {table}")
    job.commit()


if __name__ == "__main__":  # pragma: no cover
    main()
