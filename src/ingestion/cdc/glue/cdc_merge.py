"""Curated merge of CdcIngestion (AWS Glue 5.0: Spark 3.5, Python 3.11, Iceberg 1.7).

DMS lands every source table as Parquet in the raw bucket (``<raw_prefix><schema>/<table>/``):
full-load files ``LOAD*.parquet`` and CDC files ``<yyyy>/<mm>/<dd>/<timestamp>.parquet``, each
row with ``Op`` (I/U/D), ``_dms_commit_ts`` and ``_dms_change_seq`` in front of the source
columns. Slow sources without DMS ("pull" mode) are read over JDBC by a watermark column and
landed in the same layout (``pull/<yyyy>/<mm>/<dd>/<run-id>.parquet``), so one merge path
serves both.

Per table, a run reads the files its ledger does not list yet, orders the changes of every
primary key (full load before CDC, then change sequence, commit time, file name, row in file),
keeps the last one and MERGEs it into the curated Iceberg table: ``D`` deletes, ``I``/``U``
upsert. The order of the applied change is stored in the row (``_cdc_order``), so a change
never overwrites a newer one and merging the same changes again is a no-op. Rows that cannot
be merged go to the quarantine prefix with a ``_reason``, counted.

Columns the curated table adds to the source columns: ``_cdc_op`` (I/U of the applied change;
rows of deleted keys are removed), ``_cdc_commit_ts``, ``_cdc_change_seq`` (null for full-load and
pull rows) and ``_cdc_order`` (the sort key above as one string: ``<phase>|<change seq, padded to
35>|<commit ts in epoch micros, padded to 20>|<file path> <row in file, padded to 12>``, the last
part empty when the change has a sequence, which is unique).

A delete leaves a tombstone (the key and the change's ``_cdc_order``) in a hidden Iceberg table
next to the curated one (``<curated>__cdc_tombstones``); a change applies only if it is newer than
the key's row or tombstone, so the curated table equals the source whatever order files arrive in
(a late insert of a never-seen key is applied, a late insert of a key deleted later is not).
Readers query the curated table, which holds only live rows. Pull mode cannot see deletes.

How a batch is merged (``merge_table``): when its smallest ``_cdc_order`` is above the ledger's
``maxOrder`` (changes arrive in order: the normal case) every change is newer than the table, so
one MERGE guarded by the order applies each key's last change, then one MERGE records the
deletes' tombstones, without classifying the changes against the table first (``one-pass``).
Late or re-delivered files, or a lost ledger, take the classify path below (``classify``); both
paths give the same tables (``test_cdc_one_pass.py``).

Maintenance (``maintenance``, on by default): compaction (``rewrite_data_files``: data files with
deletes rewritten, small files binned, dangling delete files dropped) runs only when deleted rows
reach ``COMPACT_DELETED_RATIO`` of the table's rows or the table has ``COMPACT_SMALL_FILES``
small files (``compaction_reason``), not after every merge; snapshots are expired when some are
older than the retention. Tables are merged ``DEFAULT_PARALLELISM`` at a time (threads of one
Spark session); a table without new files costs a ledger read and one flat listing on S3.

Column types: a source column widened as Iceberg allows (int to long, float to double, decimal
precision) widens the curated column; any other type change fails the table, naming it, the
column, the old and new type and the file, before anything is written. A failing table never
stops the others: the run merges every other table, then raises ``CdcRunFailed`` naming every
failed one (``TablesFailed`` in the metrics). Two source tables (or two specs) mapping to one
curated table are refused, both named.

Layout under the state prefix (in the raw bucket):

- ``ledger/<schema>/<table>.json``: ``{"version": 1, "files": {<path in table folder>: <run>},
  "maxOrder": <largest _cdc_order merged>, "lastCommitTs": <ISO>, "tombstoneHorizon": <the
  maxOrder of a table merged before tombstones existed, else null>, "updatedAt": <ISO>}``,
  written after the Iceberg commit. Entries whose file no longer exists in raw are dropped.
- ``watermarks/<schema>/<table>.json`` (pull mode): ``{"column": ..., "value": <text of the
  largest value pulled, as PostgreSQL prints it>, "updatedAt": ...}``, written after the merge.

Quarantine: ``<quarantine_prefix><schema>/<table>/<run-id>/part-*.parquet`` with the row's
columns plus ``_reason`` (``null_primary_key``, ``invalid_op``, and ``late_change_for_absent_key`` for an
absent key's change not newer than ``tombstoneHorizon``)
and ``_source_file``.

The functions below take plain arguments and a SparkSession (no Glue imports) so the tests run
them on a local SparkSession; ``main()`` is the Glue entry point.

The pieces every merge job shares come from ``lakehouse_glue`` (``import lakehouse_glue as lg``;
``MergeJob`` ships it with ``--extra-py-files``): identifiers (``quote``, ``fq_name``), table checks,
Iceberg's type rules (``fits``, ``iceberg_can_widen``, ``type_sql``), the table properties, small
files and state documents (``read_text``, ``RunLedger``), quarantine writing, the metrics
(``MetricsPublisher``) and the job arguments (``parse_args``). The MERGEs stay here: their type
check fails a table with ``CdcTypeError`` naming the source table, and their source views get
unique names (``uuid4``) since tables merge in parallel threads of one session.
"""
import datetime as dt
import fnmatch
import json
import re
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

import lakehouse_glue as lg

#: The columns DMS writes in front of the source columns.
DMS_OP, DMS_COMMIT_TS, DMS_CHANGE_SEQ = "Op", "_dms_commit_ts", "_dms_change_seq"
DMS_COLUMNS = [DMS_OP, DMS_COMMIT_TS, DMS_CHANGE_SEQ]

#: The columns the curated table holds besides the source columns: the applied change.
#: ``_cdc_order`` is an opaque string that sorts like the ordering rule (see ``order_key``).
CDC_COLUMNS = [
    ("_cdc_op", T.StringType()),
    ("_cdc_commit_ts", T.TimestampType()),
    ("_cdc_change_seq", T.StringType()),
    ("_cdc_order", T.StringType()),
]
CDC_COLUMN_NAMES = [name for name, _ in CDC_COLUMNS]

#: Internal columns of a run (never stored in the curated table).
FILE_COL, ROW_COL, PHASE_COL = "_cdc_file", "_cdc_row", "_cdc_phase"

VALID_OPS = ("I", "U", "D")
CHANGE_SEQ_WIDTH = 35
LEDGER_VERSION = 1
RETAIN_LAST_SNAPSHOTS = 5


class CdcError(Exception):
    """A run or a table that cannot go on (bad arguments, a table without its key column)."""


class CdcTypeError(CdcError):
    """A column whose type changed in a way Iceberg cannot widen to: the table is not merged."""


class CdcRunFailed(CdcError):
    """Raised at the end of a run in which some tables failed; every other table was merged.
    ``results`` holds one result per table (failed ones with ``failed`` and ``error``)."""

    def __init__(self, message: str, results: List[dict]):
        super().__init__(message)
        self.results = results


# --------------------------------------------------------------------------- names and specs


def curated_table_name(prefix: str, schema: str, table: str) -> str:
    """The curated Iceberg table of source ``schema.table``:
    ``(prefix + schema + "_" + table)`` lowercased, every character outside ``[a-z0-9_]``
    replaced by ``_`` (one ``_`` per character, no trimming or collapsing)."""
    return re.sub(r"[^a-z0-9_]", "_", f"{prefix}{schema}_{table}".lower())


def parse_tables(text: str) -> List[dict]:
    """The ``--tables`` JSON array, checked."""
    try:
        specs = json.loads(text)
    except ValueError as err:
        raise CdcError(f"--tables is not JSON: {err}") from err
    if not isinstance(specs, list) or not specs:
        raise CdcError("--tables must be a non-empty JSON array of table specs")
    for spec in specs:
        for field in ("name", "schema", "table", "primaryKey"):
            if field not in spec:
                raise CdcError(f"table spec {spec!r} has no {field!r}")
        if not spec["primaryKey"]:
            raise CdcError(f"table spec {spec['name']} has an empty primaryKey")
        spec.setdefault("mode", "cdc")
        if spec["mode"] not in ("cdc", "pull"):
            raise CdcError(f"table spec {spec['name']}: mode must be 'cdc' or 'pull', not {spec['mode']!r}")
        if spec["mode"] == "pull":
            if not spec.get("watermarkColumn"):
                raise CdcError(f"pull table spec {spec['name']} has no watermarkColumn")
            if "*" in spec["schema"] or "*" in spec["table"]:
                raise CdcError(f"pull table spec {spec['name']} cannot use wildcards")
    return specs


def run_id_of(now: dt.datetime) -> str:
    """A run id that sorts by time (``yyyymmdd-hhmmssffffff``)."""
    return now.strftime("%Y%m%d-%H%M%S%f")


def join_url(root: str, *parts: str) -> str:
    """``root`` (a folder URL ending with /) plus relative parts."""
    url = root if root.endswith("/") else root + "/"
    for part in parts:
        url += part
    return url


# --------------------------------------------------------------------------- Hadoop FileSystem


def _hidden(name: str) -> bool:
    return name.startswith("_") or name.startswith(".")


def list_folders(spark: SparkSession, url: str) -> List[str]:
    """Names of the (non-hidden) sub-folders of ``url``, sorted; [] if it does not exist."""
    fs, path = lg._path(spark, url)
    if not fs.exists(path):
        return []
    names = [s.getPath().getName() for s in fs.listStatus(path) if s.isDirectory()]
    return sorted(n for n in names if not _hidden(n))


def list_parquet_files(spark: SparkSession, table_url: str, flat: Optional[bool] = None) -> List[Tuple[str, str]]:
    """``(path relative to the table folder, URL)`` of every Parquet file below ``table_url``,
    recursively, skipping hidden (``_``/``.``) files and folders; sorted by relative path.

    On an object store (``flat``, the default for any scheme but ``file``) one recursive
    ``listFiles`` call: on S3 (S3A, EMRFS) a flat, paginated listing of the prefix, one LIST
    request per 1,000 objects, instead of one request per date folder. On the local file system
    the folders are walked with ``listStatus``: there a LIST costs nothing, while ``listFiles``
    builds a ``LocatedFileStatus`` per file, for which Hadoop's local file system runs a shell
    command to read the file's owner and permissions (about 10x slower, measured)."""
    fs, root = lg._path(spark, table_url)
    if not fs.exists(root):
        return []
    if flat is None:
        flat = fs.getScheme() != "file"
    out = []
    if not flat:
        stack = [(root, "")]
        while stack:
            folder, rel = stack.pop()
            for status in fs.listStatus(folder):
                name = status.getPath().getName()
                if _hidden(name):
                    continue
                if status.isDirectory():
                    stack.append((status.getPath(), rel + name + "/"))
                elif name.endswith(".parquet"):
                    out.append((rel + name, status.getPath().toString()))
        return sorted(out)
    base = fs.makeQualified(root).toUri().getPath().rstrip("/") + "/"
    found = fs.listFiles(root, True)
    while found.hasNext():
        path = found.next().getPath()
        decoded = path.toUri().getPath()
        rel = decoded[len(base):] if decoded.startswith(base) else path.getName()
        if rel.endswith(".parquet") and not any(_hidden(part) for part in rel.split("/")):
            out.append((rel, path.toString()))
    return sorted(out)


# --------------------------------------------------------------------------- state


def ledger_url(state_root: str, schema: str, table: str) -> str:
    return join_url(state_root, "ledger/", schema, "/", table, ".json")


def watermark_url(state_root: str, schema: str, table: str) -> str:
    return join_url(state_root, "watermarks/", schema, "/", table, ".json")


def load_ledger(spark: SparkSession, state_root: str, schema: str, table: str) -> dict:
    ledger = lg.RunLedger(spark, ledger_url(state_root, schema, table)).load()
    if ledger is None:
        return {"version": LEDGER_VERSION, "files": {}, "maxOrder": None, "lastCommitTs": None, "tombstoneHorizon": None}
    if ledger.get("version") != LEDGER_VERSION:
        raise CdcError(f"unknown ledger version {ledger.get('version')!r} for {schema}.{table}")
    if "tombstoneHorizon" not in ledger:
        # Merged by a job version without tombstones: deletes up to here left no trace, so an
        # absent key's change not newer than what was merged after CDC began stays ambiguous.
        order = ledger.get("maxOrder")
        ledger["tombstoneHorizon"] = order if order and order.startswith("1") else None
    return ledger


def save_ledger(spark: SparkSession, state_root: str, schema: str, table: str, ledger: dict, now: dt.datetime) -> None:
    lg.RunLedger(spark, ledger_url(state_root, schema, table)).save(ledger, now)


def expand_spec(spark: SparkSession, raw_table_root: str, spec: dict) -> List[Tuple[str, str]]:
    """The ``(schema, table)`` folders a spec names; ``*`` wildcards match folder names."""
    schema_pat, table_pat = spec["schema"], spec["table"]
    if "*" not in schema_pat and "*" not in table_pat:
        return [(schema_pat, table_pat)]
    found = []
    schemas = [schema_pat] if "*" not in schema_pat else [
        s for s in list_folders(spark, raw_table_root) if fnmatch.fnmatchcase(s, schema_pat)]
    for schema in schemas:
        for table in list_folders(spark, join_url(raw_table_root, schema, "/")):
            if "*" in table_pat and fnmatch.fnmatchcase(table, table_pat) or table == table_pat:
                found.append((schema, table))
    return found


# --------------------------------------------------------------------------- column types


# --------------------------------------------------------------------------- reading changes


def file_schema(spark: SparkSession, url: str) -> T.StructType:
    """The Spark schema of one Parquet file, from its footer (read on the driver, as Spark's
    own schema inference does), without reading any row."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    source = jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(jvm.org.apache.hadoop.fs.Path(url), conf)
    reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(source)
    try:
        message = reader.getFooter().getFileMetaData().getSchema()
    finally:
        reader.close()
    converter = jvm.org.apache.spark.sql.execution.datasources.parquet.ParquetToSparkSchemaConverter(
        spark._jsparkSession.sessionState().conf())
    return T.StructType.fromJson(json.loads(converter.convert(message).json()))


def unify_file_schemas(label: str, schemas: List[Tuple[str, T.StructType]]) -> Tuple[T.StructType, Dict[str, str]]:
    """One schema for the files of a run: every column of any file (first spelling, first
    appearance order), each with the widest of its types when every other type fits in it
    (``fits``). Returns the schema and, per column (lowercased), the file that brought the type.
    Two types neither of which fits in the other fail the table, naming both files."""
    fields: Dict[str, T.StructField] = {}
    origin: Dict[str, str] = {}
    for rel, schema in schemas:
        for field in schema.fields:
            key = field.name.lower()
            known = fields.get(key)
            if known is None:
                fields[key], origin[key] = T.StructField(field.name, lg._norm(field.dataType), True), rel
            elif lg.fits(field.dataType, known.dataType):
                continue
            elif lg.fits(known.dataType, field.dataType):
                fields[key], origin[key] = T.StructField(known.name, lg._norm(field.dataType), True), rel
            else:
                raise CdcTypeError(
                    f"{label}: column {known.name!r} is {lg.type_sql(known.dataType)} in {origin[key]} but "
                    f"{lg.type_sql(field.dataType)} in {rel}, and neither type holds every value of the other; "
                    "nothing of this table was merged. Fix: restore the column's type at the source, or move the "
                    "files of one type out of the raw folder and recreate the curated table")
    return T.StructType(list(fields.values())), origin


def read_changes(spark: SparkSession, table_url: str, files: List[Tuple[str, str]],
                 label: Optional[str] = None) -> Tuple[DataFrame, Dict[str, str]]:
    """The rows of ``files`` (``(relative path, URL)`` below ``table_url``) in one schema (see
    ``unify_file_schemas``: a column some files lack is null there; a narrower type is cast,
    losslessly, to the widest), with the file's path relative to the table folder, the row's
    position in its file and the file's phase; and the file each column's type came from. Files
    of one schema are read together. A file without ``_dms_change_seq`` gets nulls there; files
    without ``Op`` are an error."""
    label = label or table_url
    schemas = [(rel, url, file_schema(spark, url)) for rel, url in files]
    unified, origin = unify_file_schemas(label, [(rel, schema) for rel, _, schema in schemas])
    names = {f.name.lower() for f in unified.fields}
    if DMS_OP.lower() not in names or DMS_COMMIT_TS.lower() not in names:
        raise CdcError(f"the files under {table_url} have no {DMS_OP} or {DMS_COMMIT_TS} column: "
                       "they were not written by the CdcIngestion DMS endpoint")
    if DMS_CHANGE_SEQ.lower() not in names:
        unified = T.StructType(unified.fields + [T.StructField(DMS_CHANGE_SEQ, T.StringType(), True)])
    groups: Dict[str, List[Tuple[str, T.StructType]]] = {}
    for _, url, schema in schemas:
        groups.setdefault(schema.simpleString(), []).append((url, schema))
    # Spark names a row's file by its URL-encoded URI, whose scheme part may be spelled unlike the
    # folder's (file:/ or file:///): the relative path is what follows the folder's encoded path.
    folder = spark._jvm.org.apache.hadoop.fs.Path(table_url).toUri().getRawPath().rstrip("/") + "/"
    path = F.col("_metadata.file_path")
    at = F.locate(folder, path)
    rel = F.when(at > 0, path.substr(at + F.lit(len(folder)), F.lit(1 << 20))).otherwise(path)
    phase = F.when(F.regexp_extract(rel, r"([^/]*)$", 1).startswith("LOAD"), F.lit(0)).otherwise(F.lit(1))
    frames = []
    for members in groups.values():
        schema = T.StructType([T.StructField(f.name, f.dataType, True) for f in members[0][1].fields])
        df = spark.read.schema(schema).parquet(*[url for url, _ in members])
        have = {f.name.lower(): f for f in schema.fields}
        columns = [
            (F.col(lg.quote(have[f.name.lower()].name)).cast(f.dataType) if f.name.lower() in have
             else F.lit(None).cast(f.dataType)).alias(f.name)
            for f in unified.fields
        ]
        frames.append(df.select(*columns, rel.alias(FILE_COL), F.col("_metadata.row_index").alias(ROW_COL),
                                phase.alias(PHASE_COL)))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out, origin


def order_key() -> F.Column:
    """A string that sorts like the ordering rule: phase, then change sequence, then commit
    time, then file name, then row in file. DMS change sequences are unique per change, so
    for a row that has one the file and row parts are left empty: the same change delivered
    in a second file gets the same key and is recognised as already applied."""
    seq = F.coalesce(F.col(DMS_CHANGE_SEQ), F.lit(""))
    has_seq = F.length(seq) > 0
    ts = F.coalesce(F.lpad(F.unix_micros(F.col(DMS_COMMIT_TS)).cast("string"), 20, "0"), F.lit(""))
    file_part = F.when(has_seq, F.lit("")).otherwise(
        F.concat(F.col(FILE_COL), F.lit(" "), F.lpad(F.col(ROW_COL).cast("string"), 12, "0")))
    return F.concat_ws(
        "|", F.col(PHASE_COL).cast("string"), F.rpad(seq, CHANGE_SEQ_WIDTH, " "), F.rpad(ts, 20, " "), file_part)


def tag_bad_rows(changes: DataFrame, keys: List[str]) -> DataFrame:
    """Adds ``_reason``: null for rows that can be merged, else why not (``null_primary_key``,
    ``invalid_op``)."""
    null_key = None
    for key in keys:
        cond = F.col(key).isNull()
        null_key = cond if null_key is None else (null_key | cond)
    bad_op = F.col(DMS_OP).isNull() | ~F.col(DMS_OP).isin(*VALID_OPS)
    return changes.withColumn("_reason", F.when(null_key, F.lit("null_primary_key")).when(bad_op, F.lit("invalid_op")))


def latest_per_key(changes: DataFrame, keys: List[str]) -> DataFrame:
    """The last change of every key (largest ``_cdc_order``)."""
    window = Window.partitionBy(*[F.col(k) for k in keys]).orderBy(F.col("_cdc_order").desc())
    return changes.withColumn("_cdc_rank", F.row_number().over(window)).where("_cdc_rank = 1").drop("_cdc_rank")


# --------------------------------------------------------------------------- the curated table

#: Suffix of the table that remembers deleted keys (see ``ensure_tombstones``).
TOMBSTONE_SUFFIX = "__cdc_tombstones"
TOMBSTONE_COLUMNS = ["_cdc_order", "_cdc_commit_ts", "_cdc_change_seq"]
def tombstone_table_name(name: str) -> str:
    """The hidden table of deleted keys of curated table ``name``."""
    return name + TOMBSTONE_SUFFIX


def _create(spark: SparkSession, ident: str, columns: List[T.StructField], location: Optional[str]) -> None:
    ddl = ", ".join(f"{lg.quote(f.name)} {lg.type_sql(f.dataType)}" for f in columns)
    where = f" LOCATION '{location}'" if location else ""
    spark.sql(f"CREATE TABLE IF NOT EXISTS {ident} ({ddl}) USING iceberg{where} {lg.properties_sql()}")


def plan_columns(label: str, ident: str, table: T.StructType, source: List[T.StructField],
                 origin: Dict[str, str]) -> Tuple[List[T.StructField], List[T.StructField]]:
    """Compares the source columns with the table's: returns (columns to add, columns to widen
    to the source's type). A source type that fits the column (``fits``) needs nothing; one
    Iceberg can widen the column to is a widening; any other raises ``CdcTypeError`` naming the
    table, the column, the old and the new type and the file, before anything is changed."""
    existing = {f.name.lower(): f for f in table.fields}
    add, widen, errors = [], [], []
    for field in source:
        old = existing.get(field.name.lower())
        if old is None:
            add.append(field)
        elif lg.fits(field.dataType, old.dataType):
            continue
        elif lg.iceberg_can_widen(old.dataType, field.dataType):
            widen.append(T.StructField(old.name, lg._norm(field.dataType), True))
        else:
            errors.append(f"column {old.name!r} changed from {lg.type_sql(old.dataType)} to "
                          f"{lg.type_sql(field.dataType)} (in {origin.get(field.name.lower(), 'the new files')})")
    if errors:
        raise CdcTypeError(
            f"{label}: {'; '.join(errors)}, which curated table {ident} cannot store without changing values: "
            f"{lg.WIDENING_RULE}. Nothing of this table was merged; its files stay unmerged. Fix: restore the type at "
            "the source, or recreate the curated table (drop it, its tombstone table and its ledger) to reload it")
    return add, widen


def ensure_table(spark: SparkSession, ident: str, source: T.StructType, location: Optional[str] = None,
                 label: Optional[str] = None, origin: Optional[Dict[str, str]] = None) -> T.StructType:
    """Creates the curated table from the source columns plus the ``_cdc_*`` columns on first
    use, adds a column for each new source column and widens a column whose source type Iceberg
    can widen it to (``ALTER COLUMN ... TYPE``); returns the table's schema. A type change
    Iceberg cannot make raises ``CdcTypeError`` before the table is changed."""
    columns = [T.StructField(f.name, lg._norm(f.dataType), True) for f in source.fields
               if f.name not in DMS_COLUMNS and not f.name.startswith("_cdc_")]
    columns += [T.StructField(n, t) for n, t in CDC_COLUMNS]
    if not lg.fq_table_exists(spark, ident):
        _create(spark, ident, columns, location)
    add, widen = plan_columns(label or ident, ident, spark.table(ident).schema, columns, origin or {})
    for field in widen:
        spark.sql(f"ALTER TABLE {ident} ALTER COLUMN {lg.quote(field.name)} TYPE {lg.type_sql(field.dataType)}")
    if add:
        spark.sql(f"ALTER TABLE {ident} ADD COLUMNS ({', '.join(f'{lg.quote(f.name)} {lg.type_sql(f.dataType)}' for f in add)})")
    return spark.table(ident).schema


def ensure_tombstones(spark: SparkSession, ident: str, target: T.StructType, keys: List[str],
                      location: Optional[str] = None) -> None:
    """Creates (or widens, after the curated table's key columns were widened) the table of
    deleted keys: the key columns and the deleting change's ``_cdc_order``, ``_cdc_commit_ts``
    and ``_cdc_change_seq``, one row per key that is deleted in the source as far as merged.
    Readers query the curated table, which holds only live rows; this table is what lets a
    change delivered late be recognised as older than the delete."""
    by_name = {f.name.lower(): f for f in target.fields}
    columns = [by_name[k.lower()] for k in keys] + [by_name[c] for c in TOMBSTONE_COLUMNS]
    if not lg.fq_table_exists(spark, ident):
        _create(spark, ident, columns, location)
        return
    have = {f.name.lower(): f for f in spark.table(ident).schema.fields}
    for field in columns:
        old = have.get(field.name.lower())
        if old is not None and lg._norm(old.dataType) != lg._norm(field.dataType) and lg.iceberg_can_widen(old.dataType, field.dataType):
            spark.sql(f"ALTER TABLE {ident} ALTER COLUMN {lg.quote(old.name)} TYPE {lg.type_sql(field.dataType)}")


def classify(spark: SparkSession, winners: DataFrame, ident: str, tomb_ident: str, keys: List[str],
             horizon: Optional[str]) -> DataFrame:
    """Adds ``_cdc_action`` to the last change of each key, against the table and its
    tombstones as they are. A key's known state is its row's ``_cdc_order`` or its tombstone's,
    whichever is larger (both exist only for a moment after a crash); a change applies only if
    it is newer:

    - ``upsert``: an insert or update newer than the key's known state (or of a key never seen),
    - ``delete``: a delete newer than the row in the table (the row goes, a tombstone is kept),
    - ``tombstone``: a delete newer than what is known of an absent key (only a tombstone is kept,
      so a late older insert of that key is recognised as superseded),
    - ``skip``: the table already holds this change or a newer one (row or tombstone),
    - ``late``: only for tables merged before tombstones existed (``horizon``, the largest order
      merged then): an insert or update of an absent key without tombstone that is not newer
      than the horizon may have been deleted since; it is quarantined.

    Also adds ``_cdc_tomb``: ``set`` to record the delete, ``drop`` to remove a tombstone older
    than the key's row, else null; and ``_cdc_tomb_ref``, the order that supersedes the dropped
    tombstone.
    """
    current = spark.table(ident).select(*[F.col(lg.quote(k)) for k in keys], F.col("_cdc_order").alias("_cdc_current"))
    tombs = spark.table(tomb_ident).select(*[F.col(lg.quote(k)) for k in keys], F.col("_cdc_order").alias("_cdc_tombo"))
    joined = winners.join(current, keys, "left").join(tombs, keys, "left")
    present = F.col("_cdc_current").isNotNull()
    has_tomb = F.col("_cdc_tombo").isNotNull()
    known = F.greatest(F.coalesce(F.col("_cdc_current"), F.lit("")), F.coalesce(F.col("_cdc_tombo"), F.lit("")))
    newer = F.col("_cdc_order") > known
    is_delete = F.col(DMS_OP) == "D"
    late = F.lit(False)
    if horizon is not None:
        late = ~present & ~has_tomb & (F.col("_cdc_order") <= F.lit(horizon))
    action = (
        F.when(newer & is_delete & present, "delete")
        .when(newer & is_delete, "tombstone")
        .when(newer & late, "late")
        .when(newer, "upsert")
        .otherwise("skip")
    )
    joined = joined.withColumn("_cdc_action", action)
    upsert = F.col("_cdc_action") == "upsert"
    stale = has_tomb & present & (F.col("_cdc_current") > F.col("_cdc_tombo"))
    tomb = (F.when(F.col("_cdc_action").isin("delete", "tombstone"), F.lit("set"))
            .when(has_tomb & (upsert | stale), F.lit("drop")))
    ref = F.when(upsert, F.col("_cdc_order")).otherwise(F.col("_cdc_current"))
    return joined.withColumn("_cdc_tomb", tomb).withColumn("_cdc_tomb_ref", ref).drop("_cdc_current", "_cdc_tombo")


def _aligned(actions: DataFrame, target: T.StructType, label: str,
             extra: Tuple[str, ...] = ("_cdc_action", "_cdc_tomb", "_cdc_tomb_ref")) -> DataFrame:
    """``actions`` in the target's columns; each source type fits its column (checked here
    again: a cast that could change a value is refused, never written)."""
    src = {f.name.lower(): f for f in actions.schema.fields}
    out = []
    for f in target.fields:
        have = src.get(f.name.lower())
        if have is None:
            out.append(F.lit(None).cast(f.dataType).alias(f.name))
            continue
        if not lg.fits(have.dataType, f.dataType):
            raise CdcTypeError(f"{label}: column {f.name!r} is {lg.type_sql(f.dataType)} in the table but "
                               f"{lg.type_sql(have.dataType)} in the changes; {lg.WIDENING_RULE}")
        out.append(F.col(lg.quote(have.name)).cast(f.dataType).alias(f.name))
    return actions.select(*out, *[F.col(c) for c in extra if c in actions.columns])


def _merge_sql(keys: List[str], fields: List[T.StructField]) -> Tuple[str, str, str, str]:
    """The parts of a MERGE by ``keys`` of rows with ``fields``, target ``t``, source ``s``:
    the ON condition, the UPDATE SET list, the INSERT column list and its VALUES list."""
    on = " AND ".join(f"t.{lg.quote(k)} = s.{lg.quote(k)}" for k in keys)
    sets = ", ".join(f"t.{lg.quote(f.name)} = s.{lg.quote(f.name)}" for f in fields)
    names = ", ".join(lg.quote(f.name) for f in fields)
    values = ", ".join(f"s.{lg.quote(f.name)}" for f in fields)
    return on, sets, names, values


def merge_into(spark: SparkSession, ident: str, actions: DataFrame, keys: List[str], target: T.StructType,
               label: Optional[str] = None) -> None:
    """MERGEs ``upsert``/``delete`` actions; the order guard repeats the classification so a
    change never overwrites a newer one even if the table moved meanwhile."""
    cols = list(target.fields)
    aligned = _aligned(actions, target, label or ident)
    view = f"cdc_merge_src_{uuid.uuid4().hex}"
    aligned.createOrReplaceTempView(view)
    on, sets, names, values = _merge_sql(keys, cols)
    spark.sql(
        f"""
        MERGE INTO {ident} t USING {view} s ON {on}
        WHEN MATCHED AND s._cdc_action = 'delete' AND s._cdc_order > t._cdc_order THEN DELETE
        WHEN MATCHED AND s._cdc_action = 'upsert' AND s._cdc_order > t._cdc_order THEN UPDATE SET {sets}
        WHEN NOT MATCHED AND s._cdc_action = 'upsert' THEN INSERT ({names}) VALUES ({values})
        """
    )
    spark.catalog.dropTempView(view)


def merge_tombstones(spark: SparkSession, tomb_ident: str, actions: DataFrame, keys: List[str]) -> None:
    """Records the deletes (``_cdc_tomb = 'set'``, newer than a tombstone already there) and
    removes tombstones superseded by a row (``drop``, only if older than that row)."""
    target = spark.table(tomb_ident).schema
    aligned = _aligned(actions, target, tomb_ident)
    view = f"cdc_tomb_src_{uuid.uuid4().hex}"
    aligned.createOrReplaceTempView(view)
    on, sets, names, values = _merge_sql(keys, target.fields)
    spark.sql(
        f"""
        MERGE INTO {tomb_ident} t USING {view} s ON {on}
        WHEN MATCHED AND s._cdc_tomb = 'drop' AND t._cdc_order < s._cdc_tomb_ref THEN DELETE
        WHEN MATCHED AND s._cdc_tomb = 'set' AND s._cdc_order > t._cdc_order THEN UPDATE SET {sets}
        WHEN NOT MATCHED AND s._cdc_tomb = 'set' THEN INSERT ({names}) VALUES ({values})
        """
    )
    spark.catalog.dropTempView(view)


def iceberg_table(spark: SparkSession, ident: str):
    """The Iceberg ``Table`` (Java) behind ``ident``, refreshed: its metadata without a Spark job."""
    table = spark._jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, ident)
    table.refresh()
    return table


def current_snapshot(spark: SparkSession, ident: str) -> Tuple[Optional[int], Dict[str, str]]:
    """``(id, summary)`` of the table's current snapshot, ``(None, {})`` when it has none; for a
    branch identifier (``<table>.branch_<name>``, write-audit-publish) the branch's head."""
    branch = re.search(r"\.`?branch_([A-Za-z0-9_]+)`?$", ident)
    table = iceberg_table(spark, ident)
    ref = table.refs().get(branch.group(1)) if branch else None
    snap = table.snapshot(ref.snapshotId()) if ref is not None else (None if branch else table.currentSnapshot())
    if snap is None:
        return None, {}
    return snap.snapshotId(), dict(snap.summary())


def merge_one_pass(spark: SparkSession, ident: str, tomb_ident: str, winners: DataFrame, keys: List[str],
                   target: T.StructType, label: str) -> None:
    """The normal case: every change of the batch is newer than anything merged before (its
    smallest ``_cdc_order`` is above the ledger's ``maxOrder``), so each key's last change
    applies without looking at the table first. One MERGE on the curated table (still guarded by
    the order, so a re-run after a crash changes nothing), then one on the tombstones."""
    aligned = _aligned(winners, target, label)
    view = f"cdc_merge_src_{uuid.uuid4().hex}"
    aligned.createOrReplaceTempView(view)
    cols = list(target.fields)
    on, sets, names, values = _merge_sql(keys, cols)
    try:
        spark.sql(
            f"""
            MERGE INTO {ident} t USING {view} s ON {on}
            WHEN MATCHED AND s._cdc_op = 'D' AND s._cdc_order > t._cdc_order THEN DELETE
            WHEN MATCHED AND s._cdc_op <> 'D' AND s._cdc_order > t._cdc_order THEN UPDATE SET {sets}
            WHEN NOT MATCHED AND s._cdc_op <> 'D' THEN INSERT ({names}) VALUES ({values})
            """
        )
    finally:
        spark.catalog.dropTempView(view)


def merge_tombstones_one_pass(spark: SparkSession, tomb_ident: str, winners: DataFrame, keys: List[str]) -> None:
    """Tombstones of the one-pass path: a delete records (or renews) its key's tombstone; an
    insert or update removes an older one. Equal to what ``classify`` + ``merge_tombstones`` do
    when every change is newer than the table."""
    target = spark.table(tomb_ident).schema
    view = f"cdc_tomb_src_{uuid.uuid4().hex}"
    _aligned(winners, target, tomb_ident, extra=("_cdc_op",)).createOrReplaceTempView(view)
    on, sets, names, values = _merge_sql(keys, target.fields)
    try:
        spark.sql(
            f"""
            MERGE INTO {tomb_ident} t USING {view} s ON {on}
            WHEN MATCHED AND s._cdc_op = 'D' AND s._cdc_order > t._cdc_order THEN UPDATE SET {sets}
            WHEN MATCHED AND s._cdc_op <> 'D' AND t._cdc_order < s._cdc_order THEN DELETE
            WHEN NOT MATCHED AND s._cdc_op = 'D' THEN INSERT ({names}) VALUES ({values})
            """
        )
    finally:
        spark.catalog.dropTempView(view)


def write_quarantine(rows: DataFrame, url: str) -> int:
    """Writes rows that cannot be merged (with ``_reason``, ``_source_file``) as Parquet;
    returns how many."""
    return lg.write_quarantine(rows.withColumnRenamed(FILE_COL, "_source_file"), url,
                               drop=(ROW_COL, PHASE_COL, "_cdc_action", "_cdc_tomb", "_cdc_tomb_ref"))


def merge_table(spark: SparkSession, raw_root: str, raw_prefix: str, schema: str, table: str, keys: List[str],
                ident: str, state_root: str, quarantine_root: str, now: dt.datetime,
                location: Optional[str] = None, tomb_ident: Optional[str] = None,
                tomb_location: Optional[str] = None, one_pass: bool = True, ledger: Optional[dict] = None,
                quality: Optional[dict] = None) -> dict:
    """Merges the files of one source table that its ledger does not list yet; returns counts.
    ``tomb_ident`` is the table of deleted keys (default: the curated identifier plus
    ``TOMBSTONE_SUFFIX``).

    Two paths give the same tables (``test_cdc_one_pass.py``): when the batch's smallest
    ``_cdc_order`` is above the ledger's ``maxOrder`` (the normal case: changes arrive in order)
    every change is newer than the table, so one guarded MERGE applies each key's last change
    without reading the table first (``path: one-pass``); otherwise (late or re-delivered files,
    a lost ledger) each change is first classified against the table and its tombstones
    (``path: classify``). ``one_pass=False`` forces the second path.

    ``quality`` (``{"rules", "run_id", "results_path", "rebuild"}``) sends the curated MERGE through
    write-audit-publish (``lakehouse_glue.write_audit_publish``) and the tombstone MERGE to a branch
    of the same name, fast-forwarded after the curated table is published (a failed audit leaves
    both tables' main as they were and raises before the ledger is written). ``rebuild`` (the
    ``reprocess`` operation, with an empty ``ledger``) empties both branches first and merges every
    raw file into them."""
    tomb_ident = tomb_ident or (ident[:-1] + TOMBSTONE_SUFFIX + "`" if ident.endswith("`") else ident + TOMBSTONE_SUFFIX)
    label = f"{schema}.{table} (curated table {ident})"
    table_url = join_url(raw_root, raw_prefix, schema, "/", table, "/")
    ledger = ledger if ledger is not None else load_ledger(spark, state_root, schema, table)
    listed = list_parquet_files(spark, table_url)
    merged = ledger["files"]
    new_files = [(rel, url) for rel, url in listed if rel not in merged]
    result = {"schema": schema, "table": table, "curatedTable": ident, "filesMerged": 0, "changesRead": 0,
              "changesApplied": 0, "rowsUpserted": 0, "rowsDeleted": 0, "changesQuarantined": 0,
              "changesSkipped": 0, "maxCommitTs": None, "lastCommitTs": ledger.get("lastCommitTs"),
              "committed": False, "path": None}
    if not new_files:
        return result
    run_id = run_id_of(now)
    changes, origin = read_changes(spark, table_url, new_files, label)
    missing = [k for k in keys if k.lower() not in {c.lower() for c in changes.columns}]
    if missing:
        raise CdcError(f"{schema}.{table}: the primary key column(s) {missing} are not in the DMS files; "
                       "fix primaryKey of the table spec")
    target = ensure_table(spark, ident, changes.schema, location, label, origin)
    ensure_tombstones(spark, tomb_ident, target, keys, tomb_location)
    before_id, _ = current_snapshot(spark, ident)
    # Tables without a snapshot hold nothing (created by this run, or by a run of empty files).
    fresh = (before_id is None and current_snapshot(spark, tomb_ident)[0] is None) or bool((quality or {}).get("rebuild"))
    changes = changes.withColumn("_cdc_order", order_key()) \
        .withColumn("_cdc_op", F.col(DMS_OP)) \
        .withColumn("_cdc_commit_ts", F.col(DMS_COMMIT_TS).cast("timestamp")) \
        .withColumn("_cdc_change_seq", F.when(F.length(F.col(DMS_CHANGE_SEQ)) > 0, F.col(DMS_CHANGE_SEQ)))
    # The files are immutable, so reading them again for the counts, the quarantine and the
    # MERGE gives the same rows.
    changes = tag_bad_rows(changes, keys)
    good_row = F.col("_reason").isNull()
    stats = changes.agg(
        F.count(F.when(good_row, 1)).alias("n"), F.count(F.when(~good_row, 1)).alias("bad"),
        F.max(F.when(good_row, F.col("_cdc_commit_ts"))).alias("ts"),
        F.max(F.when(good_row, F.col("_cdc_order"))).alias("order"),
        F.min(F.when(good_row, F.col("_cdc_order"))).alias("min_order"),
    ).collect()[0]
    good, bad = changes.where(good_row).drop("_reason"), changes.where(~good_row)
    max_order = ledger.get("maxOrder")
    horizon = ledger.get("tombstoneHorizon")
    quarantine_url = join_url(quarantine_root, schema, "/", table, "/", run_id, "/")
    quarantined = 0
    if stats["bad"]:
        quarantined += write_quarantine(bad, quarantine_url)
    # One pass when every change is newer than all merged so far (a ledger's maxOrder is the
    # largest order of every change merged, so of every row and tombstone too), or when both
    # tables are empty (no snapshot yet). A lost ledger with tables that hold rows classifies.
    newer_than_table = stats["min_order"] is not None and (
        (max_order is not None and stats["min_order"] > max_order) or (max_order is None and fresh))
    def write(curated: str, tombs: str) -> Tuple[dict, Optional[str], int]:
        if one_pass and newer_than_table:
            return _merge_newer(spark, curated, tombs, good, keys, target, label, before_id), "one-pass", 0
        if stats["n"]:
            found, late_count = _merge_classified(spark, curated, tombs, good, keys, target, label, horizon, bad.columns,
                                                  quarantine_url)
            return found, "classify", late_count
        return {}, None, 0
    if quality and (quality.get("rules") or quality.get("rebuild")):
        counts, result["path"], late, result["audit"] = _audited(spark, ident, tomb_ident, write, quality, run_id, now)
    else:
        counts, result["path"], late = write(ident, tomb_ident)
    quarantined += late
    after_id, _ = current_snapshot(spark, ident)
    # The ledger is written after the commits: a crash in between re-merges the same files,
    # which the order guard makes a no-op.
    files = {rel: merged[rel] for rel, _ in listed if rel in merged}
    files.update({rel: run_id for rel, _ in new_files})
    max_ts = stats["ts"]
    last_ts = ledger.get("lastCommitTs")
    if max_ts is not None and (last_ts is None or max_ts.isoformat() > last_ts):
        last_ts = max_ts.isoformat()
    orders = [o for o in (max_order, stats["order"]) if o]
    save_ledger(spark, state_root, schema, table,
                {"version": LEDGER_VERSION, "files": files, "maxOrder": max(orders) if orders else None,
                 "lastCommitTs": last_ts, "tombstoneHorizon": horizon}, now)
    result.update(
        filesMerged=len(new_files), changesRead=stats["n"], rowsUpserted=counts.get("upsert", 0),
        rowsDeleted=counts.get("delete", 0), changesQuarantined=quarantined,
        changesSkipped=counts.get("skip", 0) + counts.get("tombstone", 0),
        maxCommitTs=max_ts.isoformat() if max_ts is not None else None, lastCommitTs=last_ts,
        committed=after_id is not None and after_id != before_id,
    )
    result["changesApplied"] = result["rowsUpserted"] + result["rowsDeleted"]
    return result


def _audited(spark: SparkSession, ident: str, tomb_ident: str, write, quality: dict, run_id: str,
             now: dt.datetime) -> Tuple[dict, Optional[str], int, dict]:
    """``write`` (see ``merge_table``) on audit branches of the curated and the tombstone table;
    the curated one is audited and published by ``lakehouse_glue.write_audit_publish``, the
    tombstones are fast-forwarded after it (a failed audit raises before)."""
    run_id = quality.get("run_id") or run_id
    branch = lg.audit_branch_name(run_id)
    tomb_target = lg.branch_table(tomb_ident, branch)
    spark.sql(f"ALTER TABLE {tomb_ident} CREATE OR REPLACE BRANCH {lg.quote(branch)} RETAIN 7 DAYS")
    box: List[Tuple[dict, Optional[str], int]] = []

    def write_fn(curated: str) -> None:
        if quality.get("rebuild"):
            spark.sql(f"DELETE FROM {curated}")
            spark.sql(f"DELETE FROM {tomb_target}")
        box.append(write(curated, tomb_target))
    outcome = lg.write_audit_publish(spark, ident, quality.get("rules"), write_fn, run_id, quality.get("results_path"), now,
                                     operation="reprocess" if quality.get("rebuild") else "merge", always_branch=True)
    if lg.ref_snapshot(spark, tomb_ident, branch) != lg.ref_snapshot(spark, tomb_ident):
        catalog, database, name = lg.split_fq(tomb_ident)
        spark.sql(f"CALL {lg.quote(catalog)}.system.fast_forward('{database}.{name}', 'main', '{branch}')")
    spark.sql(f"ALTER TABLE {tomb_ident} DROP BRANCH IF EXISTS {lg.quote(branch)}")
    counts, path, late = box[0]
    return counts, path, late, outcome


#: Above this many deletes in a batch, the present-key count of the one-pass path is left to
#: Spark's join planning instead of a broadcast of the deleted keys.
BROADCAST_DELETES_MAX = 2_000_000


def _merge_newer(spark: SparkSession, ident: str, tomb_ident: str, good: DataFrame, keys: List[str],
                 target: T.StructType, label: str, before_id: Optional[int]) -> Dict[str, int]:
    """The one-pass path (see ``merge_table``); returns the counts ``classify`` would give:
    ``upsert`` (rows written: the MERGE commit's ``added-records``), ``delete`` (deletes of keys
    with a row), ``tombstone`` (deletes of absent keys) and ``skip`` (winners the order guard
    refused: only after a crash, when the table already holds them)."""
    winners = latest_per_key(good, keys).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        by_op = {r["d"]: r["n"] for r in winners.groupBy((F.col("_cdc_op") == "D").alias("d"))
                 .agg(F.count(F.lit(1)).alias("n")).collect()}
        upserts, deletes = by_op.get(False, 0), by_op.get(True, 0)
        present_deletes = 0
        if deletes:
            # Which deleted keys have a row: the key column of the table against the (small)
            # set of deleted keys, broadcast. Only the counts need it; the MERGE does not.
            doomed = winners.where(F.col("_cdc_op") == "D").select(*[F.col(lg.quote(k)) for k in keys])
            doomed = F.broadcast(doomed) if deletes <= BROADCAST_DELETES_MAX else doomed
            present_deletes = spark.table(ident).select(*[F.col(lg.quote(k)) for k in keys]) \
                .join(doomed, keys, "left_semi").count()
        merge_one_pass(spark, ident, tomb_ident, winners, keys, target, label)
        after_id, summary = current_snapshot(spark, ident)
        written = int(summary.get("added-records", 0)) if after_id != before_id else 0
        tomb_rows = int(current_snapshot(spark, tomb_ident)[1].get("total-records", 0))
        if deletes or tomb_rows:
            merge_tombstones_one_pass(spark, tomb_ident, winners, keys)
    finally:
        winners.unpersist()
    return {"upsert": written, "delete": present_deletes, "tombstone": deletes - present_deletes,
            "skip": upserts - written}


def _merge_classified(spark: SparkSession, ident: str, tomb_ident: str, good: DataFrame, keys: List[str],
                      target: T.StructType, label: str, horizon: Optional[str],
                      quarantine_columns: List[str], quarantine_url: str) -> Tuple[Dict[str, int], int]:
    """The classify path (see ``classify``); returns the counts per action and how many late
    changes it quarantined."""
    actions = classify(spark, latest_per_key(good, keys), ident, tomb_ident, keys, horizon)
    # Cached for the counts, the quarantine and the MERGEs. All of them run before the first
    # MERGE commits, except the tombstone MERGE, whose rows do not depend on the curated table's
    # new state (the job is the tables' only writer: one run at a time).
    actions = actions.persist(StorageLevel.MEMORY_AND_DISK)
    counts = {r["_cdc_action"]: r["n"] for r in actions.groupBy("_cdc_action").agg(F.count(F.lit(1)).alias("n")).collect()}
    tomb_changes = actions.where(F.col("_cdc_tomb").isNotNull()).limit(1).count()
    late = 0
    if counts.get("late"):
        late_rows = actions.where("_cdc_action = 'late'").withColumn("_reason", F.lit("late_change_for_absent_key"))
        late = write_quarantine(late_rows.select(*quarantine_columns), quarantine_url)
    # The curated table first, then the tombstones: a crash in between re-merges the same files
    # (the ledger is not written yet); a delete already applied then finds the key absent and
    # records its tombstone, and a row already inserted is newer than its old tombstone.
    if counts.get("upsert") or counts.get("delete"):
        merge_into(spark, ident, actions.where(F.col("_cdc_action").isin("upsert", "delete")), keys, target, label)
    if tomb_changes:
        merge_tombstones(spark, tomb_ident, actions.where(F.col("_cdc_tomb").isNotNull()), keys)
    actions.unpersist()
    return counts, late


# --------------------------------------------------------------------------- pull mode


def pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_watermark(spark: SparkSession, state_root: str, schema: str, table: str) -> Optional[str]:
    text = lg.read_text(spark, watermark_url(state_root, schema, table))
    return json.loads(text)["value"] if text else None


def save_watermark(spark: SparkSession, state_root: str, schema: str, table: str, column: str, value: str,
                   now: dt.datetime) -> None:
    lg.RunLedger(spark, watermark_url(state_root, schema, table)).save({"column": column, "value": value}, now)


def pull_query(schema: str, table: str, column: str, last: Optional[str]) -> str:
    """The pull query; the watermark travels as PostgreSQL's own text of the value (cast back to
    the column's type by PostgreSQL), so no time zone or precision is lost on the way."""
    text = f"{pg_ident(column)}::text"
    sql = f"SELECT t.*, {text} AS _cdc_watermark FROM {pg_ident(schema)}.{pg_ident(table)} t"
    if last is not None:
        literal = "'" + last.replace("'", "''") + "'"
        sql += f" WHERE {pg_ident(column)} > {literal}"
    return sql


def pull_table(spark: SparkSession, jdbc_url: str, user: str, password: str, raw_root: str, raw_prefix: str,
               schema: str, table: str, column: str, last: Optional[str], now: dt.datetime,
               driver: str = "org.postgresql.Driver") -> Tuple[int, Optional[str]]:
    """Reads the rows changed since ``last`` over JDBC and lands them as one Parquet file in the
    DMS layout (``pull/<yyyy>/<mm>/<dd>/<run-id>.parquet``, ``Op`` 'I' on the first pull, 'U'
    after). Returns (rows landed, the largest watermark value landed as text, or ``last``)."""
    rows = (
        spark.read.format("jdbc")
        .option("url", jdbc_url).option("user", user).option("password", password).option("driver", driver)
        .option("query", pull_query(schema, table, column, last)).option("fetchsize", "10000")
        .load()
    )
    rows = rows.localCheckpoint(eager=True)  # one read: the file and the watermark see the same rows
    stats = rows.agg(F.count(F.lit(1)).alias("n"), F.max_by("_cdc_watermark", F.col(lg.quote(column))).alias("wm")).collect()[0]
    if stats["n"] == 0:
        return 0, last
    wm_type = rows.schema[column].dataType
    commit_ts = F.col(lg.quote(column)).cast("timestamp") if isinstance(wm_type, (T.TimestampType, T.DateType, T.TimestampNTZType)) \
        else F.lit(now).cast("timestamp")
    source_cols = [c for c in rows.columns if c != "_cdc_watermark"]
    out = rows.select(
        F.lit("I" if last is None else "U").alias(DMS_OP), commit_ts.alias(DMS_COMMIT_TS),
        F.lit(None).cast("string").alias(DMS_CHANGE_SEQ), *[F.col(lg.quote(c)) for c in source_cols])
    run_id = run_id_of(now)
    table_url = join_url(raw_root, raw_prefix, schema, "/", table, "/")
    staging = join_url(table_url, "pull/_staging/", run_id)
    out.coalesce(1).write.mode("overwrite").parquet(staging)
    fs, staging_path = lg._path(spark, staging)
    parts = [s.getPath() for s in fs.listStatus(staging_path) if s.getPath().getName().endswith(".parquet")]
    final_fs, final = lg._path(spark, join_url(table_url, "pull/", now.strftime("%Y/%m/%d/"), run_id, ".parquet"))
    final_fs.mkdirs(final.getParent())
    if not fs.rename(parts[0], final):
        raise CdcError(f"could not move the pulled rows to {final.toString()}")
    fs.delete(staging_path, True)
    return stats["n"], stats["wm"]


# --------------------------------------------------------------------------- maintenance

#: Compaction starts when deleted rows (position and equality deletes not yet applied) reach this
#: share of the rows in the table's data files ...
COMPACT_DELETED_RATIO = 0.25
#: ... or when the table has at least this many data files averaging under SMALL_FILE_BYTES.
COMPACT_SMALL_FILES = 64
SMALL_FILE_BYTES = 32 * 1024 * 1024


def compaction_reason(summary: Dict[str, str], deleted_ratio: float = COMPACT_DELETED_RATIO,
                      small_files: int = COMPACT_SMALL_FILES) -> Optional[str]:
    """Why the table (its current snapshot's ``summary``) needs compaction now, or None.

    A MERGE on a merge-on-read table writes the changed rows and position deletes, never the
    rest of the table; compaction (which rewrites the data files that have deletes, and bins
    small files) is what costs a table's size. Run after every merge it rewrote the whole table
    each run when the changed keys are spread out, so it runs only on these thresholds: readers
    skip at most ``deleted_ratio`` of the rows they read, and the table keeps fewer than
    ``small_files`` small files."""
    records = int(summary.get("total-records", 0) or 0)
    deleted = int(summary.get("total-position-deletes", 0) or 0) + int(summary.get("total-equality-deletes", 0) or 0)
    data_files = int(summary.get("total-data-files", 0) or 0)
    size = int(summary.get("total-files-size", 0) or 0)
    if records and deleted >= deleted_ratio * records:
        return f"deleted rows are {deleted / records:.0%} of the rows (threshold {deleted_ratio:.0%})"
    if data_files >= small_files and size < data_files * SMALL_FILE_BYTES:
        return f"{data_files} data files averaging {size // max(data_files, 1):,} bytes"
    return None


def maintain_table(spark: SparkSession, catalog: str, database: str, name: str, now: dt.datetime,
                   retention_hours: float, retain_last: int = RETAIN_LAST_SNAPSHOTS,
                   deleted_ratio: float = COMPACT_DELETED_RATIO, small_files: int = COMPACT_SMALL_FILES) -> dict:
    """Compacts the table when ``compaction_reason`` says so (data files with deletes are
    rewritten without the deleted rows, small files binned, delete files no longer needed
    dropped), and expires snapshots older than the retention, keeping at least the last
    ``retain_last``, when there are any. Returns what it did."""
    target = f"{database}.{name}"
    ident = lg.fq_name(catalog, database, name)
    done = {"compacted": None, "expired": False}
    _, summary = current_snapshot(spark, ident)
    reason = compaction_reason(summary, deleted_ratio, small_files)
    if reason:
        spark.sql(f"CALL {lg.quote(catalog)}.system.rewrite_data_files(table => '{target}', "
                  "options => map('delete-file-threshold', '1', 'remove-dangling-deletes', 'true'))")
        done["compacted"] = reason
    cutoff = now - dt.timedelta(hours=retention_hours)
    count, oldest = 0, None
    snapshots = iceberg_table(spark, ident).snapshots().iterator()
    while snapshots.hasNext():
        millis = snapshots.next().timestampMillis()
        count, oldest = count + 1, millis if oldest is None else min(oldest, millis)
    if count > retain_last and oldest < (cutoff - dt.datetime(1970, 1, 1)).total_seconds() * 1000:
        older = cutoff.strftime("%Y-%m-%d %H:%M:%S.%f")
        spark.sql(f"CALL {lg.quote(catalog)}.system.expire_snapshots(table => '{target}', "
                  f"older_than => TIMESTAMP '{older}', retain_last => {int(retain_last)})")
        done["expired"] = True
    return done


# --------------------------------------------------------------------------- the run


def find_collisions(claims: List[Tuple[str, str, str]], table_prefix: str) -> Dict[Tuple[str, str, str], str]:
    """``claims`` are ``(spec name, schema, table)`` of every source table the specs name. Two
    claims collide when they are one source table named by two specs, or two source tables whose
    curated tables (or tombstone tables) get one name (``Order-Items`` and ``order_items`` both
    become ``..._order_items``). Returns, per colliding claim, the message naming the others."""
    by_name: Dict[str, List[Tuple[str, str, str]]] = {}
    for claim in claims:
        name = curated_table_name(table_prefix, claim[1], claim[2])
        for taken in (name, tombstone_table_name(name)):
            by_name.setdefault(taken, []).append(claim)
    out: Dict[Tuple[str, str, str], str] = {}
    for name, members in by_name.items():
        members = list(dict.fromkeys(members))
        if len(members) < 2:
            continue
        described = " and ".join(f"source table {s}.{t} (table spec {n!r})" for n, s, t in members)
        for claim in members:
            out[claim] = (f"{described} all map to the curated table {name!r}; neither is merged, as rows of one would "
                          "silently replace the other's. Fix: rename one table at the source, or narrow the table specs "
                          "(tables) so each source table is named once and no two names differ only in case or punctuation")
    return out


def _failed(result: dict, err: Exception) -> dict:
    return dict(result, failed=True, error=f"{type(err).__name__}: {err}", audit=getattr(err, "outcome", None))


#: Tables merged at once within one run (``--merge_parallelism``): each table's Spark jobs, S3
#: listings and catalog commits overlap with the others'.
DEFAULT_PARALLELISM = 4


def run(spark: SparkSession, source_name: str, raw_root: str, raw_prefix: str, catalog: str, database: str,
        table_prefix: str, tables: List[dict], state_prefix: str, quarantine_prefix: str,
        now: dt.datetime, maintenance: bool = False, snapshot_retention_hours: float = 168,
        warehouse: Optional[str] = None, jdbc_url: Optional[str] = None, jdbc_user: Optional[str] = None,
        jdbc_password: Optional[str] = None, only_table: Optional[str] = None,
        parallelism: int = DEFAULT_PARALLELISM, one_pass: bool = True,
        compact_deleted_ratio: float = COMPACT_DELETED_RATIO, compact_small_files: int = COMPACT_SMALL_FILES,
        quality: Optional[dict] = None) -> List[dict]:
    """One run over the table specs (or only the one named ``only_table``); returns one result
    per source table (with ``spec``, the spec's name as declared), in the specs' order. ``raw_root``
    is the raw bucket's URL (``s3://bucket/``); the state and quarantine prefixes are in it. ``now``
    is the run's time (naive UTC).

    Up to ``parallelism`` tables are merged at once (threads submitting Spark jobs to the one
    session; each table has its own ledger, curated and tombstone tables, so they share nothing
    but the session). Tables are isolated: a table that fails (a type change Iceberg cannot make,
    a missing key column, a name collision, any error) is left as it was and the run goes on
    with the others; at the end, ``CdcRunFailed`` names every failed table (its ``results`` hold
    every table's).

    ``quality`` (``{"rules": {curated table name: [rules]}, "run_id", "results_path", "rebuild",
    "table"}``): each curated table with rules is merged through write-audit-publish
    (``merge_table``); ``rebuild`` reprocesses the tables from every raw file (only the curated
    table named ``table`` when given)."""
    # A run for every table leaves out the pulled tables that have a schedule of their own.
    specs = [s for s in tables if (s["name"] == only_table if only_table is not None else not s.get("ownSchedule"))]
    if not specs:
        raise CdcError(f"--only_table {only_table!r} names no table spec; declared: {[s['name'] for s in tables]}")
    if int(parallelism) < 1:
        raise CdcError(f"--merge_parallelism must be at least 1, not {parallelism!r}")
    state_url = join_url(raw_root, state_prefix)
    quarantine_url = join_url(raw_root, quarantine_prefix)
    raw_tables = join_url(raw_root, raw_prefix)
    # Every spec is expanded (not only this run's) so that a collision with a table merged by
    # another run is seen too.
    expanded: Dict[str, List[Tuple[str, str]]] = {}
    expand_errors: Dict[str, Exception] = {}
    for spec in tables:
        try:
            expanded[spec["name"]] = [(spec["schema"], spec["table"])] if spec.get("mode") == "pull" \
                else expand_spec(spark, raw_tables, spec)
        except Exception as err:  # noqa: BLE001 - reported per spec below
            expanded[spec["name"]], expand_errors[spec["name"]] = [], err
    collisions = find_collisions([(s["name"], sc, t) for s in tables for sc, t in expanded[s["name"]]], table_prefix)

    def one(job: Tuple[dict, str, str]) -> dict:
        spec, schema, table = job
        name = curated_table_name(table_prefix, schema, table)
        ident = lg.fq_name(catalog, database, name)
        base = {"spec": spec["name"], "schema": schema, "table": table, "curatedTable": ident, "curatedName": name,
                **_empty_counts()}
        started = time.perf_counter()
        try:
            ledger = load_ledger(spark, state_url, schema, table)
            base["lastCommitTs"] = ledger.get("lastCommitTs")
            collision = collisions.get((spec["name"], schema, table))
            if collision:
                raise CdcError(collision)
            if spec.get("mode") == "pull" and not jdbc_url:
                raise CdcError(f"pull table spec {spec['name']} needs --jdbc_url and --jdbc_secret_id")
            result = merge_one(spark, spec, list(spec["primaryKey"]), schema, table, name, ident,
                               tombstone_table_name(name), catalog, database, raw_root, raw_prefix, state_url,
                               quarantine_url, now, warehouse, jdbc_url, jdbc_user, jdbc_password, maintenance,
                               snapshot_retention_hours, one_pass=one_pass, ledger=ledger,
                               compact_deleted_ratio=compact_deleted_ratio, compact_small_files=compact_small_files,
                               quality=_quality_of(quality, name))
            result.update(spec=spec["name"], curatedName=name)
        except Exception as err:  # noqa: BLE001 - isolate the table, report it at the end
            result = _failed(base, err)
        result["seconds"] = round(time.perf_counter() - started, 3)
        return result

    jobs: List[Tuple[dict, str, str]] = []
    results: List[Optional[dict]] = []
    for spec in specs:
        if spec["name"] in expand_errors:
            results.append(_failed({"spec": spec["name"], "schema": spec["schema"], "table": spec["table"],
                                    **_empty_counts()}, expand_errors[spec["name"]]))
            continue
        for schema, table in expanded[spec["name"]]:
            if quality and quality.get("table") and curated_table_name(table_prefix, schema, table) != quality["table"]:
                continue
            jobs.append((spec, schema, table))
            results.append(None)
    if int(parallelism) == 1 or len(jobs) <= 1:
        merged = [one(job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=min(int(parallelism), len(jobs)), thread_name_prefix="cdc-merge") as pool:
            merged = list(pool.map(one, jobs))
    it = iter(merged)
    results = [r if r is not None else next(it) for r in results]
    failed = [r for r in results if r.get("failed")]
    if failed:
        lines = "; ".join(f"{r['schema']}.{r['table']} (spec {r['spec']!r}): {r['error']}" for r in failed)
        raise CdcRunFailed(f"{len(failed)} of {len(results)} tables failed (the others were merged): {lines}", results)
    return results


def _quality_of(quality: Optional[dict], name: str) -> Optional[dict]:
    """The ``merge_table`` quality settings of one curated table (its rules; a rebuild's empty ledger)."""
    if not quality:
        return None
    return dict(quality, rules=(quality.get("rules") or {}).get(name))


def _empty_counts() -> dict:
    return {"filesMerged": 0, "changesRead": 0, "changesApplied": 0, "rowsUpserted": 0, "rowsDeleted": 0,
            "changesQuarantined": 0, "changesSkipped": 0, "maxCommitTs": None, "lastCommitTs": None,
            "committed": False}


def merge_one(spark: SparkSession, spec: dict, keys: List[str], schema: str, table: str, name: str, ident: str,
              tomb_name: str, catalog: str, database: str, raw_root: str, raw_prefix: str, state_url: str,
              quarantine_url: str, now: dt.datetime, warehouse: Optional[str], jdbc_url: Optional[str],
              jdbc_user: Optional[str], jdbc_password: Optional[str], maintenance: bool,
              snapshot_retention_hours: float, one_pass: bool = True, ledger: Optional[dict] = None,
              compact_deleted_ratio: float = COMPACT_DELETED_RATIO,
              compact_small_files: int = COMPACT_SMALL_FILES, quality: Optional[dict] = None) -> dict:
    """Pulls (pull mode), merges and maintains one source table."""
    location = join_url(warehouse, name) if warehouse else None
    tomb_ident = lg.fq_name(catalog, database, tomb_name)
    tomb_location = join_url(warehouse, tomb_name) if warehouse else None
    pulled, watermark = 0, None
    if spec.get("mode") == "pull":
        last = load_watermark(spark, state_url, schema, table)
        pulled, watermark = pull_table(spark, jdbc_url, jdbc_user, jdbc_password, raw_root, raw_prefix,
                                       schema, table, spec["watermarkColumn"], last, now)
        ledger = None  # the pull landed a file: list it afresh
    if quality and quality.get("rebuild"):
        ledger = {"version": LEDGER_VERSION, "files": {}, "maxOrder": None, "lastCommitTs": None, "tombstoneHorizon": None}
    result = merge_table(spark, raw_root, raw_prefix, schema, table, keys, ident, state_url,
                         quarantine_url, now, location, tomb_ident, tomb_location, one_pass=one_pass, ledger=ledger,
                         quality=quality)
    if spec.get("mode") == "pull":
        result["rowsPulled"] = pulled
        if pulled:
            save_watermark(spark, state_url, schema, table, spec["watermarkColumn"], watermark, now)
    if maintenance and result["filesMerged"] and lg.fq_table_exists(spark, ident):
        result["maintenance"] = maintain_table(spark, catalog, database, name, now, snapshot_retention_hours,
                                               deleted_ratio=compact_deleted_ratio, small_files=compact_small_files)
        if lg.fq_table_exists(spark, tomb_ident):
            maintain_table(spark, catalog, database, tomb_name, now, snapshot_retention_hours,
                           deleted_ratio=compact_deleted_ratio, small_files=compact_small_files)
    return result


#: The namespace of the merge metrics every ingestion publishes (``--metrics_namespace``).
MERGE_METRICS_NAMESPACE = "CdkLakehouse/Merge"


def build_metrics(source_name: str, results: List[dict], now: dt.datetime, run_seconds: Optional[float] = None,
                  namespace: str = MERGE_METRICS_NAMESPACE) -> lg.MetricsPublisher:
    """The merge metrics of a run, in a ``lakehouse_glue.MetricsPublisher`` (its ``publish`` sends
    them in batches of 20), the metrics every ingestion publishes: per curated
    table ({Pipeline, Table=<curated table name>}) and in total ({Pipeline}).

    - ``RowsMerged`` (Count): changes applied (rows upserted + rows deleted),
    - ``RowsQuarantined`` (Count): changes written to the quarantine,
    - ``TablesFailed`` (Count): source tables that failed (0 when none),
    - ``TableCommits`` (Count): 1 for each curated table whose main branch got a new snapshot,
    - ``FilesMerged`` (Count): raw files merged (CDC only),
    - ``CommitAgeSeconds`` (Seconds): now minus the newest source commit time merged so far into
      the stalest table (the largest age); left out where nothing was merged yet,
    - ``RunSeconds`` (Seconds, {Pipeline} only): the run's wall time, when given.

    A failed source table without a curated table name (a spec whose wildcard could not be
    expanded) counts in the {Pipeline} total only."""
    groups: Dict[Optional[str], List[dict]] = {}
    for result in results:
        if result.get("curatedName"):
            groups.setdefault(result["curatedName"], []).append(result)
    groups[None] = list(results)
    publisher = lg.MetricsPublisher(namespace, source_name, now)
    for table, members in groups.items():
        sums = {
            "RowsMerged": sum(r.get("changesApplied", 0) for r in members),
            "RowsQuarantined": sum(r.get("changesQuarantined", 0) for r in members),
            "TablesFailed": sum(1 for r in members if r.get("failed")),
            "TableCommits": sum(1 for r in members if r.get("committed")),
            "FilesMerged": sum(r.get("filesMerged", 0) for r in members),
        }
        for metric, value in sums.items():
            publisher.add(metric, value, table)
        ages = [(now - dt.datetime.fromisoformat(r["lastCommitTs"])).total_seconds() for r in members if r.get("lastCommitTs")]
        if ages:
            publisher.add("CommitAgeSeconds", max(0.0, max(ages)), table, "Seconds")
        if table is None and run_seconds is not None:
            publisher.add("RunSeconds", run_seconds, None, "Seconds")
        if table is not None:
            for member in members:
                publisher.add_audit(table, member.get("audit"))
    return publisher


def build_metric_data(source_name: str, results: List[dict], now: dt.datetime,
                      run_seconds: Optional[float] = None) -> List[dict]:
    """CloudWatch MetricData for a run (``build_metrics``' data)."""
    return build_metrics(source_name, results, now, run_seconds).data


def jdbc_url_from_secret(secret: dict, database: Optional[str]) -> str:
    """The JDBC URL of the source from its secret (``host``, ``port``, and ``dbname`` unless the
    database is given), TLS required as for DMS. Glue 5.0 ships the PostgreSQL driver 42.7.3."""
    host = secret.get("host")
    if not host:
        raise CdcError("the source secret has no 'host': pulled tables need host and port in the secret")
    name = database or secret.get("dbname")
    if not name:
        raise CdcError("no database name: give --jdbc_database or put 'dbname' in the secret")
    return f"jdbc:postgresql://{host}:{int(secret.get('port') or 5432)}/{name}?sslmode=require"


def main() -> None:  # pragma: no cover - runs in Glue
    import boto3

    names = ["source_name", "raw_bucket", "raw_prefix", "catalog", "database", "warehouse", "table_prefix", "tables",
             "state_prefix", "quarantine_prefix", "metrics_namespace", "maintenance", "snapshot_retention_hours"]
    optional = dict.fromkeys(("jdbc_url", "jdbc_secret_id", "jdbc_database", "only_table", "merge_parallelism",
                              "compaction_deleted_ratio", "compaction_small_files"))
    optional.update(lg.QUALITY_ARGUMENTS)
    args = lg.parse_args(sys.argv, names, optional)
    tables = parse_tables(args["tables"])
    user = password = None
    if args.get("jdbc_secret_id") and any(t.get("mode") == "pull" for t in tables):
        secret = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=args["jdbc_secret_id"])["SecretString"])
        user, password = secret["username"], secret["password"]
        if not args.get("jdbc_url"):
            args["jdbc_url"] = jdbc_url_from_secret(secret, args.get("jdbc_database"))
    spark = SparkSession.builder.getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    started = time.perf_counter()
    failure: Optional[CdcRunFailed] = None
    run_id = args["JOB_RUN_ID"] or run_id_of(now)
    if args["operation"] == "rollback":
        if not args["table"]:
            raise lg.GlueArgumentError("--operation rollback needs --table <curated table name>")
        print(json.dumps(lg.rollback(spark, lg.fq_name(args["catalog"], args["database"], args["table"]),
                                     None if args["snapshot_id"] is None else int(args["snapshot_id"]), args["to_timestamp"],
                                     args["quality_results_path"], run_id, now), default=str))
        return
    if args["operation"] not in lg.OPERATIONS:
        raise lg.GlueArgumentError(f"--operation must be one of {', '.join(lg.OPERATIONS)}")
    quality = {"rules": lg.load_quality_rules(spark, args["quality_rules"], args["quality_rules_path"]), "run_id": run_id,
               "results_path": args["quality_results_path"], "rebuild": args["operation"] == "reprocess", "table": args["table"]}
    try:
        results = run(
            spark, args["source_name"], f"s3://{args['raw_bucket']}/", args["raw_prefix"], args["catalog"], args["database"],
            args["table_prefix"], tables, args["state_prefix"], args["quarantine_prefix"], now,
            maintenance=args["maintenance"].lower() == "true",
            snapshot_retention_hours=float(args["snapshot_retention_hours"]), warehouse=args["warehouse"],
            jdbc_url=args.get("jdbc_url"), jdbc_user=user, jdbc_password=password, only_table=args.get("only_table") or None,
            parallelism=int(args.get("merge_parallelism") or DEFAULT_PARALLELISM),
            compact_deleted_ratio=float(args.get("compaction_deleted_ratio") or COMPACT_DELETED_RATIO),
            compact_small_files=int(args.get("compaction_small_files") or COMPACT_SMALL_FILES), quality=quality,
        )
    except CdcRunFailed as err:  # every healthy table was merged: publish, then fail the run
        results, failure = err.results, err
    for result in results:
        print(json.dumps({"cdcMerge": args["source_name"], **result}, default=str))
    build_metrics(args["source_name"], results, now, run_seconds=time.perf_counter() - started,
                  namespace=args["metrics_namespace"]).publish(boto3.client("cloudwatch"))
    if failure is not None:
        raise failure


if __name__ == "__main__":  # pragma: no cover
    main()
