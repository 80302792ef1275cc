"""What the merge job does with a run that has no table to merge: why CdcIngestion refuses a
pull-only source whose tables all have a pullSchedule of their own (test/multi-stack-cdc.test.ts).

A run without ``--only_table`` (what the merge schedule starts) merges every table spec except the
pulled ones with a schedule of their own; with none left the job fails the run before touching
Spark, S3 or JDBC. With one table left, or with ``--only_table``, a run has work.
"""
import datetime as dt

import pytest

NOW = dt.datetime(2026, 12, 1, 12, 0, 0)


def pulled(name, own_schedule):
    schema, table = name.split(".")
    entry = {"name": name, "schema": schema, "table": table, "primaryKey": ["id"],
             "mode": "pull", "watermarkColumn": "updated_at"}
    if own_schedule:
        entry["ownSchedule"] = True
    return entry


def run(cdc, tables, only_table=None):
    return cdc.run(None, "shop", "s3://raw/", "shop/", "glue_catalog", "curated", "shop_", tables,
                   "_ops/cdc/shop/", "_quarantine/shop/", NOW, only_table=only_table)


def test_a_merge_schedule_run_with_every_table_on_its_own_schedule_fails(cdc):
    tables = [pulled("legacy.invoices", True), pulled("legacy.customers", True)]
    with pytest.raises(cdc.CdcError, match="names no table spec"):
        run(cdc, tables)


def test_with_one_table_on_the_merge_schedule_the_run_has_work(cdc):
    # The run gets past the spec selection and tries to merge that table (here without Spark or
    # JDBC, so the table fails; the job isolates tables and names each one that failed).
    tables = [pulled("legacy.invoices", True), pulled("legacy.customers", False)]
    with pytest.raises(cdc.CdcError, match=r"1 of 1 tables failed .*legacy\.customers"):
        run(cdc, tables)
    with pytest.raises(cdc.CdcError, match=r"1 of 1 tables failed .*legacy\.invoices"):
        run(cdc, tables, only_table="legacy.invoices")
