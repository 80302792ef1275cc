"""The one local SparkSession with Apache Iceberg for every Python suite (pytest runs them in one
process), and the one way of fetching the Iceberg Spark runtime jar and the Deequ jar.

The jar (the version Glue 5.0 ships: Iceberg 1.7.1 for Spark 3.5, Scala 2.12) is fetched once from
Maven Central with ``mvn dependency:copy`` (the README asks for Maven; a machine whose Maven goes
through a mirror uses its ``settings.xml``) into ``~/.cache/cdk-lakehouse/iceberg/``, moved into
place atomically, and reused. ``CDK_LAKEHOUSE_CACHE`` moves the cache. Spark runs in local mode
with the Iceberg SQL extensions and a Hadoop catalog ``local`` in a temporary warehouse, in UTC as
the jobs set it. Suites that need more (the CDC suite's catalog and JDBC driver) extend the
session in their own conftest. The shared Glue module (``src/core/glue/lakehouse_glue.py``) is put
on ``sys.path``, as ``--extra-py-files`` puts it in Glue.

``benchmarks/`` build their session with ``spark_session`` from this file, so they run the same
Spark and Iceberg as the tests.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GLUE_MODULE_DIR = ROOT / "src" / "core" / "glue"
if str(GLUE_MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(GLUE_MODULE_DIR))

ICEBERG_VERSION = "1.7.1"
#: Deequ for Spark 3.5 (the data quality engine of write-audit-publish, ``lakehouse_quality``).
DEEQU_VERSION = "2.0.7-spark-3.5"
CACHE = pathlib.Path(os.environ.get("CDK_LAKEHOUSE_CACHE", pathlib.Path.home() / ".cache" / "cdk-lakehouse"))


def maven_jar(group, artifact, version, folder):
    """A jar from Maven Central (``group:artifact:version``), fetched with mvn into
    ``CACHE/folder`` once; the copy is moved into place atomically, so a concurrent run never
    sees half a jar. Returns its path as a string."""
    target_dir = CACHE / folder
    jar = target_dir / f"{artifact}-{version}.jar"
    if jar.exists():
        return str(jar)
    target_dir.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".fetch-", dir=target_dir))
    try:
        subprocess.run(
            ["mvn", "-B", "-q", "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy",
             f"-Dartifact={group}:{artifact}:{version}", f"-DoutputDirectory={staging}"],
            check=True,
        )
        (staging / jar.name).replace(jar)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(jar)


def iceberg_jar():
    """The Iceberg Spark runtime jar Glue 5.0 ships."""
    return maven_jar("org.apache.iceberg", "iceberg-spark-runtime-3.5_2.12", ICEBERG_VERSION, "iceberg")


def deequ_jar():
    """The Deequ jar the merge jobs get with ``--extra-jars`` (Scala 2.12, Spark 3.5; its other
    dependencies, Scala and breeze, ship with Spark and with Glue)."""
    return maven_jar("com.amazon.deequ", "deequ", DEEQU_VERSION, "deequ")


def spark_session(warehouse, app="cdk-lakehouse-tests", cores=2, memory="1g", shuffle_partitions=2, java_options=None):
    """A local SparkSession with Iceberg and the Hadoop catalog ``local`` at ``warehouse``."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if java_options:
        builder = builder.config("spark.driver.extraJavaOptions", java_options)
    session = (
        builder.master(f"local[{cores}]")
        .appName(app)
        .config("spark.jars", f"{iceberg_jar()},{deequ_jar()}")
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.catalog.local", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.catalog.local.type", "hadoop")
        .config("spark.sql.catalog.local.warehouse", str(warehouse))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(cores))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", memory)
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    session = spark_session(tmp_path_factory.mktemp("warehouse"))
    session.sql("CREATE NAMESPACE IF NOT EXISTS local.curated")
    yield session
    session.stop()
