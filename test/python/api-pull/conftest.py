"""One local SparkSession with Apache Iceberg for the whole test session.

The Iceberg Spark runtime jar (the version Glue 5.0 ships) is fetched once from Maven Central
into ~/.cache/cdk-lakehouse/ (a fresh CI machine has nothing), then reused. The catalog is a
Hadoop catalog in a temporary folder: no AWS, no network at test time.
"""
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[3] / "src" / "ingestion" / "api-pull" / "glue"))

ICEBERG_VERSION = "1.7.1"
ARTIFACT = f"iceberg-spark-runtime-3.5_2.12-{ICEBERG_VERSION}.jar"
URL = f"https://repo1.maven.org/maven2/org/apache/iceberg/iceberg-spark-runtime-3.5_2.12/{ICEBERG_VERSION}/{ARTIFACT}"
CACHE = Path(os.environ.get("CDK_LAKEHOUSE_CACHE", Path.home() / ".cache" / "cdk-lakehouse"))


def iceberg_jar() -> Path:
    jar = CACHE / ARTIFACT
    if not jar.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        part = jar.with_suffix(f".part{os.getpid()}")
        urllib.request.urlretrieve(URL, part)
        part.replace(jar)  # atomic: a concurrent run never sees half a jar
    return jar


@pytest.fixture(scope="session")
def warehouse():
    with tempfile.TemporaryDirectory(prefix="api-pull-warehouse-") as path:
        yield path


@pytest.fixture(scope="session")
def spark(warehouse):
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("api-pull-transform-tests")
        .config("spark.jars", str(iceberg_jar()))
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.catalog.local", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.catalog.local.type", "hadoop")
        .config("spark.sql.catalog.local.warehouse", warehouse)
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    session.sql("CREATE NAMESPACE IF NOT EXISTS local.curated")
    yield session
    session.stop()
