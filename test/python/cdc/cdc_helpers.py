"""Test helpers: DMS-shaped Parquet files in a raw folder, and a one-call merge run."""
import datetime as dt
import importlib.util
import pathlib
import re
import shutil
import uuid

SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "src" / "ingestion" / "cdc" / "glue" / "cdc_merge.py"
_spec = importlib.util.spec_from_file_location("cdc_merge_for_helpers", SCRIPT)
cdc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cdc)

T0 = dt.datetime(2026, 1, 1, 0, 0, 0)
RAW_PREFIX = "shop/"
STATE_PREFIX = "_ops/cdc/shop/"
QUARANTINE_PREFIX = "_quarantine/shop/"


def seq(n):
    """A DMS change sequence: 16 digits of time + a 19-digit zero-padded counter."""
    return "2026010100000000" + str(n).zfill(19)


def ts(seconds):
    return T0 + dt.timedelta(seconds=seconds)


def cdc_path(n, day=1):
    """Relative path of the n-th CDC file of a day (names sort by n)."""
    moment = T0 + dt.timedelta(days=day - 1, seconds=n)
    return moment.strftime("%Y/%m/%d/%Y%m%d-%H%M%S") + f"{n % 1000:03d}.parquet"


def load_path(n):
    return f"LOAD{n:08X}.parquet"


def change(op, n, key, commit=None, **values):
    """One DMS row: Op, commit ts (default: second n), change seq n (None for full load)."""
    return {"Op": op, "_dms_commit_ts": ts(n if commit is None else commit),
            "_dms_change_seq": None if op == "L" else seq(n), "id": key, **values}


def full_load(key, **values):
    return {"Op": "I", "_dms_commit_ts": T0, "_dms_change_seq": None, "id": key, **values}


class Lake:
    def __init__(self, spark, root, catalog, database):
        self.spark = spark
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.catalog = catalog
        self.database = database
        self.raw_root = self.root.as_uri() + "/"

    def table_dir(self, schema, table):
        return self.root / RAW_PREFIX / schema / table

    def write(self, schema, table, files, columns):
        """Writes DMS files: ``files`` maps a relative path to a list of row dicts; ``columns``
        is the DDL of the source columns (after Op, _dms_commit_ts, _dms_change_seq) the files
        have. One Spark job for all files, rows kept in list order."""
        ddl = "Op string, _dms_commit_ts timestamp, _dms_change_seq string, " + columns + ", _f int, _pos int"
        names = [c.strip().split(" ")[0] for c in re.split(r",(?![^(]*\))", ddl)]  # not the comma of decimal(p,s)
        rows = []
        order = list(files.items())
        for index, (_, file_rows) in enumerate(order):
            for pos, row in enumerate(file_rows):
                rows.append(tuple(row.get(n) if n not in ("_f", "_pos") else (index if n == "_f" else pos) for n in names))
        staging = self.root / ("_staging-" + uuid.uuid4().hex)
        df = self.spark.createDataFrame(rows, ddl)
        df.repartition(1).sortWithinPartitions("_f", "_pos").drop("_pos").write.partitionBy("_f").parquet(str(staging))
        for index, (rel, _) in enumerate(order):
            part = next((staging / f"_f={index}").glob("part-*.parquet"), None)
            target = self.table_dir(schema, table) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if part is None:  # a file without rows: an empty DataFrame of the same columns
                empty = self.spark.createDataFrame([], ddl).drop("_f", "_pos")
                out = self.root / ("_staging-" + uuid.uuid4().hex)
                empty.coalesce(1).write.parquet(str(out))
                part = next(out.glob("part-*.parquet"))
            shutil.move(str(part), str(target))
        shutil.rmtree(staging, ignore_errors=True)

    def run(self, tables, now=None, prefix="shop_", **kwargs):
        return cdc.run(self.spark, "shop", self.raw_root, RAW_PREFIX, self.catalog, self.database, prefix, tables,
                       STATE_PREFIX, QUARANTINE_PREFIX, now or dt.datetime(2026, 2, 1), **kwargs)

    def ident(self, name):
        return f"{self.catalog}.{self.database}.{name}"

    def rows(self, name, columns=None, key="id"):
        df = self.spark.table(self.ident(name))
        if columns:
            df = df.select(*columns)
        return sorted((r.asDict() for r in df.collect()), key=lambda r: r[key])

    def snapshots(self, name):
        return self.spark.sql(f"SELECT snapshot_id FROM {self.ident(name)}.snapshots").count()

    def quarantine(self, schema, table):
        folder = self.root / QUARANTINE_PREFIX / schema / table
        if not folder.exists():
            return []
        return [r.asDict() for r in self.spark.read.parquet(str(folder) + "/*/").collect()]


def spec(name, key=("id",), mode="cdc", **extra):
    schema, table = name.split(".", 1)
    return {"name": name, "schema": schema, "table": table, "primaryKey": list(key), "mode": mode, **extra}
