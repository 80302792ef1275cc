"""ApiPullIngestion transform (AWS Glue 5.0: Spark 3.5, Python 3.11, Iceberg).

Reads one run's raw pages (listed in the run manifest the puller wrote last), explodes the
records array at the configured JSON path, flattens nested objects into columns and MERGEs the
rows into a curated Iceberg table keyed by the record id, so a re-run of a window updates rows
instead of doubling them. Records without an id go to the quarantine prefix with the reason.

The functions below are pure Spark (no Glue imports) so they run under a local SparkSession in
the tests; ``main()`` is the Glue entry point.

With quality rules for the table (``--quality_rules`` / ``--quality_rules_path``) the MERGE goes
through write-audit-publish (``lakehouse_glue.write_audit_publish``: an audit branch, the rules, a
fast-forward of main); ``--operation rollback`` rolls main back (``lakehouse_glue.rollback``).
See docs/write-audit-publish.md.
"""
import datetime as dt
import json
import re
import sys
import time
from typing import Dict, List, Optional, Tuple

import lakehouse_glue as lg
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

#: Metadata columns added to every row (the run that brought the row in).
META_COLUMNS = ["_run_id", "_window_start", "_window_end", "_ingested_at", "_source_key"]

_PAGE_NUMBER = re.compile(r"page-(\d+)\.json$")


class TransformError(Exception):
    """A run that cannot be transformed (bad manifest, bad arguments)."""


def column_name(path: str) -> str:
    """A Glue/Athena-safe column name for a dotted field path (``meta.createdAt`` → ``meta_created_at``)."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", path).lower()
    name = re.sub(r"[^a-z0-9_]+", "_", name).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name or not name[0].isalpha():
        name = "c_" + name
    return name


def parse_manifest(text: str) -> dict:
    """Reads a run manifest and checks it names a finished run."""
    try:
        manifest = json.loads(text)
    except ValueError as err:
        raise TransformError(f"the run manifest is not JSON: {err}") from err
    for field in ("runId", "endpoint", "windowStart", "windowEnd", "pageList"):
        if field not in manifest:
            raise TransformError(f"the run manifest has no {field!r}")
    return manifest


def read_manifest(spark: SparkSession, url: str) -> str:
    """The run manifest's text (``lakehouse_glue.read_text``: Spark's readers skip ``_manifest.json``
    on purpose, so that readers of the raw pages never take it for data)."""
    text = lg.read_text(spark, url)
    if text is None:
        raise TransformError(f"no run manifest at {url}: the pull did not finish (re-run the window)")
    return text


def page_urls(manifest: dict, manifest_url: str) -> List[str]:
    """URLs of the manifest's pages, in page order, next to the manifest (same bucket or folder).

    Page keys are bucket keys; the manifest sits in the same run prefix as its pages, so the
    bucket root is the manifest URL minus ``<run prefix>_manifest.json``.
    """
    pages = sorted(manifest["pageList"], key=lambda p: p["page"])
    if not pages:
        return []
    run_prefix = pages[0]["key"].rsplit("/", 1)[0] + "/"
    suffix = run_prefix + "_manifest.json"
    if not manifest_url.endswith(suffix):
        raise TransformError(f"the manifest {manifest_url} is not in the run prefix of its pages ({run_prefix})")
    root = manifest_url[: len(manifest_url) - len(suffix)]
    return [root + p["key"] for p in pages]


def records_path_keys(records_path: str) -> List[str]:
    """``$.data.items`` → ``["data", "items"]``; ``$`` → ``[]``."""
    if records_path == "$":
        return []
    if not re.match(r"^\$(\.[A-Za-z0-9_\-]+)+$", records_path):
        raise TransformError(f"records path {records_path!r} is not $ or $.key(.key)*")
    return records_path[2:].split(".")


def read_records(spark: SparkSession, urls: List[str], records_path: str) -> DataFrame:
    """One row per record of the pages, with ``_source_key``, ``_page`` and ``_position``.

    Each page is read as one JSON document (``multiLine``); the records array at ``records_path``
    is exploded with its position so that, for a record that appears twice in a run, the later
    one wins.
    """
    keys = records_path_keys(records_path)
    if not urls:
        return spark.createDataFrame([], T.StructType([]))
    if not keys:
        # Pages that are arrays: Spark reads each element of a top-level array as a row, in order.
        pages = spark.read.option("multiLine", True).json(urls).withColumn("_source_key", F.input_file_name())
        exploded = pages.select(F.struct(*[F.col(f"`{c}`") for c in pages.columns if c != "_source_key"]).alias("record"), "_source_key") \
            .withColumn("_position", F.monotonically_increasing_id())
    else:
        pages = spark.read.option("multiLine", True).json(urls).withColumn("_source_key", F.input_file_name())
        if "_corrupt_record" in pages.columns:
            raise TransformError("the file is not one valid JSON document")
        if keys[0] not in pages.columns:
            raise TransformError(f"no records array at {records_path!r}")
        container = F.col(f"`{keys[0]}`")
        for key in keys[1:]:
            container = container.getField(key)
        exploded = pages.select(F.posexplode_outer(container).alias("_position", "record"), "_source_key").where(F.col("record").isNotNull())
    page = F.regexp_extract(F.col("_source_key"), r"page-(\d+)\.json$", 1)
    exploded = exploded.withColumn("_page", F.when(page == "", F.lit(0)).otherwise(page.cast("int")))
    record_type = exploded.schema["record"].dataType
    if isinstance(record_type, T.StructType):
        return exploded.select("record.*", "_source_key", "_page", "_position")
    return exploded.select(F.col("record").alias("value"), "_source_key", "_page", "_position")


def flatten(df: DataFrame, keep: Tuple[str, ...] = ("_source_key", "_page", "_position")) -> DataFrame:
    """Nested objects become columns (``a.b.c`` → ``a_b_c``); arrays and maps become JSON strings."""
    columns: List[Column] = []
    names: Dict[str, str] = {}

    def walk(field_type: T.DataType, path: List[str], expr: Column):
        if isinstance(field_type, T.StructType):
            for field in field_type.fields:
                walk(field.dataType, path + [field.name], expr.getField(field.name))
            return
        name = column_name("_".join(path)) if path[0] not in keep else path[0]
        if name in names:
            raise TransformError(f"fields {names[name]!r} and {'.'.join(path)!r} both map to column {name!r}")
        names[name] = ".".join(path)
        if isinstance(field_type, (T.ArrayType, T.MapType)):
            expr = F.to_json(expr)
        columns.append(expr.alias(name))

    for field in df.schema.fields:
        walk(field.dataType, [field.name], F.col(f"`{field.name}`"))
    return df.select(*columns)


def prepare(df: DataFrame, record_id: str, manifest: dict) -> Tuple[DataFrame, DataFrame]:
    """Adds the run's metadata, splits off records without an id, keeps the last copy of each id.

    Returns ``(rows to merge, records to quarantine)``. Everything is derived from the manifest, so
    a re-run of the same run produces the same rows.
    """
    id_col = column_name(record_id.replace(".", "_"))
    if id_col not in df.columns:
        raise TransformError(f"no record has the id field {record_id!r} (columns: {', '.join(sorted(df.columns))})")
    with_meta = (
        df.withColumn("_run_id", F.lit(manifest["runId"]))
        .withColumn("_window_start", F.lit(manifest["windowStart"]).cast("timestamp"))
        .withColumn("_window_end", F.lit(manifest["windowEnd"]).cast("timestamp"))
        .withColumn("_ingested_at", F.lit(manifest.get("completedAt") or manifest["windowEnd"]).cast("timestamp"))
    )
    without_id = with_meta.where(F.col(id_col).isNull()).withColumn("_reason", F.lit(f"record has no id field {record_id!r}"))
    order = Window.partitionBy(id_col).orderBy(F.col("_page").desc(), F.col("_position").desc())
    rows = (
        with_meta.where(F.col(id_col).isNotNull())
        .withColumn("_rank", F.row_number().over(order))
        .where(F.col("_rank") == 1)
        .drop("_rank", "_page", "_position")
    )
    return rows, without_id


def merge_into(spark: SparkSession, rows: DataFrame, ident: str, record_id_col: str, location: Optional[str] = None,
               audit: Optional[dict] = None) -> Optional[dict]:
    """MERGE the rows into an Iceberg table by id: matched rows are updated, new rows inserted.

    The table is created on first use (``lakehouse_glue.ICEBERG_TABLE_PROPERTIES``) and gains a
    column for each new field; a column the run lacks is written as null; a value is cast to the
    column's existing type (JSON inference may type a field differently from run to run).

    ``audit`` (``{"rules", "run_id", "results_path"}``) sends the MERGE through
    ``lakehouse_glue.write_audit_publish`` and returns its outcome (a failed audit raises)."""
    lg.create_or_evolve_table(spark, ident, rows.schema, location=location, keep_types=True)
    audit = audit or {}
    return lg.write_audit_publish(spark, ident, audit.get("rules"), lambda target: lg.merge_by_key(
        spark, rows, target, [record_id_col], strict=False), audit.get("run_id") or "run", audit.get("results_path"))


def write_quarantine(records: DataFrame, url: str) -> int:
    """Writes records that could not be merged (with ``_reason``) as JSON lines; returns the count."""
    return lg.write_quarantine(records, url, fmt="json", mode="overwrite", drop=("_page", "_position"))


def transform_run(spark: SparkSession, manifest_url: str, records_path: str, record_id: str, table_ident: str,
                  quarantine_url: str, location: Optional[str] = None, audit: Optional[dict] = None) -> Dict[str, int]:
    """The whole transform of one run; returns counts."""
    manifest = parse_manifest(read_manifest(spark, manifest_url))
    urls = page_urls(manifest, manifest_url)
    if not urls or manifest.get("records", 1) == 0:
        return {"merged": 0, "quarantined": 0}
    flat = flatten(read_records(spark, urls, records_path))
    rows, without_id = prepare(flat, record_id, manifest)
    rows = rows.cache()
    merged = rows.count()
    outcome = None
    if merged:
        audit = dict(audit or {}, run_id=(audit or {}).get("run_id") or manifest["runId"])
        outcome = merge_into(spark, rows, table_ident, column_name(record_id.replace(".", "_")), location, audit)
    quarantined = write_quarantine(without_id, f"{quarantine_url.rstrip('/')}/{manifest['endpoint']}/window={manifest['runId']}/records/")
    rows.unpersist()
    return {"merged": merged, "quarantined": quarantined, **({"audit": outcome} if outcome and outcome["branch"] else {})}


def upload_format(url: str) -> str:
    """``csv``, ``json`` (one document: an array, or an object holding the records) or ``jsonl``."""
    name = url.lower().rsplit("/", 1)[-1]
    for ext, fmt in ((".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json")):
        if name.endswith(ext):
            return fmt
    raise TransformError(f"{url}: unknown file type (upload .csv, .json, .jsonl or .ndjson)")


def read_upload(spark: SparkSession, url: str, records_path: str) -> DataFrame:
    """Reads an uploaded file strictly: any malformed line or document raises."""
    fmt = upload_format(url)
    if fmt == "csv":
        df = spark.read.option("header", True).option("mode", "FAILFAST").option("inferSchema", True).option("enforceSchema", False).csv(url)
        df = df.withColumn("_source_key", F.input_file_name()).withColumn("_page", F.lit(1)).withColumn("_position", F.monotonically_increasing_id())
    elif fmt == "jsonl":
        df = spark.read.option("mode", "FAILFAST").json(url)
        df = df.withColumn("_source_key", F.input_file_name()).withColumn("_page", F.lit(1)).withColumn("_position", F.monotonically_increasing_id())
    else:
        df = read_records(spark, [url], records_path)
        if "_corrupt_record" in df.columns:
            raise TransformError("the file is not one valid JSON document")
    df.cache().count()  # forces the strict parse now, inside the caller's error handling
    return df


def transform_upload(spark: SparkSession, url: str, records_path: str, record_id: str, table_ident: str, quarantine_url: str,
                     location: Optional[str] = None, audit: Optional[dict] = None) -> Dict[str, object]:
    """Merges an uploaded CSV/JSON file like a pulled run; a file that cannot be used goes to quarantine with the reason.

    Returns counts and, for a quarantined file, the reason. Never raises for bad content: the file is
    kept in quarantine and the workflow moves it out of the drop.
    """
    name = url.rstrip("/").rsplit("/", 1)[-1]
    run_id = "upload-" + re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    try:
        df = read_upload(spark, url, records_path)
        flat = flatten(df)
        if flat.count() == 0:
            raise TransformError("the file holds no records")
        manifest = {"runId": run_id, "windowStart": None, "windowEnd": None, "completedAt": None}
        rows, without_id = prepare(flat, record_id, manifest)
    except Exception as err:  # noqa: BLE001 - any parse problem quarantines the file with its message
        reason = error_reason(err)
        quarantine_file(spark, url, f"{quarantine_url.rstrip('/')}/_uploads/{name}", reason)
        return {"merged": 0, "quarantined": 1, "reason": reason}
    rows = rows.cache()
    merged = rows.count()
    outcome = None
    if merged:
        audit = dict(audit or {}, run_id=(audit or {}).get("run_id") or run_id)
        outcome = merge_into(spark, rows, table_ident, column_name(record_id.replace(".", "_")), location, audit)
    quarantined = write_quarantine(without_id, f"{quarantine_url.rstrip('/')}/_uploads/{name}.records/")
    return {"merged": merged, "quarantined": quarantined, **({"audit": outcome} if outcome and outcome["branch"] else {})}


def error_reason(err: Exception) -> str:
    """A one-line reason: the root cause of a JVM error (Py4J's own message only says which call failed)."""
    java = getattr(err, "java_exception", None)
    if java is not None:
        cause = java
        while cause.getCause() is not None:
            cause = cause.getCause()
        text = f"{cause.getClass().getSimpleName()}: {cause.getMessage()}"
    else:
        text = str(err).strip() or type(err).__name__
    return text.strip().splitlines()[0][:1000]


def quarantine_file(spark: SparkSession, url: str, target: str, reason: str) -> None:
    """Copies a file to ``target`` and writes ``target.reason.json`` beside it (Hadoop FileSystem)."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    src = jvm.org.apache.hadoop.fs.Path(url)
    dst = jvm.org.apache.hadoop.fs.Path(target)
    jvm.org.apache.hadoop.fs.FileUtil.copy(src.getFileSystem(conf), src, dst.getFileSystem(conf), dst, False, True, conf)
    lg.write_text(spark, target + ".reason.json", json.dumps({"source": url, "reason": reason}))


def commit_state(spark: SparkSession, ident: str) -> Optional[dict]:
    """The table's last commit (``lakehouse_glue.last_commit``), None before the table exists."""
    return lg.last_commit(spark, ident) if lg.fq_table_exists(spark, ident) else None


def metrics(namespace: str, pipeline: str, table_name: str, counts: Optional[Dict[str, object]], before: Optional[dict],
            after: Optional[dict], run_seconds: float, now: dt.datetime, failed: bool = False,
            audit: Optional[dict] = None) -> "lg.MetricsPublisher":
    """The run's merge metrics: the curated table (``Table`` = its name) and the run totals.
    ``before``/``after`` are the table's last commit around the run: a new snapshot on main is a
    ``TableCommits`` of 1; ``CommitAgeSeconds`` is measured on ``after``."""
    counts = counts or {}
    committed = after is not None and (before is None or after["snapshotId"] != before["snapshotId"])
    publisher = lg.MetricsPublisher(namespace, pipeline, now)
    publisher.add_table(table_name, rows_merged=int(counts.get("merged", 0)), rows_quarantined=int(counts.get("quarantined", 0)),
                        committed=committed, commit_age_seconds=lg.commit_age_seconds(after, now), failed=failed)
    publisher.add_audit(table_name, audit if audit is not None else counts.get("audit"))
    publisher.finish(run_seconds)
    return publisher


def main() -> None:  # pragma: no cover - runs in Glue
    import boto3

    common = ["records_path", "record_id", "table", "catalog", "database", "warehouse", "quarantine_url"]
    upload = "--upload_url" in sys.argv
    args = lg.parse_args(sys.argv, common + (["upload_url", "endpoint"] if upload else ["manifest_url"]),
                         {"metrics_namespace": None, "pipeline_name": None, **lg.QUALITY_ARGUMENTS})
    started = time.monotonic()
    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    ident = f"{args['catalog']}.{args['database']}.{args['table']}"
    location = f"{args['warehouse'].rstrip('/')}/{args['table']}"
    if args["operation"] == "rollback":
        print(json.dumps(lg.rollback(spark, ident, None if args["snapshot_id"] is None else int(args["snapshot_id"]),
                                     args["to_timestamp"], args["quality_results_path"], args["JOB_RUN_ID"], now), default=str))
        return
    if args["operation"] != "merge":
        raise lg.GlueArgumentError(f"--operation {args['operation']} is not supported by the API-pull transform (merge, rollback)")
    before = commit_state(spark, ident)
    counts, failure = None, None
    try:
        audit = {"rules": lg.load_quality_rules(spark, args["quality_rules"], args["quality_rules_path"]).get(args["table"]),
                 "run_id": args["JOB_RUN_ID"], "results_path": args["quality_results_path"]}
        if upload:
            quarantine = f"{args['quarantine_url'].rstrip('/')}/{args['endpoint']}"
            counts = transform_upload(spark, args["upload_url"], args["records_path"], args["record_id"], ident, quarantine, location,
                                      audit)
        else:
            counts = transform_run(spark, args["manifest_url"], args["records_path"], args["record_id"], ident,
                                   args["quarantine_url"], location, audit)
        print(json.dumps({"transform": "api-pull", "table": ident, **counts}))
    except Exception as err:  # publish TablesFailed, then fail the run
        failure = err
    if args["metrics_namespace"]:
        publisher = metrics(args["metrics_namespace"], args["pipeline_name"] or args["table"], args["table"], counts, before,
                            commit_state(spark, ident), time.monotonic() - started, now, failed=failure is not None,
                            audit=getattr(failure, "outcome", None))
        publisher.publish(boto3.client("cloudwatch"))
    if failure is not None:
        raise failure


if __name__ == "__main__":  # pragma: no cover
    main()
