"""Fixtures for the CdcIngestion merge job's tests.

The SparkSession is the root conftest's (one for every suite); this suite adds its Iceberg catalog
(``cdc_test``, a Hadoop catalog in a temporary folder) and the PostgreSQL JDBC driver (``ADD JAR``:
the job names the driver class, so Spark loads it from the session's class loader).
"""
import importlib.util
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from postgres_fixture import Postgres, postgres_jdbc_jar  # noqa: E402

SCRIPT = HERE.parents[2] / "src" / "ingestion" / "cdc" / "glue" / "cdc_merge.py"
CATALOG = "cdc_test"


@pytest.fixture(scope="session")
def spark(spark, tmp_path_factory):
    """The root session, with this suite's catalog and the JDBC driver."""
    spark.sql(f"ADD JAR {postgres_jdbc_jar()}")
    warehouse = tmp_path_factory.mktemp("cdc-warehouse")
    spark.conf.set(f"spark.sql.catalog.{CATALOG}", "org.apache.iceberg.spark.SparkCatalog")
    spark.conf.set(f"spark.sql.catalog.{CATALOG}.type", "hadoop")
    spark.conf.set(f"spark.sql.catalog.{CATALOG}.warehouse", str(warehouse))
    return spark


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
