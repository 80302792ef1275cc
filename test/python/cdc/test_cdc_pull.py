"""Pull mode against a real PostgreSQL 15: watermark reads over Spark JDBC, landed in the DMS
layout, merged by the same path."""
import datetime as dt
import json

from cdc_helpers import RAW_PREFIX, STATE_PREFIX, spec

INVOICES = [spec("legacy.invoices", key=("invoice_id",), mode="pull", watermarkColumn="updated_at")]
VISIBLE = ["invoice_id", "amount", "status", "updated_at"]


def watermark(lake):
    return json.loads((lake.root / STATE_PREFIX / "watermarks" / "legacy" / "invoices.json").read_text())


def test_pull_mode_initial_incremental_and_idle(lake, postgres):
    postgres.psql(
        "DROP SCHEMA IF EXISTS legacy CASCADE; CREATE SCHEMA legacy;"
        "CREATE TABLE legacy.invoices (invoice_id int PRIMARY KEY, amount numeric(10,2), status text, updated_at timestamp);"
        "INSERT INTO legacy.invoices VALUES (1, 10.50, 'open', '2026-01-01 00:00:01.000001'),"
        " (2, 20.00, 'open', '2026-01-01 00:00:02'), (3, 30.00, 'open', '2026-01-01 00:00:03.123456')")
    kwargs = dict(jdbc_url=postgres.jdbc_url, jdbc_user=postgres.user, jdbc_password="")

    [first] = lake.run(INVOICES, now=dt.datetime(2026, 2, 1, 1), **kwargs)
    assert first["rowsPulled"] == 3 and first["filesMerged"] == 1 and first["rowsUpserted"] == 3
    assert watermark(lake)["value"] == "2026-01-01 00:00:03.123456"
    landed = lake.table_dir("legacy", "invoices") / "pull" / "2026" / "02" / "01" / "20260201-010000000000.parquet"
    assert landed.is_file()
    assert not (lake.table_dir("legacy", "invoices") / "pull" / "_staging").exists() or \
        not any((lake.table_dir("legacy", "invoices") / "pull" / "_staging").iterdir())
    raw = lake.spark.read.parquet(str(landed))
    assert raw.columns[:3] == ["Op", "_dms_commit_ts", "_dms_change_seq"]
    assert {r["Op"] for r in raw.collect()} == {"I"}
    rows = lake.rows("shop_legacy_invoices", key="invoice_id")
    assert [(r["invoice_id"], str(r["amount"]), r["_cdc_op"]) for r in rows] == [(1, "10.50", "I"), (2, "20.00", "I"), (3, "30.00", "I")]
    assert rows[0]["_cdc_commit_ts"] == dt.datetime(2026, 1, 1, 0, 0, 1, 1)

    postgres.psql(
        "UPDATE legacy.invoices SET status = 'paid', updated_at = '2026-01-02 00:00:00.5' WHERE invoice_id = 2;"
        "INSERT INTO legacy.invoices VALUES (4, 40.00, 'open', '2026-01-02 00:00:01');"
        "DELETE FROM legacy.invoices WHERE invoice_id = 1")  # invisible to a watermark pull
    [second] = lake.run(INVOICES, now=dt.datetime(2026, 2, 2, 1), **kwargs)
    assert second["rowsPulled"] == 2 and second["rowsUpserted"] == 2
    assert watermark(lake)["value"] == "2026-01-02 00:00:01"
    rows = lake.rows("shop_legacy_invoices", ["invoice_id", "status", "_cdc_op"], key="invoice_id")
    assert rows == [{"invoice_id": 1, "status": "open", "_cdc_op": "I"}, {"invoice_id": 2, "status": "paid", "_cdc_op": "U"},
                    {"invoice_id": 3, "status": "open", "_cdc_op": "I"}, {"invoice_id": 4, "status": "open", "_cdc_op": "U"}]

    snapshots = lake.snapshots("shop_legacy_invoices")
    [idle] = lake.run(INVOICES, now=dt.datetime(2026, 2, 3, 1), **kwargs)
    assert idle["rowsPulled"] == 0 and idle["filesMerged"] == 0
    assert lake.snapshots("shop_legacy_invoices") == snapshots
    assert watermark(lake)["value"] == "2026-01-02 00:00:01"
    assert len(list((lake.root / RAW_PREFIX / "legacy" / "invoices" / "pull").rglob("*.parquet"))) == 2


def test_pull_query_quotes_and_compares_as_text(lake):
    from cdc_helpers import cdc

    assert cdc.pull_query("le\"gacy", "inv", "updated_at", None) == \
        'SELECT t.*, "updated_at"::text AS _cdc_watermark FROM "le""gacy"."inv" t'
    assert cdc.pull_query("legacy", "inv", "updated_at", "2026-01-01 00:00:00'x").endswith(
        """WHERE "updated_at" > '2026-01-01 00:00:00''x'""")
