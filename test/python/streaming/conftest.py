"""One local SparkSession with Iceberg for the whole test session.

The Iceberg Spark runtime (the version Glue 5.0 ships) is fetched once from Maven Central with
mvn into ~/.cache/cdk-lakehouse/iceberg/; Spark runs in local mode with a Hadoop catalog in a
temporary warehouse. Nothing but Maven Central (for the jar, once) is contacted.
"""
import importlib.util
import os
import pathlib
import subprocess

import pytest

ICEBERG_VERSION = "1.7.1"
ICEBERG_ARTIFACT = f"org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:{ICEBERG_VERSION}"
CACHE = pathlib.Path.home() / ".cache" / "cdk-lakehouse" / "iceberg"
JAR = CACHE / f"iceberg-spark-runtime-3.5_2.12-{ICEBERG_VERSION}.jar"
SCRIPT = pathlib.Path(__file__).resolve().parents[3] / "src" / "ingestion" / "streaming" / "glue" / "streaming_merge.py"


def iceberg_jar():
    if not JAR.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mvn", "-B", "-q", "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy",
             f"-Dartifact={ICEBERG_ARTIFACT}", f"-DoutputDirectory={CACHE}"],
            check=True,
        )
    return str(JAR)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    warehouse = tmp_path_factory.mktemp("warehouse")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("streaming-merge-tests")
        .config("spark.jars", iceberg_jar())
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.catalog.local", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.catalog.local.type", "hadoop")
        .config("spark.sql.catalog.local.warehouse", str(warehouse))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def merge_module():
    spec = importlib.util.spec_from_file_location("streaming_merge", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
