"""Behaviour of the CdcIngestion merge job on a local Spark + Iceberg (Hadoop catalog)."""
import datetime as dt
import json

import pytest

from cdc_helpers import QUARANTINE_PREFIX, STATE_PREFIX, cdc, cdc_path, change, full_load, load_path, seq, spec, ts

COLS = "id int, name string, qty int"
ORDERS = [spec("public.orders")]
VISIBLE = ["id", "name", "qty"]


def test_curated_table_name():
    assert cdc.curated_table_name("shop_", "public", "orders") == "shop_public_orders"
    assert cdc.curated_table_name("Shop-", "Sales", "Order Lines.2024") == "shop_sales_order_lines_2024"
    assert cdc.curated_table_name("", "ÜBER", "t$x") == "_ber_t_x"


def test_parse_tables_rejects_bad_specs():
    ok = cdc.parse_tables(json.dumps(ORDERS))
    assert ok[0]["mode"] == "cdc"
    with pytest.raises(cdc.CdcError, match="primaryKey"):
        cdc.parse_tables(json.dumps([{"name": "a.b", "schema": "a", "table": "b"}]))
    with pytest.raises(cdc.CdcError, match="wildcards"):
        cdc.parse_tables(json.dumps([spec("a.*", mode="pull", watermarkColumn="u")]))
    with pytest.raises(cdc.CdcError, match="watermarkColumn"):
        cdc.parse_tables(json.dumps([spec("a.b", mode="pull")]))
    with pytest.raises(cdc.CdcError, match="not JSON"):
        cdc.parse_tables("[")


def test_full_load_then_cdc_last_change_wins(lake):
    lake.write("public", "orders", {
        load_path(1): [full_load(1, name="a", qty=1), full_load(2, name="b", qty=2)],
        load_path(2): [full_load(3, name="c", qty=3), full_load(4, name="d", qty=4)],
        # One file, one commit timestamp, rows NOT in change order: the change sequence decides.
        cdc_path(1): [
            change("U", 12, 1, commit=5, name="a3", qty=13),
            change("U", 11, 1, commit=5, name="a2", qty=12),
            change("D", 13, 2, commit=5),
            change("I", 14, 5, commit=5, name="e", qty=5),
        ],
        # A later file with an older commit ts but newer change seq still wins (seq before ts).
        cdc_path(2): [change("U", 20, 3, commit=1, name="c2", qty=33)],
    }, COLS)
    [result] = lake.run(ORDERS)
    assert lake.rows("shop_public_orders", VISIBLE) == [
        {"id": 1, "name": "a3", "qty": 13}, {"id": 3, "name": "c2", "qty": 33},
        {"id": 4, "name": "d", "qty": 4}, {"id": 5, "name": "e", "qty": 5},
    ]
    assert result["filesMerged"] == 4
    assert result["changesRead"] == 9
    assert result["rowsUpserted"] == 4 and result["rowsDeleted"] == 0  # first merge: 2 is never inserted
    assert result["changesQuarantined"] == 0
    assert result["maxCommitTs"] == ts(5).isoformat()
    assert result["spec"] == "public.orders" and result["curatedTable"].endswith("`shop_public_orders`")
    row = lake.rows("shop_public_orders")[0]
    assert row["_cdc_op"] == "U" and row["_cdc_change_seq"] == seq(12) and row["_cdc_commit_ts"] == ts(5)
    assert row["_cdc_order"].startswith("1|" + seq(12))
    props = {r["key"]: r["value"] for r in lake.spark.sql(f"SHOW TBLPROPERTIES {lake.ident('shop_public_orders')}").collect()}
    assert props["format-version"] == "2"

    # A second run: deletes of present rows, an update; counts are of what was applied.
    lake.write("public", "orders", {cdc_path(3): [change("D", 30, 1), change("U", 31, 4, name="d2", qty=44),
                                                  change("D", 32, 99)]}, COLS)
    [result] = lake.run(ORDERS)
    assert result["filesMerged"] == 1 and result["rowsDeleted"] == 1 and result["rowsUpserted"] == 1
    assert result["changesSkipped"] == 1  # the delete of a key that never existed
    assert [r["id"] for r in lake.rows("shop_public_orders")] == [3, 4, 5]


def test_rerun_and_redelivery_change_nothing(lake):
    rows = [change("I", 1, 1, name="a", qty=1), change("I", 2, 2, name="b", qty=2), change("D", 3, 2)]
    lake.write("public", "orders", {cdc_path(1): rows}, COLS)
    lake.run(ORDERS)
    before, snaps = lake.rows("shop_public_orders"), lake.snapshots("shop_public_orders")

    [again] = lake.run(ORDERS)  # nothing new
    assert again["filesMerged"] == 0 and lake.snapshots("shop_public_orders") == snaps

    # The same content under a second name: read, recognised as applied, no new snapshot.
    lake.write("public", "orders", {cdc_path(2): rows}, COLS)
    [dup] = lake.run(ORDERS)
    assert dup["filesMerged"] == 1 and dup["changesApplied"] == 0
    assert lake.rows("shop_public_orders") == before and lake.snapshots("shop_public_orders") == snaps

    # A crash between the Iceberg commit and the ledger write: the ledger is lost, every file is
    # merged again, and nothing changes.
    (lake.root / STATE_PREFIX / "ledger" / "public" / "orders.json").unlink()
    [replay] = lake.run(ORDERS)
    assert replay["filesMerged"] == 2 and replay["changesApplied"] == 0
    assert lake.rows("shop_public_orders") == before and lake.snapshots("shop_public_orders") == snaps


def test_ledger_lists_merged_files(lake):
    lake.write("public", "orders", {load_path(1): [full_load(1, name="a", qty=1)],
                                    cdc_path(1): [change("U", 1, 1, name="b", qty=2)]}, COLS)
    lake.run(ORDERS, now=dt.datetime(2026, 2, 1, 3, 4, 5))
    ledger = json.loads((lake.root / STATE_PREFIX / "ledger" / "public" / "orders.json").read_text())
    assert ledger["version"] == 1
    assert ledger["files"] == {load_path(1): "20260201-030405000000", cdc_path(1): "20260201-030405000000"}
    assert ledger["maxOrder"].startswith("1|" + seq(1)) and ledger["lastCommitTs"] == ts(1).isoformat()


def test_delete_then_reinsert(lake):
    # In one file; across files of one run; across runs.
    lake.write("public", "orders", {
        cdc_path(1): [change("I", 1, 1, name="a", qty=1), change("D", 2, 1), change("I", 3, 1, name="a2", qty=2),
                      change("I", 4, 2, name="b", qty=1), change("I", 5, 3, name="c", qty=1)],
        cdc_path(2): [change("D", 6, 2)],
        cdc_path(3): [change("I", 7, 2, name="b2", qty=2)],
    }, COLS)
    lake.run(ORDERS)
    assert lake.rows("shop_public_orders", VISIBLE) == [
        {"id": 1, "name": "a2", "qty": 2}, {"id": 2, "name": "b2", "qty": 2}, {"id": 3, "name": "c", "qty": 1}]
    lake.write("public", "orders", {cdc_path(4): [change("D", 8, 3)]}, COLS)
    lake.run(ORDERS)
    lake.write("public", "orders", {cdc_path(5): [change("I", 9, 3, name="c2", qty=3)]}, COLS)
    [result] = lake.run(ORDERS)
    assert result["rowsUpserted"] == 1 and result["changesQuarantined"] == 0
    assert lake.rows("shop_public_orders", VISIBLE)[-1] == {"id": 3, "name": "c2", "qty": 3}


def test_older_change_never_wins_and_late_changes_use_tombstones(lake):
    lake.write("public", "orders", {cdc_path(10): [
        change("I", 10, 1, name="a", qty=1), change("I", 11, 2, name="b", qty=1), change("D", 12, 2)]}, COLS)
    lake.run(ORDERS)
    # A late file (older change sequences) arrives in a later run.
    lake.write("public", "orders", {cdc_path(5): [
        change("U", 5, 1, name="old", qty=0),   # older than the row in the table: skipped
        change("U", 6, 2, name="zombie", qty=0),  # key 2 was deleted later (tombstone 12): must not come back
        change("I", 7, 3, name="new", qty=0),   # a key never seen: the source has it, so it is applied
    ]}, COLS)
    [result] = lake.run(ORDERS)
    assert lake.rows("shop_public_orders", VISIBLE) == [{"id": 1, "name": "a", "qty": 1}, {"id": 3, "name": "new", "qty": 0}]
    assert result["changesSkipped"] == 2 and result["changesQuarantined"] == 0 and result["changesApplied"] == 1
    assert lake.quarantine("public", "orders") == []
    tombs = lake.rows("shop_public_orders__cdc_tombstones")
    assert [(r["id"], r["_cdc_change_seq"]) for r in tombs] == [(2, seq(12))]


def test_bad_rows_are_quarantined_and_counted(lake):
    lake.write("public", "orders", {cdc_path(1): [
        change("I", 1, 1, name="a", qty=1),
        change("I", 2, None, name="no key", qty=1),
        change("X", 3, 2, name="bad op", qty=1),
        {**change("I", 4, 3, name="no op", qty=1), "Op": None},
    ]}, COLS)
    [result] = lake.run(ORDERS)
    assert result["changesQuarantined"] == 3 and result["changesRead"] == 1
    assert [r["id"] for r in lake.rows("shop_public_orders")] == [1]
    reasons = sorted((r["name"], r["_reason"]) for r in lake.quarantine("public", "orders"))
    assert reasons == [("bad op", "invalid_op"), ("no key", "null_primary_key"), ("no op", "invalid_op")]
    folders = list((lake.root / QUARANTINE_PREFIX / "public" / "orders").iterdir())
    assert [f.name for f in folders] == ["20260201-000000000000"]


def test_missing_key_column_is_an_error(lake):
    lake.write("public", "orders", {cdc_path(1): [change("I", 1, 1, name="a", qty=1)]}, COLS)
    with pytest.raises(cdc.CdcError, match="order_id"):
        lake.run([spec("public.orders", key=("order_id",))])


def test_schema_evolution(lake):
    # Mixed schemas in one run: a file with an extra column after files without it.
    lake.write("public", "orders", {cdc_path(1): [change("I", 1, 1, name="a", qty=1),
                                                  change("I", 2, 2, name="b", qty=2)]}, COLS)
    lake.write("public", "orders", {cdc_path(2): [change("U", 3, 2, name="b2", qty=3, color="red")]},
               COLS + ", color string")
    lake.run(ORDERS)
    assert lake.rows("shop_public_orders", VISIBLE + ["color"]) == [
        {"id": 1, "name": "a", "qty": 1, "color": None}, {"id": 2, "name": "b2", "qty": 3, "color": "red"}]
    # A later run: one more new column, and files that lack qty (kept, null in the new rows).
    lake.write("public", "orders", {cdc_path(3): [change("U", 4, 1, name="a2", size=7),
                                                  change("I", 5, 3, name="c", size=8)]}, "id int, name string, size int")
    lake.run(ORDERS)
    columns = [f.name for f in lake.spark.table(lake.ident("shop_public_orders")).schema.fields]
    assert columns == ["id", "name", "qty", "color", "_cdc_op", "_cdc_commit_ts", "_cdc_change_seq", "_cdc_order", "size"]
    assert lake.rows("shop_public_orders", ["id", "name", "qty", "color", "size"]) == [
        {"id": 1, "name": "a2", "qty": None, "color": None, "size": 7},
        {"id": 2, "name": "b2", "qty": 3, "color": "red", "size": None},
        {"id": 3, "name": "c", "qty": None, "color": None, "size": 8}]


def test_wildcards_composite_keys_and_only_table(lake):
    cols = "region string, id int, name string"
    for table in ("eu_orders", "us_orders"):
        lake.write("sales", table, {cdc_path(1): [change("I", 1, 1, region="a", name=table),
                                                  change("I", 2, 1, region="b", name=table),
                                                  change("D", 3, 1, region="a")]}, cols)
    lake.write("public", "orders", {cdc_path(1): [change("I", 1, 1, name="a", qty=1)]}, COLS)
    tables = [spec("sales.*", key=("region", "id")), spec("public.orders")]
    results = lake.run(tables, only_table="sales.*")
    assert [(r["spec"], r["schema"], r["table"]) for r in results] == [
        ("sales.*", "sales", "eu_orders"), ("sales.*", "sales", "us_orders")]
    for table in ("eu_orders", "us_orders"):
        assert lake.rows(f"shop_sales_{table}", ["region", "id", "name"], key="region") == [
            {"region": "b", "id": 1, "name": table}]
    assert not cdc.lg.fq_table_exists(lake.spark, lake.ident("shop_public_orders"))
    with pytest.raises(cdc.CdcError, match="only_table"):
        lake.run(tables, only_table="nope")
    assert [r["spec"] for r in lake.run(tables)] == ["sales.*", "sales.*", "public.orders"]


def test_maintenance_compacts_on_thresholds_and_expires_without_changing_content(lake):
    for n in range(1, 4):
        lake.write("public", "orders", {cdc_path(n): [change("I", 10 * n + k, 10 * n + k, name="x", qty=k)
                                                      for k in range(3)] + [change("U", 10 * n + 5, 11, qty=n)]}, COLS)
        lake.run(ORDERS, now=dt.datetime(2026, 2, 1, n))
    before = lake.rows("shop_public_orders")
    ident = lake.ident("shop_public_orders")
    files_before = lake.spark.sql(f"SELECT * FROM {ident}.files").count()
    before_files = {r[0] for r in lake.spark.sql(f"SELECT file_path FROM {ident}.data_files").collect()}
    # Under both thresholds (deleted rows 3 of 12 = 25 % < 50 %, few files): no compaction, so a
    # run writes only its changes; 4 snapshots, none beyond the 5 kept: nothing to expire.
    lake.write("public", "orders", {cdc_path(8): [change("U", 98, 12, name="z", qty=8)]}, COLS)
    [quiet] = lake.run(ORDERS, now=dt.datetime.now(), maintenance=True, snapshot_retention_hours=0,
                       compact_deleted_ratio=0.5)
    assert quiet["maintenance"] == {"compacted": None, "expired": False}
    assert lake.spark.sql(f"SELECT * FROM {ident}.files").count() > files_before
    assert lake.snapshots("shop_public_orders") <= cdc.RETAIN_LAST_SNAPSHOTS
    # Over the deleted-row threshold: compaction rewrites the files with deletes, content unchanged.
    lake.write("public", "orders", {cdc_path(9): [change("U", 99, 10, name="y", qty=9)]}, COLS)
    [busy] = lake.run(ORDERS, now=dt.datetime.now(), maintenance=True, snapshot_retention_hours=0)
    assert busy["maintenance"]["compacted"].startswith("deleted rows are 3")  # 4 of 13
    assert busy["maintenance"]["expired"]  # the merge and the compaction made more than 5 snapshots
    expected = [dict(r, name="y", qty=9, _cdc_op="U", _cdc_change_seq=seq(99), _cdc_commit_ts=ts(99),
                     _cdc_order=r["_cdc_order"]) if r["id"] == 10 else
                dict(r, name="z", qty=8, _cdc_op="U", _cdc_change_seq=seq(98), _cdc_commit_ts=ts(98),
                     _cdc_order=r["_cdc_order"]) if r["id"] == 12 else r for r in before]
    after = lake.rows("shop_public_orders")
    assert [{k: v for k, v in r.items() if k != "_cdc_order"} for r in after] == \
        [{k: v for k, v in r.items() if k != "_cdc_order"} for r in expected]
    assert lake.spark.sql(f"SELECT * FROM {ident}.files").count() < files_before
    # Every data file with deletes was rewritten: the data files of the 3 merges and the quiet run
    # are gone (the last merge's delete file may stay listed, see docs/cdc-merge-performance.md).
    live = {r[0] for r in lake.spark.sql(f"SELECT file_path FROM {ident}.data_files").collect()}
    assert not live & before_files
    assert lake.snapshots("shop_public_orders") <= cdc.RETAIN_LAST_SNAPSHOTS


def test_compaction_reason_thresholds():
    assert cdc.compaction_reason({}) is None
    summary = {"total-records": "100", "total-position-deletes": "24", "total-data-files": "3", "total-files-size": "9000"}
    assert cdc.compaction_reason(summary) is None
    assert cdc.compaction_reason(dict(summary, **{"total-position-deletes": "25"})).startswith("deleted rows are 25%")
    assert cdc.compaction_reason(dict(summary, **{"total-equality-deletes": "1"})) is not None
    small = dict(summary, **{"total-data-files": "64", "total-files-size": str(64 * cdc.SMALL_FILE_BYTES - 1)})
    assert cdc.compaction_reason(small).startswith("64 data files")
    assert cdc.compaction_reason(dict(small, **{"total-files-size": str(64 * cdc.SMALL_FILE_BYTES)})) is None


def test_metric_data_is_the_shared_merge_contract():
    now = dt.datetime(2026, 2, 1, 0, 0, 0)
    base = {"filesMerged": 2, "changesApplied": 5, "changesQuarantined": 1, "committed": True}
    results = [
        dict(base, spec="sales.*", curatedName="shop_sales_a", lastCommitTs="2026-01-31T23:59:00"),
        dict(base, spec="sales.*", curatedName="shop_sales_b", lastCommitTs="2026-01-31T23:00:00", committed=False,
             changesApplied=0),
        dict(base, spec="public.orders", curatedName="shop_public_orders", filesMerged=0, changesApplied=0,
             changesQuarantined=0, lastCommitTs=None, committed=False),
        # A spec whose wildcard could not be expanded: no curated table, counted in the total only.
        {"spec": "x.*", "schema": "x", "table": "*", "failed": True, "filesMerged": 0, "changesApplied": 0,
         "changesQuarantined": 0, "lastCommitTs": None},
    ]
    data = cdc.build_metric_data("shop", results, now, run_seconds=42.5)
    by = {(d["MetricName"], tuple(x["Value"] for x in d["Dimensions"])): d for d in data}
    assert cdc.MERGE_METRICS_NAMESPACE == "CdkLakehouse/Merge"
    assert by[("RowsMerged", ("shop", "shop_sales_a"))]["Value"] == 5
    assert by[("RowsQuarantined", ("shop", "shop_sales_b"))]["Value"] == 1
    assert by[("TableCommits", ("shop", "shop_sales_a"))]["Value"] == 1
    assert by[("TableCommits", ("shop", "shop_sales_b"))]["Value"] == 0
    assert by[("FilesMerged", ("shop", "shop_public_orders"))]["Value"] == 0
    assert by[("CommitAgeSeconds", ("shop", "shop_sales_b"))]["Value"] == 3600
    assert by[("CommitAgeSeconds", ("shop", "shop_sales_b"))]["Unit"] == "Seconds"
    assert ("CommitAgeSeconds", ("shop", "shop_public_orders")) not in by
    # Run totals: sums, the stalest table's age, the failed spec, the run's wall time.
    assert by[("RowsMerged", ("shop",))]["Value"] == 5
    assert by[("RowsQuarantined", ("shop",))]["Value"] == 2
    assert by[("FilesMerged", ("shop",))]["Value"] == 4
    assert by[("TableCommits", ("shop",))]["Value"] == 1
    assert by[("TablesFailed", ("shop",))]["Value"] == 1 and by[("TablesFailed", ("shop", "shop_sales_a"))]["Value"] == 0
    assert by[("CommitAgeSeconds", ("shop",))]["Value"] == 3600
    assert by[("RunSeconds", ("shop",))] == {"MetricName": "RunSeconds", "Dimensions": [{"Name": "Pipeline", "Value": "shop"}],
                                             "Timestamp": now, "Value": 42.5, "Unit": "Seconds"}
    assert not any(d["MetricName"] == "RunSeconds" and len(d["Dimensions"]) == 2 for d in data)
    assert {d["MetricName"] for d in data} == {"RowsMerged", "RowsQuarantined", "TablesFailed", "TableCommits", "FilesMerged",
                                              "CommitAgeSeconds", "RunSeconds"}
    assert all(d["Unit"] == ("Seconds" if d["MetricName"] in ("CommitAgeSeconds", "RunSeconds") else "Count") for d in data)
    assert [x["Name"] for x in by[("RowsMerged", ("shop", "shop_sales_a"))]["Dimensions"]] == ["Pipeline", "Table"]
    # 3 tables x 5 counts + 2 ages, the total's 5 counts + its age + RunSeconds
    assert all(d["Timestamp"] == now for d in data) and len(data) == 3 * 5 + 2 + 5 + 1 + 1


def test_a_run_reports_commits_and_metrics_of_real_merges(lake):
    lake.write("public", "orders", {cdc_path(1): [change("I", 1, 1, name="a", qty=1)]}, COLS)
    [first] = lake.run(ORDERS)
    [idle] = lake.run(ORDERS)
    lake.write("public", "orders", {cdc_path(2): [change("I", 1, 1, name="a", qty=1)]}, COLS)  # re-delivered
    [dup] = lake.run(ORDERS)
    assert first["committed"] and not idle["committed"] and not dup["committed"]
    data = cdc.build_metric_data("shop", [first], dt.datetime(2026, 2, 1))
    commits = {tuple(x["Value"] for x in d["Dimensions"]): d["Value"] for d in data if d["MetricName"] == "TableCommits"}
    assert commits == {("shop", "shop_public_orders"): 1, ("shop",): 1}


def test_a_run_for_every_table_leaves_out_tables_pulled_on_their_own_schedule(lake):
    lake.write("public", "orders", {cdc_path(1): [change("I", 1, 1, name="a", qty=1)]}, COLS)
    lake.write("legacy", "invoices", {cdc_path(1): [change("I", 1, 1, name="i", qty=2)]}, COLS)
    # A pulled table with its own schedule: its rows are only merged by its own run
    # (--only_table); the merge schedule's run (no --only_table) must not touch it.
    own = dict(spec("legacy.invoices"), ownSchedule=True)
    assert [r["spec"] for r in lake.run([spec("public.orders"), own])] == ["public.orders"]
    assert not cdc.lg.fq_table_exists(lake.spark, lake.ident("shop_legacy_invoices"))
    assert [r["spec"] for r in lake.run([spec("public.orders"), own], only_table="legacy.invoices")] == ["legacy.invoices"]
    assert lake.rows("shop_legacy_invoices", VISIBLE) == [{"id": 1, "name": "i", "qty": 2}]


def test_jdbc_url_from_the_source_secret():
    secret = {"username": "u", "password": "p", "host": "db.internal", "port": 6432, "dbname": "shop"}
    assert cdc.jdbc_url_from_secret(secret, None) == "jdbc:postgresql://db.internal:6432/shop?sslmode=require"
    assert cdc.jdbc_url_from_secret({**secret, "port": None}, "erp") == "jdbc:postgresql://db.internal:5432/erp?sslmode=require"
    with pytest.raises(cdc.CdcError, match="no 'host'"):
        cdc.jdbc_url_from_secret({"username": "u"}, "erp")
    with pytest.raises(cdc.CdcError, match="no database name"):
        cdc.jdbc_url_from_secret({"host": "h"}, None)


def test_flat_listing_and_folder_walk_list_the_same_files(lake):
    # The flat listing (object stores) and the folder walk (local file system) see the same
    # Parquet files, hidden files and folders left out, with the same relative paths.
    lake.write("public", "orders", {load_path(1): [full_load(1, name="a", qty=1)], cdc_path(1): [change("I", 1, 2, name="b", qty=1)],
                                    cdc_path(2, day=3): [change("I", 2, 3, name="c", qty=1)]}, COLS)
    folder = lake.table_dir("public", "orders")
    (folder / "_staging").mkdir()
    (folder / "_staging" / "x.parquet").write_bytes(b"")
    (folder / "2026" / ".hidden.parquet").write_bytes(b"")
    (folder / "2026" / "notes.txt").write_text("x")
    url = folder.as_uri() + "/"
    walk = cdc.list_parquet_files(lake.spark, url, flat=False)
    assert [rel for rel, _ in walk] == sorted([load_path(1), cdc_path(1), cdc_path(2, day=3)])
    assert cdc.list_parquet_files(lake.spark, url, flat=True) == walk
    assert cdc.list_parquet_files(lake.spark, url) == walk
    assert cdc.list_parquet_files(lake.spark, (folder / "nope").as_uri() + "/", flat=True) == []
