"""Fixtures for the CdcIngestion merge job's tests.

One local SparkSession with Iceberg (the runtime Glue 5.0 ships) and the PostgreSQL JDBC driver
for the whole pytest session. All Python suites run in one pytest process, so another suite's
conftest may have created the session first: the Iceberg catalog of these tests (``cdc_test``, a
Hadoop catalog in a temporary folder) is set at run time, and the JDBC driver is added with
``ADD JAR`` (the job names the driver class, so Spark loads it from the session's class loader).
"""
import importlib.util
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from postgres_fixture import Postgres, iceberg_jar, postgres_jdbc_jar  # noqa: E402

SCRIPT = HERE.parents[2] / "src" / "ingestion" / "cdc" / "glue" / "cdc_merge.py"
CATALOG = "cdc_test"


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    jars = [iceberg_jar(), postgres_jdbc_jar()]
    created = SparkSession.getActiveSession() is None
    session = (
        SparkSession.builder.master("local[1]")
        .appName("cdc-merge-tests")
        .config("spark.jars", ",".join(jars))
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    if not created:
        session.sql(f"ADD JAR {jars[1]}")
    warehouse = tmp_path_factory.mktemp("cdc-warehouse")
    session.conf.set(f"spark.sql.catalog.{CATALOG}", "org.apache.iceberg.spark.SparkCatalog")
    session.conf.set(f"spark.sql.catalog.{CATALOG}.type", "hadoop")
    session.conf.set(f"spark.sql.catalog.{CATALOG}.warehouse", str(warehouse))
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    if created:
        session.stop()


@pytest.fixture(scope="session")
def cdc():
    spec = importlib.util.spec_from_file_location("cdc_merge", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def postgres():
    server = Postgres().start()
    yield server
    server.stop()


_counter = [0]


@pytest.fixture
def lake(spark, tmp_path):
    """A raw bucket folder and a fresh curated database for one test."""
    from cdc_helpers import Lake

    _counter[0] += 1
    database = f"curated{_counter[0]}"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{database}")
    return Lake(spark, tmp_path / "raw", CATALOG, database)


@pytest.fixture
def lake_factory(spark, tmp_path_factory):
    """Fresh lakes within one test (a Hypothesis example each)."""
    from cdc_helpers import Lake

    def make():
        _counter[0] += 1
        database = f"curated{_counter[0]}"
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.{database}")
        return Lake(spark, tmp_path_factory.mktemp("raw"), CATALOG, database)
    return make
