"""A throwaway PostgreSQL 15 cluster for the pull-mode tests, and the JDBC driver jar.

The cluster lives in a temporary folder, listens on a free loopback port only, trusts local
connections (no password) and is stopped and removed at the end. initdb refuses to run as
root, so as root the cluster runs as the ``postgres`` OS user (``runuser``); as anyone else it
runs as that user. The PostgreSQL JDBC driver is fetched once from Maven Central with mvn into
~/.cache/cdk-lakehouse/postgresql/ (the Iceberg runtime jar is the root conftest's).
"""
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

PG_BIN = pathlib.Path(os.environ.get("CDK_LAKEHOUSE_PG_BIN", "/usr/lib/postgresql/15/bin"))
JDBC_VERSION = "42.7.4"
JDBC_ARTIFACT = f"org.postgresql:postgresql:{JDBC_VERSION}"
CACHE = pathlib.Path.home() / ".cache" / "cdk-lakehouse"


def _fetch(artifact, folder, jar_name):
    """A Maven Central jar, fetched with mvn into ``folder`` once; the copy is moved into place
    atomically, so a concurrent run never sees half a jar."""
    jar = folder / jar_name
    if jar.exists():
        return str(jar)
    folder.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".fetch-", dir=folder))
    try:
        subprocess.run(
            ["mvn", "-B", "-q", "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy",
             f"-Dartifact={artifact}", f"-DoutputDirectory={staging}"],
            check=True,
        )
        (staging / jar_name).replace(jar)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(jar)


def postgres_jdbc_jar():
    return _fetch(JDBC_ARTIFACT, CACHE / "postgresql", f"postgresql-{JDBC_VERSION}.jar")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Postgres:
    """A running throwaway cluster: ``psql(sql)`` runs SQL, ``jdbc_url`` points at it."""

    def __init__(self):
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="cdc-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "postgres"
        self.database = "postgres"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
            os.chmod(self.root, 0o700)

    def _run(self, args, **kwargs):
        if self._as_root:
            args = ["runuser", "-u", "postgres", "--"] + args
        return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)

    def start(self):
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
                   "--no-sync", "-E", "UTF8", "--locale=C"])
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-l", str(self.root / "log"),
                   "-o", f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                         "-c fsync=off -c full_page_writes=off -c timezone=UTC", "start"])
        return self

    def stop(self):
        try:
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def jdbc_url(self):
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{self.database}"

    def psql(self, sql):
        psql = shutil.which("psql") or str(PG_BIN / "psql")
        out = self._run([psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", self.database,
                         "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
        return out.stdout


def wait_for(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
