"""The ApiPullIngestion transform on recorded raw pages, with local PySpark + Iceberg.

Pages and manifests are laid out exactly as the puller writes them
(``<pipeline>/<endpoint>/window=<run>/page-000001.json`` + ``_manifest.json``).
"""
import json
import uuid
from pathlib import Path

import pytest

import api_pull_transform as t
import lakehouse_glue as lg


def land_run(root: Path, endpoint: str, run_id: str, pages: list, records_per_page=None, completed_at="2024-05-01T12:00:05Z") -> str:
    """Writes pages (raw bodies, as text) and their manifest; returns the manifest URL."""
    prefix = f"shop/{endpoint}/window={run_id}/"
    folder = root / prefix
    folder.mkdir(parents=True, exist_ok=True)
    page_list = []
    for i, body in enumerate(pages, start=1):
        key = f"{prefix}page-{i:06d}.json"
        (root / key).write_text(body)
        page_list.append({"page": i, "key": key, "url": f"https://api.example.com/{endpoint}?page={i}", "status": 200,
                          "bytes": len(body), "records": None if records_per_page is None else records_per_page[i - 1],
                          "fetchedAt": completed_at})
    start, end = run_id.split("-")
    iso = lambda c: f"{c[0:4]}-{c[4:6]}-{c[6:8]}T{c[9:11]}:{c[11:13]}:{c[13:15]}Z"
    manifest = {"version": 1, "pipeline": "shop", "endpoint": endpoint, "runId": run_id, "windowStart": iso(start),
                "windowEnd": iso(end), "completedAt": completed_at, "pages": len(pages), "records": 1, "bytes": 1,
                "pageList": page_list}
    (folder / "_manifest.json").write_text(json.dumps(manifest))
    return f"file://{folder}/_manifest.json"


@pytest.fixture
def lake(tmp_path):
    return tmp_path


@pytest.fixture
def table():
    return f"local.curated.t_{uuid.uuid4().hex[:8]}"


def rows(spark, table, order="id"):
    return [r.asDict() for r in spark.table(table).orderBy(order).collect()]


RUN1 = "20240501T100000Z-20240501T110000Z"
RUN2 = "20240501T110000Z-20240501T120000Z"


def test_column_names_are_glue_safe():
    assert t.column_name("meta.createdAt") == "meta_created_at"
    assert t.column_name("Order-ID") == "order_id"
    assert t.column_name("1st") == "c_1st"


def test_explode_and_flatten_nested_records(spark, lake):
    url = land_run(lake, "orders", RUN1, [
        json.dumps({"data": [{"id": "a", "amount": 1, "customer": {"id": 7, "address": {"city": "Lyon"}}, "tags": ["x", "y"]}],
                    "meta": {"next": "c1"}}),
        json.dumps({"data": [{"id": "b", "amount": 2, "customer": {"id": 8, "address": {"city": "Oslo"}}, "tags": []}],
                    "meta": {"next": None}}),
    ])
    manifest = t.parse_manifest(Path(url[len("file://"):]).read_text())
    flat = t.flatten(t.read_records(spark, t.page_urls(manifest, url), "$.data"))
    assert set(flat.columns) == {"id", "amount", "customer_id", "customer_address_city", "tags", "_source_key", "_page", "_position"}
    got = sorted((r.id, r.customer_address_city, r.tags, r._page) for r in flat.collect())
    assert got == [("a", "Lyon", '["x","y"]', 1), ("b", "Oslo", "[]", 2)]


def test_merge_creates_an_iceberg_table_and_a_rerun_changes_nothing(spark, lake, table):
    pages = [json.dumps({"data": [{"id": "a", "amount": 1}, {"id": "b", "amount": 2}]}), json.dumps({"data": [{"id": "c", "amount": 3}]})]
    url = land_run(lake, "orders", RUN1, pages)
    counts = t.transform_run(spark, url, "$.data", "id", table, f"file://{lake}/_quarantine/shop")
    assert counts == {"merged": 3, "quarantined": 0}
    first = rows(spark, table)
    assert [(r["id"], r["amount"]) for r in first] == [("a", 1), ("b", 2), ("c", 3)]
    assert {r["_run_id"] for r in first} == {RUN1}

    # The same run again (a re-run of the window): same rows, no duplicates.
    t.transform_run(spark, url, "$.data", "id", table, f"file://{lake}/_quarantine/shop")
    assert rows(spark, table) == first

    # Iceberg v2, Parquet data files compressed with zstd.
    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()}
    assert props["format-version"] == "2"
    assert props["write.parquet.compression-codec"] == "zstd"
    files = [r.file_path for r in spark.sql(f"SELECT file_path FROM {table}.files").collect()]
    assert files and all(f.endswith(".parquet") for f in files)


def test_next_window_updates_by_id_and_adds_new_fields_as_columns(spark, lake, table):
    url1 = land_run(lake, "orders", RUN1, [json.dumps({"data": [{"id": "a", "amount": 1}, {"id": "b", "amount": 2}]})])
    t.transform_run(spark, url1, "$.data", "id", table, f"file://{lake}/q")
    url2 = land_run(lake, "orders", RUN2, [json.dumps({"data": [{"id": "b", "amount": 20, "status": "paid"}, {"id": "c", "amount": 3, "status": "new"}]})],
                    completed_at="2024-05-01T12:00:09Z")
    t.transform_run(spark, url2, "$.data", "id", table, f"file://{lake}/q")
    got = [(r["id"], r["amount"], r["status"], r["_run_id"]) for r in rows(spark, table)]
    assert got == [("a", 1, None, RUN1), ("b", 20, "paid", RUN2), ("c", 3, "new", RUN2)]


def test_a_record_twice_in_one_run_keeps_the_later_copy(spark, lake, table):
    url = land_run(lake, "orders", RUN1, [
        json.dumps({"data": [{"id": "a", "amount": 1}, {"id": "a", "amount": 2}]}),
        json.dumps({"data": [{"id": "a", "amount": 3}]}),
    ])
    t.transform_run(spark, url, "$.data", "id", table, f"file://{lake}/q")
    assert [(r["id"], r["amount"]) for r in rows(spark, table)] == [("a", 3)]


def test_records_without_an_id_go_to_quarantine_with_the_reason(spark, lake, table):
    url = land_run(lake, "orders", RUN1, [json.dumps({"data": [{"id": "a", "amount": 1}, {"amount": 99}]})])
    counts = t.transform_run(spark, url, "$.data", "id", table, f"file://{lake}/_quarantine/shop")
    assert counts == {"merged": 1, "quarantined": 1}
    files = list((lake / "_quarantine" / "shop" / "orders" / f"window={RUN1}" / "records").glob("part-*.json"))
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(lines) == 1
    assert lines[0]["amount"] == 99 and lines[0]["_reason"] == "record has no id field 'id'"


def test_pages_that_are_arrays_and_a_nested_id(spark, lake, table):
    url = land_run(lake, "customers", RUN1, [json.dumps([{"customer": {"id": 1}, "name": "Ann"}, {"customer": {"id": 2}, "name": "Bo"}])])
    t.transform_run(spark, url, "$", "customer.id", table, f"file://{lake}/q")
    assert [(r["customer_id"], r["name"]) for r in rows(spark, table, "customer_id")] == [(1, "Ann"), (2, "Bo")]


def test_a_run_with_no_records_changes_nothing(spark, lake, table):
    url = land_run(lake, "orders", RUN1, [json.dumps({"data": []})])
    manifest_path = Path(url[len("file://"):])
    m = json.loads(manifest_path.read_text())
    m["records"] = 0
    manifest_path.write_text(json.dumps(m))
    assert t.transform_run(spark, url, "$.data", "id", table, f"file://{lake}/q") == {"merged": 0, "quarantined": 0}
    assert not lg.fq_table_exists(spark, table)


def test_bad_manifest_and_bad_arguments_are_clear_errors(spark, lake, table):
    with pytest.raises(t.TransformError, match="not JSON"):
        t.parse_manifest("<html>")
    with pytest.raises(t.TransformError, match="no 'pageList'"):
        t.parse_manifest(json.dumps({"runId": "x", "endpoint": "e", "windowStart": "a", "windowEnd": "b"}))
    with pytest.raises(t.TransformError, match="records path"):
        t.records_path_keys("data[0]")
    url = land_run(lake, "orders", RUN1, [json.dumps({"data": [{"key": "a"}]})])
    with pytest.raises(t.TransformError, match="no record has the id field 'id'"):
        t.transform_run(spark, url, "$.data", "id", table, f"file://{lake}/q")


def test_upload_csv_and_jsonl_merge_into_the_same_table(spark, lake, table):
    drop = lake / "shop" / "_uploads" / "orders"
    drop.mkdir(parents=True)
    (drop / "fix.csv").write_text("id,amount,status\na,5,manual\nz,9,manual\n")
    (drop / "more.jsonl").write_text('{"id": "y", "amount": 7}\n{"id": "a", "amount": 6}\n')
    q = f"file://{lake}/_quarantine/shop/orders"
    assert t.transform_upload(spark, f"file://{drop}/fix.csv", "$.data", "id", table, q) == {"merged": 2, "quarantined": 0}
    assert t.transform_upload(spark, f"file://{drop}/more.jsonl", "$.data", "id", table, q) == {"merged": 2, "quarantined": 0}
    got = [(r["id"], r["amount"], r["status"], r["_run_id"]) for r in rows(spark, table)]
    # The latest copy of a record replaces the row (fields it lacks become null).
    assert got == [("a", 6, None, "upload-more.jsonl"), ("y", 7, None, "upload-more.jsonl"), ("z", 9, "manual", "upload-fix.csv")]


@pytest.mark.parametrize("name,content,reason", [
    ("broken.csv", "id,amount\na,1\nb,2,extra,columns\n", "Malformed"),
    ("broken.json", '{"data": [{"id": "a"},', "not one valid JSON document"),
    ("broken.jsonl", '{"id": "a"}\nnot json\n', "Unrecognized token 'not'"),
    ("notes.txt", "hello", "unknown file type"),
    ("empty.csv", "id,amount\n", "holds no records"),
])
def test_an_upload_that_cannot_be_parsed_goes_to_quarantine_with_the_reason(spark, lake, table, name, content, reason):
    drop = lake / "shop" / "_uploads" / "orders"
    drop.mkdir(parents=True)
    (drop / name).write_text(content)
    q = lake / "_quarantine" / "shop" / "orders"
    result = t.transform_upload(spark, f"file://{drop / name}", "$.data", "id", table, f"file://{q}")
    assert result["merged"] == 0 and result["quarantined"] == 1
    assert reason.lower() in result["reason"].lower()
    assert (q / "_uploads" / name).read_text() == content
    kept = json.loads((q / "_uploads" / f"{name}.reason.json").read_text())
    assert reason.lower() in kept["reason"].lower() and kept["source"].endswith(name)
    assert not lg.fq_table_exists(spark, table)


def test_a_run_reports_the_shared_merge_metrics_measured_on_the_tables_last_commit(spark, lake, table):
    import datetime as dt

    name = table.rsplit(".", 1)[1]
    assert t.commit_state(spark, table) is None
    url = land_run(lake, "orders", RUN1, [json.dumps({"data": [{"id": "a"}, {"id": "b"}, {"amount": 5}]})])
    counts = t.transform_run(spark, url, "$.data", "id", table, f"file://{lake}/q")
    after = t.commit_state(spark, table)
    now = after["committedAt"] + dt.timedelta(seconds=45)
    data = t.metrics("CdkLakehouse/Merge", "shop", name, counts, None, after, 7.5, now).data
    per_table = {d["MetricName"]: d["Value"] for d in data if d["Dimensions"][1:] == [{"Name": "Table", "Value": name}]}
    assert per_table == {"RowsMerged": 2, "RowsQuarantined": 1, "TablesFailed": 0, "TableCommits": 1, "CommitAgeSeconds": 45}
    totals = {d["MetricName"]: (d["Value"], d["Unit"]) for d in data if len(d["Dimensions"]) == 1}
    assert totals["RunSeconds"] == (7.5, "Seconds") and totals["TableCommits"] == (1, "Count")

    # A run with no records leaves main where it was: no commit, the age keeps growing.
    empty = land_run(lake, "orders", RUN2, [json.dumps({"data": []})])
    m = json.loads(Path(empty[len("file://"):]).read_text())
    m["records"] = 0
    Path(empty[len("file://"):]).write_text(json.dumps(m))
    counts = t.transform_run(spark, empty, "$.data", "id", table, f"file://{lake}/q")
    later = now + dt.timedelta(hours=1)
    data = t.metrics("CdkLakehouse/Merge", "shop", name, counts, after, t.commit_state(spark, table), 1.0, later).data
    totals = {d["MetricName"]: d["Value"] for d in data if len(d["Dimensions"]) == 1}
    assert (totals["TableCommits"], totals["RowsMerged"], totals["CommitAgeSeconds"]) == (0, 0, 3645)
    failed = t.metrics("CdkLakehouse/Merge", "shop", name, None, after, after, 1.0, later, failed=True).data
    assert {d["MetricName"]: d["Value"] for d in failed if len(d["Dimensions"]) == 1}["TablesFailed"] == 1
