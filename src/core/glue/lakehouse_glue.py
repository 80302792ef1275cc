"""Shared helpers of the cdk-lakehouse Glue jobs (AWS Glue 5.0: Spark 3.5, Python 3.11, Iceberg 1.7).

Every merge job gets this file with ``--extra-py-files s3://<asset bucket>/<key>.py`` (Glue puts
a ``.py`` given there on the Python path) and imports it as ``import lakehouse_glue as lg``.
Nothing here imports Glue: the functions take a SparkSession and plain values, so the pytest
suites run them on a local SparkSession with Iceberg (``test/python/conftest.py``).

What it offers:

- ``parse_args``: Glue job arguments (``--name value`` / ``--name=value``), required and optional.
- ``table_exists``, ``create_or_evolve_table`` (create with the ``ICEBERG_TABLE_PROPERTIES``, a
  partition spec and a sort order; add new columns, widen types as Iceberg allows, add missing
  partition fields), ``align_to_table`` and ``merge_by_key`` (one MERGE by key columns, with an
  optional predicate that bounds the target scan).
- ``RunLedger``: a small JSON state document (ledger, watermark) in S3 or a local folder.
- ``read_text``, ``write_text``, ``write_quarantine``: small files and quarantined rows.
- ``MetricsPublisher``: the merge metrics every ingestion publishes (namespace from
  ``--metrics_namespace``, dimensions ``{Pipeline}`` and ``{Pipeline, Table}``).
- ``last_commit``: the newest snapshot on the table's main branch (the freshness signal).
- ``write_audit_publish``: a write to an Iceberg audit branch, data quality rules on the branch
  (``lakehouse_quality``, Deequ), and a fast-forward of main only if every blocking rule passes;
  ``reprocess`` (a rebuild published the same way), ``rollback`` and ``record_ops`` (the
  operations' records in the lake's ops data). See ``docs/write-audit-publish.md``.
"""
import datetime as dt
import json
import re
import uuid
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

#: Table properties of every curated Iceberg table the jobs create: format v2, Parquet with zstd,
#: and merge-on-read row-level operations (a MERGE writes delete files instead of rewriting the
#: data files it touches).
ICEBERG_TABLE_PROPERTIES: Dict[str, str] = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    "write.merge.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
    "write.delete.mode": "merge-on-read",
}

#: The merge metrics (see ``MetricsPublisher``).
METRIC_UNITS = {
    "RowsMerged": "Count",
    "RowsQuarantined": "Count",
    "TablesFailed": "Count",
    "TableCommits": "Count",
    "CommitAgeSeconds": "Seconds",
    "RunSeconds": "Seconds",
    "AuditsPassed": "Count",
    "AuditsFailed": "Count",
    "RuleFailures": "Count",
}

WIDENING_RULE = ("Iceberg widens a column only from int to bigint, float to double and decimal(P,S) to "
                 "decimal(P',S) with P' > P")


class GlueArgumentError(ValueError):
    """A job argument that is missing or given twice."""


class SchemaEvolutionError(ValueError):
    """A column whose type the table cannot take without changing values."""


class AuditFailedError(RuntimeError):
    """A blocking data quality rule failed: main was not changed; ``outcome`` says what failed
    (the ``write_audit_publish`` result) and where the audited rows are (its branch)."""

    def __init__(self, outcome: dict):
        failed = [r["description"] for r in outcome.get("results", []) if not r["passed"] and r["severity"] == "block"]
        super().__init__(f"{outcome.get('table')}: the audit of branch {outcome.get('branch')} failed "
                         f"({'; '.join(failed)}); main stays at snapshot {outcome.get('mainSnapshotBefore')}. Fix the data "
                         "(or the rule) and run again; the branch is kept for inspection")
        self.outcome = outcome


# --------------------------------------------------------------------------- arguments


def parse_args(argv: Sequence[str], required: Iterable[str], optional: Optional[Dict[str, Optional[str]]] = None) -> dict:
    """The job's arguments as a dict, like Glue's ``getResolvedOptions`` but with defaults.

    ``argv`` is ``sys.argv`` (``--name value`` or ``--name=value``; anything else, such as Glue's
    own ``--JOB_ID``, is read the same way and ignored unless asked for). Every ``required`` name
    must be present, else ``GlueArgumentError`` names all that are missing; each ``optional``
    name maps to its default (``None`` allowed). A name given twice is refused, since Glue's run
    arguments and the job's default arguments would otherwise silently shadow each other."""
    given: Dict[str, str] = {}
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item.startswith("--") and len(item) > 2:
            if "=" in item:
                name, value = item[2:].split("=", 1)
            elif i + 1 < len(items) and not (items[i + 1].startswith("--") and len(items[i + 1]) > 2):
                name, value = item[2:], items[i + 1]
                i += 1
            else:
                name, value = item[2:], ""
            if name in given:
                raise GlueArgumentError(f"argument --{name} is given twice")
            given[name] = value
        i += 1
    required = list(required)
    missing = [n for n in required if n not in given]
    if missing:
        raise GlueArgumentError("missing job argument(s): " + ", ".join(f"--{n}" for n in missing)
                                + " (set them in the job's default arguments or the run's arguments)")
    out = {n: given[n] for n in required}
    for name, default in (optional or {}).items():
        out[name] = given.get(name, default)
    return out


# --------------------------------------------------------------------------- names and tables


def quote(name: str) -> str:
    """A Spark SQL identifier part in backticks."""
    return "`" + name.replace("`", "``") + "`"


def fq_name(catalog: str, database: str, table: str) -> str:
    """``catalog.database.table`` with each part quoted."""
    return f"{quote(catalog)}.{quote(database)}.{quote(table)}"


def table_exists(spark: SparkSession, catalog: str, database: str, table: str) -> bool:
    """Whether ``catalog.database.table`` resolves to a table (any other error is raised)."""
    return fq_table_exists(spark, fq_name(catalog, database, table))


def fq_table_exists(spark: SparkSession, fq_table: str) -> bool:
    """``table_exists`` for an identifier already written as ``catalog.database.table``."""
    try:
        spark.table(fq_table).schema  # noqa: B018 (resolves the table)
        return True
    except Exception as err:  # AnalysisException: table or view not found
        text = str(err)
        if "TABLE_OR_VIEW_NOT_FOUND" in text or "not found" in text.lower():
            return False
        raise


def properties_sql(properties: Optional[Dict[str, str]] = None) -> str:
    props = dict(ICEBERG_TABLE_PROPERTIES, **(properties or {}))
    return "TBLPROPERTIES (" + ", ".join(f"'{k}'='{v}'" for k, v in props.items()) + ")"


def _norm(data_type: T.DataType) -> T.DataType:
    """The type Iceberg stores: Spark's byte and short columns become Iceberg ``int``."""
    return T.IntegerType() if isinstance(data_type, (T.ByteType, T.ShortType)) else data_type


def type_sql(data_type: T.DataType) -> str:
    return _norm(data_type).simpleString()


def iceberg_can_widen(old: T.DataType, new: T.DataType) -> bool:
    """The promotions Iceberg allows on an existing column (spec, "Schema evolution"): int to
    long, float to double, decimal(P, S) to decimal(P', S) with P' > P."""
    old, new = _norm(old), _norm(new)
    if isinstance(old, T.IntegerType) and isinstance(new, T.LongType):
        return True
    if isinstance(old, T.FloatType) and isinstance(new, T.DoubleType):
        return True
    return isinstance(old, T.DecimalType) and isinstance(new, T.DecimalType) and new.scale == old.scale \
        and new.precision > old.precision


def fits(value: T.DataType, column: T.DataType) -> bool:
    """Whether every value of type ``value`` is stored exactly in a column of type ``column``
    (same type, a type Iceberg widens to it, or a decimal with no more integer and fraction digits)."""
    value, column = _norm(value), _norm(column)
    if value == column or iceberg_can_widen(value, column):
        return True
    if isinstance(value, T.NullType):
        return True
    return isinstance(value, T.DecimalType) and isinstance(column, T.DecimalType) and value.scale <= column.scale \
        and value.precision - value.scale <= column.precision - column.scale


def _transform_key(expr: str) -> str:
    return re.sub(r"[\s`]", "", expr).lower()


def partition_fields(spark: SparkSession, fq_table: str) -> List[str]:
    """The table's current partition transforms as Spark prints them (``days(event_time)``)."""
    rows = spark.sql(f"DESCRIBE TABLE {fq_table}").collect()
    out, inside = [], False
    for row in rows:
        name = (row["col_name"] or "").strip()
        if name == "# Partitioning":
            inside = True
            continue
        if inside:
            if not name or name.startswith("#"):
                break
            if name.startswith("Part "):
                out.append(row["data_type"].strip())
    return out


def create_or_evolve_table(spark: SparkSession, fq_table: str, schema: T.StructType, partition_by: Sequence[str] = (),
                           sort_by: Sequence[str] = (), properties: Optional[Dict[str, str]] = None,
                           location: Optional[str] = None, keep_types: bool = False) -> T.StructType:
    """Makes ``fq_table`` hold every column of ``schema`` and returns its schema.

    On first use the table is created with the columns, ``PARTITIONED BY`` the ``partition_by``
    transforms (Spark SQL, e.g. ``days(event_time)``), ``ICEBERG_TABLE_PROPERTIES`` plus
    ``properties``, and the write order ``sort_by``. Afterwards, a new column is added (as
    nullable), a column whose new type Iceberg can widen it to is widened, and a partition
    transform the table lacks is added (Iceberg partition evolution: files written before keep
    their old spec). A type that the column can hold already (``fits``) changes nothing; any other
    type change raises ``SchemaEvolutionError`` naming every such column, before anything changes,
    unless ``keep_types`` (the column keeps its type; ``align_to_table(strict=False)`` then casts
    the values as Spark does, for sources whose inferred types drift, such as JSON).
    Column names match case-insensitively, as in the Glue catalog."""
    if not fq_table_exists(spark, fq_table):
        ddl = ", ".join(f"{quote(f.name)} {type_sql(f.dataType)}" for f in schema.fields)
        parts = f" PARTITIONED BY ({', '.join(partition_by)})" if partition_by else ""
        where = f" LOCATION '{location}'" if location else ""
        spark.sql(f"CREATE TABLE IF NOT EXISTS {fq_table} ({ddl}) USING iceberg{parts}{where} {properties_sql(properties)}")
        if sort_by:
            spark.sql(f"ALTER TABLE {fq_table} WRITE ORDERED BY {', '.join(sort_by)}")
        return spark.table(fq_table).schema
    existing = {f.name.lower(): f for f in spark.table(fq_table).schema.fields}
    add, widen, errors = [], [], []
    for field in schema.fields:
        old = existing.get(field.name.lower())
        if old is None:
            add.append(field)
        elif fits(field.dataType, old.dataType):
            continue
        elif iceberg_can_widen(old.dataType, field.dataType):
            widen.append(T.StructField(old.name, _norm(field.dataType), True))
        elif not keep_types:
            errors.append(f"column {old.name!r} is {type_sql(old.dataType)} but the new rows have {type_sql(field.dataType)}")
    if errors:
        raise SchemaEvolutionError(
            f"{fq_table}: {'; '.join(errors)}; {WIDENING_RULE}. Nothing was changed. Fix: restore the type at the source, "
            "or recreate the table")
    for field in widen:
        spark.sql(f"ALTER TABLE {fq_table} ALTER COLUMN {quote(field.name)} TYPE {type_sql(field.dataType)}")
    if add:
        spark.sql(f"ALTER TABLE {fq_table} ADD COLUMNS ({', '.join(f'{quote(f.name)} {type_sql(f.dataType)}' for f in add)})")
    if partition_by:
        have = {_transform_key(p) for p in partition_fields(spark, fq_table)}
        for expr in partition_by:
            if _transform_key(expr) not in have:
                spark.sql(f"ALTER TABLE {fq_table} ADD PARTITION FIELD {expr}")
    return spark.table(fq_table).schema


def align_to_table(spark: SparkSession, df: DataFrame, fq_table: str, strict: bool = True,
                   carry: Sequence[str] = ()) -> DataFrame:
    """``df`` with exactly the table's columns, in the table's order and types: a column the rows
    lack is null; names match case-insensitively. With ``strict`` a value type that the column
    cannot hold exactly (``fits``) raises ``SchemaEvolutionError``; without it the value is cast as
    Spark casts (a text that is no number becomes null). Columns named in ``carry`` are kept after
    the table's columns (for MERGE conditions); they are never written."""
    target = spark.table(fq_table).schema
    src = {f.name.lower(): f for f in df.schema.fields}
    out, errors = [], []
    for field in target.fields:
        have = src.get(field.name.lower())
        if have is None:
            out.append(F.lit(None).cast(field.dataType).alias(field.name))
            continue
        if strict and not fits(have.dataType, field.dataType):
            errors.append(f"column {field.name!r} is {type_sql(field.dataType)} in the table but {type_sql(have.dataType)} in the rows")
        out.append(F.col(quote(have.name)).cast(field.dataType).alias(field.name))
    if errors:
        raise SchemaEvolutionError(f"{fq_table}: {'; '.join(errors)}; {WIDENING_RULE}")
    taken = {f.name.lower() for f in target.fields}
    extra = [F.col(quote(src[c.lower()].name)).alias(c) for c in carry if c.lower() in src and c.lower() not in taken]
    return df.select(*out, *extra)


def merge_by_key(spark: SparkSession, source_df: DataFrame, fq_table: str, keys: Sequence[str], update: bool = True,
                 target_filter: Optional[str] = None, matched_condition: Optional[str] = None,
                 delete_condition: Optional[str] = None, insert_condition: Optional[str] = None,
                 carry: Sequence[str] = (), strict: bool = True) -> None:
    """One Iceberg ``MERGE INTO fq_table t USING <rows> s ON t.k = s.k AND ...``.

    The rows are aligned to the table first (``align_to_table``). A matched row is updated
    (``update``, only where ``matched_condition`` holds) or deleted (where ``delete_condition``
    holds; checked first); an unmatched row is inserted (where ``insert_condition`` holds).
    Conditions are Spark SQL over ``s.`` and ``t.`` and may use the ``carry`` columns of the rows.
    ``target_filter`` (SQL over ``t.`` only) joins the ON clause: Iceberg pushes it into the scan
    of the target, so only files and partitions that can match are read; rows outside it count
    as unmatched. Keys must not be null (a null never matches, so it would be inserted again)."""
    if not keys:
        raise ValueError("merge_by_key needs at least one key column")
    aligned = align_to_table(spark, source_df, fq_table, strict=strict, carry=carry)
    cols = [c for c in aligned.columns if c not in carry]
    # A name no other merge can hold: jobs merge several tables at once in threads of one session.
    view = f"lakehouse_merge_src_{uuid.uuid4().hex}"
    aligned.createOrReplaceTempView(view)
    on = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in keys)
    if target_filter:
        on += f" AND ({target_filter})"
    clauses = []
    if delete_condition:
        clauses.append(f"WHEN MATCHED AND ({delete_condition}) THEN DELETE")
    if update:
        sets = ", ".join(f"t.{quote(c)} = s.{quote(c)}" for c in cols)
        cond = f" AND ({matched_condition})" if matched_condition else ""
        clauses.append(f"WHEN MATCHED{cond} THEN UPDATE SET {sets}")
    cond = f" AND ({insert_condition})" if insert_condition else ""
    names = ", ".join(quote(c) for c in cols)
    values = ", ".join(f"s.{quote(c)}" for c in cols)
    clauses.append(f"WHEN NOT MATCHED{cond} THEN INSERT ({names}) VALUES ({values})")
    try:
        spark.sql(f"MERGE INTO {fq_table} t USING {view} s ON {on} " + " ".join(clauses))
    finally:
        spark.catalog.dropTempView(view)


def insert_new_by_key(spark: SparkSession, source_df: DataFrame, fq_table: str, keys: Sequence[str],
                      target_filter: Optional[str] = None, strict: bool = True) -> int:
    """Appends the rows whose key the table does not hold (within ``target_filter``, SQL over ``t.``
    that Iceberg pushes into the scan of the target) and returns how many; rows whose key is
    there are left alone. This is what an insert-only MERGE does (Spark plans one as a left anti
    join and an append), except that nothing is committed when no row is new: an insert-only
    MERGE commits an empty snapshot, which would look like fresh data to a freshness alarm.
    Unlike MERGE, the append does not check for rows another writer added meanwhile: use it
    where runs of one table never overlap (the merge jobs run one at a time)."""
    if not keys:
        raise ValueError("insert_new_by_key needs at least one key column")
    aligned = align_to_table(spark, source_df, fq_table, strict=strict)
    target = spark.table(fq_table).alias("t")
    if target_filter:
        target = target.where(target_filter)
    target = target.select(*[F.col(f"t.{quote(k)}").alias(k) for k in keys])
    new = aligned.join(target, list(keys), "left_anti").select(*aligned.columns).persist()
    try:
        count = new.count()
        if count:
            new.writeTo(fq_table).append()
        return count
    finally:
        new.unpersist()


def last_commit(spark: SparkSession, fq_table: str) -> Optional[dict]:
    """The snapshot that is current on the table's main branch: ``{"snapshotId", "committedAt"}``
    (``committedAt`` a naive datetime in the session time zone, UTC in the jobs), or None for a
    table without snapshots."""
    rows = spark.sql(
        f"SELECT h.snapshot_id, s.committed_at FROM {fq_table}.history h JOIN {fq_table}.snapshots s "
        "ON h.snapshot_id = s.snapshot_id ORDER BY h.made_current_at DESC LIMIT 1").collect()
    if not rows:
        return None
    return {"snapshotId": rows[0]["snapshot_id"], "committedAt": rows[0]["committed_at"]}


# --------------------------------------------------------------------------- small files


def _path(spark: SparkSession, url: str):
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(url)
    return path.getFileSystem(spark._jsc.hadoopConfiguration()), path


def read_text(spark: SparkSession, url: str) -> Optional[str]:
    """A small file's text through Hadoop's FileSystem (S3 in Glue, local paths in tests), or
    None if it does not exist. Unlike Spark's readers it also reads names starting with ``_``."""
    fs, path = _path(spark, url)
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        return spark._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def write_text(spark: SparkSession, url: str, text: str) -> None:
    """Writes a small file in one piece (one PUT on S3), replacing it."""
    fs, path = _path(spark, url)
    out = fs.create(path, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()


class RunLedger:
    """A JSON state document of a job (a ledger of merged files, a watermark) at ``url``, an
    ``s3://`` URL in Glue or a local path. ``load`` returns the document (``default`` before the
    first save); ``save`` replaces it in one write, adding ``updatedAt``. Save after the Iceberg
    commit it describes: a crash in between only makes the next run redo work that the merge
    makes a no-op."""

    def __init__(self, spark: SparkSession, url: str):
        self.spark = spark
        self.url = url

    def load(self, default: Optional[dict] = None) -> Optional[dict]:
        text = read_text(self.spark, self.url)
        if text is None:
            return None if default is None else json.loads(json.dumps(default))
        return json.loads(text)

    def save(self, document: dict, now: Optional[dt.datetime] = None) -> dict:
        stamp = (now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)).isoformat()
        body = dict(document, updatedAt=stamp)
        write_text(self.spark, self.url, json.dumps(body, sort_keys=True, default=str))
        return body


def write_quarantine(df: DataFrame, path: str, reason: Optional[str] = None, fmt: str = "parquet",
                     mode: str = "append", drop: Sequence[str] = ()) -> int:
    """Writes rows that cannot be merged under ``path`` (``parquet`` or ``json`` lines, one file)
    and returns how many; with ``reason`` a ``_reason`` column says why. Writes nothing for no rows."""
    if reason is not None:
        df = df.withColumn("_reason", F.lit(reason))
    df = df.drop(*drop)
    count = df.count()
    if count:
        writer = df.coalesce(1).write.mode(mode)
        if fmt == "json":
            writer.json(path)
        elif fmt == "parquet":
            writer.parquet(path)
        else:
            raise ValueError(f"write_quarantine: fmt must be 'parquet' or 'json', not {fmt!r}")
    return count


# --------------------------------------------------------------------------- metrics


class MetricsPublisher:
    """The merge metrics of one run, in CloudWatch ``MetricData`` form.

    ``add(metric, value, table=None, unit='Count')`` adds one datum with the dimensions
    ``{Pipeline}`` (no table) or ``{Pipeline, Table}``. ``add_table`` adds a curated table's
    result and keeps run totals; ``finish(run_seconds)`` adds the ``{Pipeline}`` totals:
    ``RowsMerged``, ``RowsQuarantined``, ``TablesFailed``, ``TableCommits`` (tables whose main
    branch got a new snapshot), ``CommitAgeSeconds`` (the stalest table's age) and ``RunSeconds``.
    ``publish(cloudwatch)`` sends them with ``PutMetricData`` in batches of 20."""

    BATCH = 20

    def __init__(self, namespace: str, pipeline: str, now: Optional[dt.datetime] = None):
        if not namespace or not pipeline:
            raise ValueError("MetricsPublisher needs a namespace (--metrics_namespace) and a pipeline name")
        self.namespace = namespace
        self.pipeline = pipeline
        self.now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        self.data: List[dict] = []
        self._totals = {"RowsMerged": 0, "RowsQuarantined": 0, "TablesFailed": 0, "TableCommits": 0}
        self._ages: List[float] = []

    def add(self, metric: str, value: float, table: Optional[str] = None, unit: str = "Count") -> None:
        dims = [{"Name": "Pipeline", "Value": self.pipeline}]
        if table is not None:
            dims.append({"Name": "Table", "Value": table})
        self.data.append({"MetricName": metric, "Dimensions": dims, "Timestamp": self.now, "Value": float(value), "Unit": unit})

    def add_table(self, table: str, rows_merged: int = 0, rows_quarantined: int = 0, committed: bool = False,
                  commit_age_seconds: Optional[float] = None, failed: bool = False) -> None:
        values = {"RowsMerged": rows_merged, "RowsQuarantined": rows_quarantined, "TablesFailed": 1 if failed else 0,
                  "TableCommits": 1 if committed else 0}
        for metric, value in values.items():
            self.add(metric, value, table)
            self._totals[metric] += value
        if commit_age_seconds is not None:
            age = max(0.0, float(commit_age_seconds))
            self.add("CommitAgeSeconds", age, table, "Seconds")
            self._ages.append(age)

    def add_audit(self, table: str, outcome: Optional[dict]) -> None:
        """The write-audit-publish counts of one table (``{Pipeline, Table}``): ``AuditsPassed`` and
        ``AuditsFailed`` (1 or 0) and ``RuleFailures`` (rules that failed, blocking or warning). A run
        whose rows were not audited (no rules, nothing written) adds nothing."""
        if not outcome or not outcome.get("audited"):
            return
        self.add("AuditsPassed", 1 if outcome["passed"] else 0, table)
        self.add("AuditsFailed", 0 if outcome["passed"] else 1, table)
        self.add("RuleFailures", sum(1 for r in outcome["results"] if not r["passed"]), table)

    def finish(self, run_seconds: float) -> None:
        for metric, value in self._totals.items():
            self.add(metric, value)
        if self._ages:
            self.add("CommitAgeSeconds", max(self._ages), None, "Seconds")
        self.add("RunSeconds", max(0.0, float(run_seconds)), None, "Seconds")

    def publish(self, cloudwatch) -> int:
        """Sends every datum; returns the number of ``PutMetricData`` calls."""
        calls = 0
        for start in range(0, len(self.data), self.BATCH):
            cloudwatch.put_metric_data(Namespace=self.namespace, MetricData=self.data[start:start + self.BATCH])
            calls += 1
        return calls


def commit_age_seconds(commit: Optional[dict], now: dt.datetime) -> Optional[float]:
    """Seconds from the table's last commit (``last_commit``) to ``now`` (naive UTC), or None."""
    if commit is None:
        return None
    return max(0.0, (now - commit["committedAt"]).total_seconds())



# --------------------------------------------------------------------------- write-audit-publish

#: The job arguments of write-audit-publish, rollback and reprocess, with their defaults (for
#: ``parse_args``'s ``optional``): the rule document (inline JSON, or an S3 object that takes
#: precedence), where the ops records go, and the operation (``merge``, ``rollback``, ``reprocess``).
QUALITY_ARGUMENTS: Dict[str, Optional[str]] = {
    "quality_rules": None,
    "quality_rules_path": None,
    "quality_results_path": None,
    "operation": "merge",
    "table": None,
    "snapshot_id": None,
    "to_timestamp": None,
    "JOB_RUN_ID": None,
}
OPERATIONS = ("merge", "rollback", "reprocess")


def split_fq(fq_table: str) -> List[str]:
    """``[catalog, database, table]`` of ``catalog.database.table`` (parts plain or in backticks)."""
    parts = [a if a else b for a, b in re.findall(r"`((?:[^`]|``)*)`|([^.`]+)", fq_table)]
    parts = [p.replace("``", "`") for p in parts]
    if len(parts) != 3:
        raise ValueError(f"{fq_table!r} is not catalog.database.table")
    return parts


def audit_branch_name(run_id: str) -> str:
    """``audit_<run id>`` with every character other than a letter, digit or ``_`` as ``_``."""
    return "audit_" + re.sub(r"[^A-Za-z0-9_]", "_", run_id)


def branch_table(fq_table: str, branch: str) -> str:
    """The identifier that reads and writes ``branch`` of the table (``<table>.branch_<name>``)."""
    return f"{fq_table}.{quote('branch_' + branch)}"


def ref_snapshot(spark: SparkSession, fq_table: str, ref: str = "main") -> Optional[int]:
    """The snapshot id a branch or tag points to, or None (no such ref; main before any commit)."""
    rows = spark.sql(f"SELECT snapshot_id FROM {fq_table}.refs WHERE name = '{ref}'").collect()
    return rows[0]["snapshot_id"] if rows else None


def load_quality_rules(spark: SparkSession, rules_json: Optional[str] = None, rules_path: Optional[str] = None) -> Dict[str, List[dict]]:
    """The rules per curated table from ``--quality_rules_path`` (an S3 object, read through
    Hadoop's FileSystem; it takes precedence) or ``--quality_rules`` (inline JSON). ``{}`` when
    neither is given; a path that does not exist is an error (a rule set must not vanish silently)."""
    import lakehouse_quality as lq

    if rules_path:
        text = read_text(spark, rules_path)
        if text is None:
            raise lq.QualityRulesError(f"--quality_rules_path {rules_path} does not exist")
        return lq.parse_rules(text)
    return lq.parse_rules(rules_json)


def record_ops(spark: SparkSession, results_path: Optional[str], records: List[dict], now: Optional[dt.datetime] = None) -> int:
    """Appends ``records`` as JSON lines (one file) under ``<results_path>/date=<YYYY-MM-DD>/`` (the
    lake's ops data, readable by Athena with the JSON SerDe); returns how many. Nothing without a
    path or records."""
    if not results_path or not records:
        return 0
    day = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d")
    lines = [(json.dumps(r, sort_keys=True, default=str),) for r in records]
    spark.createDataFrame(lines, "value string").coalesce(1).write.mode("append").text(f"{results_path.rstrip('/')}/date={day}/")
    return len(records)


def _call_table(fq_table: str) -> Tuple[str, str]:
    catalog, database, table = split_fq(fq_table)
    return quote(catalog), f"{database}.{table}".replace("'", "\\'")


def write_audit_publish(spark: SparkSession, fq_table: str, rules: Optional[List[dict]], write_fn, run_id: str,
                        results_path: Optional[str] = None, now: Optional[dt.datetime] = None, retain_days: float = 7,
                        operation: str = "merge", raise_on_failure: bool = True, always_branch: bool = False) -> dict:
    """Runs ``write_fn(target)`` so that readers of ``fq_table`` (its main branch) see its rows
    only if they pass every blocking rule.

    Without rules, ``write_fn(fq_table)`` writes to main as before (unless ``always_branch``: then
    the steps below run with no rule to fail). With rules:

    1. ``ALTER TABLE ... CREATE OR REPLACE BRANCH audit_<run_id> RETAIN <retain_days> DAYS`` from
       main's current snapshot (on a table without one, Iceberg starts the branch with an empty
       snapshot);
    2. ``write_fn(<table>.branch_audit_<run_id>)`` writes there (MERGE, append, overwrite);
    3. if the branch did not move, nothing was written: the branch is dropped, nothing published;
    4. the rules run on the branch (``lakehouse_quality.evaluate``; ``RowCountChange`` compares
       with main), and their results go to ``results_path`` (``record_ops``);
    5. every blocking rule passed: ``CALL <catalog>.system.fast_forward('<db.table>', 'main',
       '<branch>')`` (main becomes the branch's snapshot in one metadata commit) and the branch
       is dropped; otherwise main is not touched, the branch is kept (Iceberg removes the ref
       when it is older than ``retain_days`` and snapshots are expired) and, with
       ``raise_on_failure``, ``AuditFailedError`` is raised after the results are recorded.

    Returns ``{"table", "operation", "runId", "branch", "audited", "passed", "published",
    "mainSnapshotBefore", "mainSnapshotAfter", "auditSnapshot", "results"}``. The fast-forward
    fails (and so does the run, main untouched) if main moved meanwhile, for example by a
    compaction: the merge jobs run one at a time, so only table maintenance can do that."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    catalog, database, name = split_fq(fq_table)
    outcome = {"table": name, "operation": operation, "runId": run_id, "branch": None, "audited": False, "passed": True,
               "published": False, "mainSnapshotBefore": ref_snapshot(spark, fq_table), "mainSnapshotAfter": None,
               "auditSnapshot": None, "results": []}
    rules = list(rules or [])
    if not rules and not always_branch:
        write_fn(fq_table)
        outcome["mainSnapshotAfter"] = ref_snapshot(spark, fq_table)
        outcome["published"] = outcome["mainSnapshotAfter"] != outcome["mainSnapshotBefore"]
        return outcome
    branch = audit_branch_name(run_id)
    outcome["branch"] = branch
    spark.sql(f"ALTER TABLE {fq_table} CREATE OR REPLACE BRANCH {quote(branch)} RETAIN {int(max(1, retain_days))} DAYS")
    start = ref_snapshot(spark, fq_table, branch)
    target = branch_table(fq_table, branch)
    write_fn(target)
    audited = ref_snapshot(spark, fq_table, branch)
    outcome["auditSnapshot"] = audited
    if audited == start:
        spark.sql(f"ALTER TABLE {fq_table} DROP BRANCH IF EXISTS {quote(branch)}")
        outcome["mainSnapshotAfter"] = outcome["mainSnapshotBefore"]
        return outcome
    main_before = outcome["mainSnapshotBefore"]
    previous = spark.table(fq_table) if main_before is not None else None
    results = []
    if rules:
        import lakehouse_quality as lq  # only jobs with rules need it (and the Deequ jar)

        results = lq.evaluate(spark, spark.table(target), rules, previous=previous, table_sql=target, now=now)
    blocked = [r for r in results if not r["passed"] and r["severity"] == "block"]
    outcome.update(audited=True, passed=not blocked, results=results)
    if not blocked:
        cat, table_arg = _call_table(fq_table)
        spark.sql(f"CALL {cat}.system.fast_forward('{table_arg}', 'main', '{branch}')")
        spark.sql(f"ALTER TABLE {fq_table} DROP BRANCH IF EXISTS {quote(branch)}")
        outcome["published"] = True
    outcome["mainSnapshotAfter"] = ref_snapshot(spark, fq_table)
    stamp = now.isoformat()
    base = {"operation": operation, "table": name, "database": database, "runId": run_id, "branch": branch,
            "mainSnapshotBefore": main_before, "auditSnapshot": audited, "published": outcome["published"], "at": stamp}
    records = [dict(base, kind="rule", **r) for r in results]
    records.append(dict(base, kind="audit", passed=outcome["passed"], mainSnapshotAfter=outcome["mainSnapshotAfter"],
                        blockingFailures=len(blocked), ruleFailures=sum(1 for r in results if not r["passed"])))
    record_ops(spark, results_path, records, now)
    if blocked and raise_on_failure:
        raise AuditFailedError(outcome)
    return outcome


def overwrite_with(spark: SparkSession, df: DataFrame, strict: bool = False):
    """A ``write_fn`` that replaces every row of the target with ``df`` (aligned to the table) in
    one overwrite commit, whose parent is the target's snapshot: on an audit branch made from
    main, main stays an ancestor, so the publish is a legal fast-forward."""
    def write(target: str) -> None:
        aligned = align_to_table(spark, df, target, strict=strict)
        aligned.writeTo(target).overwrite(F.lit(True))
    return write


def reprocess(spark: SparkSession, fq_table: str, rules: Optional[List[dict]], rows: DataFrame, run_id: str,
              results_path: Optional[str] = None, now: Optional[dt.datetime] = None, retain_days: float = 7) -> dict:
    """Rebuilds ``fq_table`` as ``rows`` (the curated rows recomputed from the raw zone) on an audit
    branch while readers keep reading main, audits it with ``rules`` and publishes it with one
    fast-forward (``write_audit_publish`` with ``operation="reprocess"``). Without rules the
    rebuild still goes through a branch (a reprocess must never show readers a half-built
    table) and is published unconditionally; the record lands in the ops data either way."""
    return write_audit_publish(spark, fq_table, rules, overwrite_with(spark, rows), run_id, results_path, now, retain_days,
                               operation="reprocess", always_branch=True)


def rollback(spark: SparkSession, fq_table: str, snapshot_id: Optional[int] = None, to_timestamp: Optional[str] = None,
             results_path: Optional[str] = None, run_id: Optional[str] = None, now: Optional[dt.datetime] = None) -> dict:
    """Rolls the table's main branch back to ``snapshot_id`` (``CALL system.rollback_to_snapshot``)
    or to the snapshot current at ``to_timestamp`` (ISO 8601, UTC; ``rollback_to_timestamp``),
    records ``{"kind": "rollback", ...}`` in the ops data and returns it. Exactly one of the two
    must be given. Iceberg refuses a snapshot that is not an ancestor of main (the error names it)."""
    if (snapshot_id is None) == (to_timestamp is None):
        raise GlueArgumentError("rollback needs exactly one of --snapshot_id and --to_timestamp")
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    cat, table_arg = _call_table(fq_table)
    before = ref_snapshot(spark, fq_table)
    if snapshot_id is not None:
        spark.sql(f"CALL {cat}.system.rollback_to_snapshot('{table_arg}', {int(snapshot_id)})")
    else:
        stamp = dt.datetime.fromisoformat(to_timestamp.replace("Z", "+00:00"))
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
        spark.sql(f"CALL {cat}.system.rollback_to_timestamp('{table_arg}', TIMESTAMP '{stamp.isoformat(sep=' ')}')")
    record = {"kind": "rollback", "operation": "rollback", "table": split_fq(fq_table)[2], "runId": run_id,
              "requestedSnapshotId": snapshot_id, "requestedTimestamp": to_timestamp, "mainSnapshotBefore": before,
              "mainSnapshotAfter": ref_snapshot(spark, fq_table), "at": now.isoformat()}
    record_ops(spark, results_path, [record], now)
    return record
