"""One plain example per class of input that real sources produce (issue 14): type changes,
one bad table among healthy ones, two source tables mapping to one curated table, and late
changes for absent keys. The generative tests are in ``test_cdc_property.py``."""
import decimal
import json

import pytest

from cdc_helpers import STATE_PREFIX, cdc, cdc_path, change, full_load, load_path, seq, spec

COLS = "id int, name string, qty int"
ORDERS = [spec("public.orders")]
CURATED = "shop_public_orders"


def column_type(lake, name, column):
    return lake.spark.table(lake.ident(name)).schema[column].dataType.simpleString()


def ledger_files(lake, schema, table):
    path = lake.root / STATE_PREFIX / "ledger" / schema / f"{table}.json"
    return sorted(json.loads(path.read_text())["files"]) if path.exists() else []


def test_cdc_type_changes_widen_or_fail_naming_table_column_and_types(lake):
    # Run 1: qty is int. Run 2: the source widened qty to bigint: the column is widened, the
    # value kept exactly (before the fix, 3,000,000,000 was stored as -1,294,967,296).
    lake.write("public", "orders", {cdc_path(1): [change("I", 1, 1, name="a", qty=1)]}, COLS)
    lake.run(ORDERS)
    lake.write("public", "orders", {cdc_path(2): [change("U", 2, 1, name="a", qty=3_000_000_000)]},
               "id int, name string, qty bigint")
    lake.run(ORDERS)
    assert column_type(lake, CURATED, "qty") == "bigint"
    assert lake.rows(CURATED, ["id", "qty"]) == [{"id": 1, "qty": 3_000_000_000}]

    # One run with files of both widths (and float next to double, decimal(10,2) next to
    # decimal(12,2)): read without Spark's schema-merge error, widened once, exact values.
    lake.write("sales", "lines", {cdc_path(1): [change("I", 1, 1, qty=5, price=1.5, amount=decimal.Decimal("12345678.12"))]},
               "id int, qty int, price float, amount decimal(10,2)")
    lake.write("sales", "lines", {cdc_path(2): [change("I", 2, 2, qty=2**40, price=0.1, amount=decimal.Decimal("9999999999.99"))]},
               "id int, qty bigint, price double, amount decimal(12,2)")
    lake.run([spec("sales.lines")])
    types = {c: column_type(lake, "shop_sales_lines", c) for c in ("qty", "price", "amount")}
    assert types == {"qty": "bigint", "price": "double", "amount": "decimal(12,2)"}
    assert lake.rows("shop_sales_lines", ["id", "qty", "price", "amount"]) == [
        {"id": 1, "qty": 5, "price": 1.5, "amount": decimal.Decimal("12345678.12")},
        {"id": 2, "qty": 2**40, "price": 0.1, "amount": decimal.Decimal("9999999999.99")}]

    # A change Iceberg cannot make (int to string): the table fails naming table, column, old
    # and new type and the file; nothing is written and the file stays unmerged.
    before = lake.rows(CURATED)
    lake.write("public", "orders", {cdc_path(3): [change("U", 3, 1, name="a", qty="lots")]}, "id int, name string, qty string")
    with pytest.raises(cdc.CdcRunFailed) as err:
        lake.run(ORDERS)
    message = str(err.value)
    for part in ("public.orders", CURATED, "'qty'", "from bigint to string", cdc_path(3)):
        assert part in message, (part, message)
    assert lake.rows(CURATED) == before and cdc_path(3) not in ledger_files(lake, "public", "orders")

    # In one run: int in one file, string in another: both files named, nothing merged.
    lake.write("sales", "mixed", {cdc_path(1): [change("I", 1, 1, qty=1)]}, "id int, qty int")
    lake.write("sales", "mixed", {cdc_path(2): [change("I", 2, 2, qty="x")]}, "id int, qty string")
    with pytest.raises(cdc.CdcRunFailed) as err:
        lake.run([spec("sales.mixed")])
    for part in ("sales.mixed", "'qty'", "int in " + cdc_path(1), "string in " + cdc_path(2)):
        assert part in str(err.value), (part, str(err.value))
    assert not cdc.lg.fq_table_exists(lake.spark, lake.ident("shop_sales_mixed"))


def test_type_rules_match_iceberg_promotions():
    from pyspark.sql import types as T
    widen = cdc.lg.iceberg_can_widen
    assert widen(T.IntegerType(), T.LongType()) and widen(T.ShortType(), T.LongType())
    assert widen(T.FloatType(), T.DoubleType()) and widen(T.DecimalType(10, 2), T.DecimalType(12, 2))
    assert not widen(T.LongType(), T.IntegerType()) and not widen(T.IntegerType(), T.DoubleType())
    assert not widen(T.DecimalType(10, 2), T.DecimalType(12, 3)) and not widen(T.IntegerType(), T.StringType())
    # Values that fit a column unchanged are cast, never the other way round.
    assert cdc.lg.fits(T.IntegerType(), T.LongType()) and not cdc.lg.fits(T.LongType(), T.IntegerType())
    assert cdc.lg.fits(T.DecimalType(10, 2), T.DecimalType(12, 4)) and not cdc.lg.fits(T.DecimalType(12, 4), T.DecimalType(12, 2))


@pytest.mark.parametrize("parallelism", [1, 3])
def test_one_bad_table_stops_the_others(lake, parallelism):
    # The failing table is listed first; the healthy one after it is merged all the same, the
    # run fails at the end naming every failed table, and TablesFailed counts them. Merged one
    # after another or three at once (threads of one Spark session), the outcome is the same.
    lake.write("public", "broken", {cdc_path(1): [change("I", 1, 1, name="a", qty=1)]}, COLS)
    lake.write("public", "orders", {cdc_path(1): [change("I", 1, 7, name="ok", qty=1)]}, COLS)
    tables = [spec("public.broken", key=("order_id",)), spec("public.nope_missing", key=("id",)), spec("public.orders")]
    lake.write("public", "nope_missing", {cdc_path(1): [change("I", 1, 1, name="a", qty=1)]}, "id int, name string, qty int")
    lake.write("public", "nope_missing", {cdc_path(2): [change("I", 2, 2, name="b", qty="x")]}, "id int, name string, qty string")
    with pytest.raises(cdc.CdcRunFailed) as err:
        lake.run(tables, parallelism=parallelism)
    message = str(err.value)
    assert [r["table"] for r in err.value.results] == ["broken", "nope_missing", "orders"]  # the specs' order
    assert "2 of 3 tables failed" in message and "public.broken" in message and "order_id" in message
    assert "public.nope_missing" in message and "'qty'" in message
    assert lake.rows(CURATED, ["id", "name"]) == [{"id": 7, "name": "ok"}]
    results = {r["table"]: r for r in err.value.results}
    assert results["broken"]["failed"] and results["nope_missing"]["failed"] and not results["orders"].get("failed")
    assert results["orders"]["rowsUpserted"] == 1
    data = cdc.build_metric_data("shop", err.value.results, cdc.dt.datetime(2026, 2, 1))
    failed = {tuple(x["Value"] for x in d["Dimensions"]): d["Value"] for d in data if d["MetricName"] == "TablesFailed"}
    assert failed == {("shop", "shop_public_broken"): 1, ("shop", "shop_public_nope_missing"): 1, ("shop", CURATED): 0,
                      ("shop",): 2}
    # The failed tables' files stay unmerged; the healthy table's are in its ledger.
    assert ledger_files(lake, "public", "broken") == [] and ledger_files(lake, "public", "orders") == [cdc_path(1)]


def test_two_source_tables_one_curated_table(lake):
    # A wildcard expands to Order-Items and order_items, which both map to
    # shop_sales_order_items: both are refused, named together; the other tables are merged.
    cols = "id int, name string"
    for table in ("Order-Items", "order_items", "orders"):
        lake.write("sales", table, {cdc_path(1): [change("I", 1, 1, name=table)]}, cols)
    with pytest.raises(cdc.CdcRunFailed) as err:
        lake.run([spec("sales.*")])
    message = str(err.value)
    assert "2 of 3 tables failed" in message
    assert "sales.Order-Items" in message and "sales.order_items" in message and "shop_sales_order_items" in message
    assert not cdc.lg.fq_table_exists(lake.spark, lake.ident("shop_sales_order_items"))
    assert lake.rows("shop_sales_orders", ["id", "name"]) == [{"id": 1, "name": "orders"}]
    # Two patterns naming one table, and a table whose curated name is another's tombstone table.
    claims = [("sales.*", "sales", "orders"), ("sales.ord*", "sales", "orders"), ("x.*", "x", "t"), ("x.*", "x", "t__cdc_tombstones")]
    collisions = cdc.find_collisions(claims, "shop_")
    assert set(collisions) == set(claims)
    assert "'sales.*'" in collisions[claims[0]] and "'sales.ord*'" in collisions[claims[0]]


def test_late_changes_for_absent_keys(lake):
    # CDC first: key 1 inserted then deleted, key 2 inserted; the full-load file arrives in a
    # later run with keys 1, 2 and 3 (3 was never changed by CDC): 1 stays deleted (tombstone
    # newer than the full load), 2 keeps its CDC row, 3 is inserted (not quarantined).
    lake.write("public", "orders", {cdc_path(1): [change("I", 1, 1, name="a", qty=1), change("D", 2, 1),
                                                  change("I", 3, 2, name="b-cdc", qty=2)]}, COLS)
    lake.run(ORDERS)
    lake.write("public", "orders", {load_path(1): [full_load(1, name="a-load", qty=0), full_load(2, name="b-load", qty=0),
                                                   full_load(3, name="c-load", qty=3)]}, COLS)
    [result] = lake.run(ORDERS)
    assert result["changesQuarantined"] == 0
    assert lake.rows(CURATED, ["id", "name"]) == [{"id": 2, "name": "b-cdc"}, {"id": 3, "name": "c-load"}]
    # An insert delivered after a later run: applied; a delete of a never-seen key delivered
    # first, then its older insert: the insert is superseded.
    lake.write("public", "orders", {cdc_path(9): [change("U", 20, 2, name="b2", qty=2), change("D", 21, 4)]}, COLS)
    lake.run(ORDERS)
    lake.write("public", "orders", {cdc_path(5): [change("I", 10, 5, name="e", qty=5), change("I", 11, 4, name="d", qty=4)]}, COLS)
    [result] = lake.run(ORDERS)
    assert result["changesQuarantined"] == 0 and result["rowsUpserted"] == 1
    assert lake.rows(CURATED, ["id", "name"]) == [{"id": 2, "name": "b2"}, {"id": 3, "name": "c-load"}, {"id": 5, "name": "e"}]
    tombs = lake.rows(CURATED + "__cdc_tombstones", ["id", "_cdc_change_seq"])
    assert tombs == [{"id": 1, "_cdc_change_seq": seq(2)}, {"id": 4, "_cdc_change_seq": seq(21)}]
    # A re-insert after a delete removes the tombstone (the table holds only deleted keys).
    lake.write("public", "orders", {cdc_path(10): [change("I", 30, 1, name="a3", qty=1)]}, COLS)
    lake.run(ORDERS)
    assert [r["id"] for r in lake.rows(CURATED + "__cdc_tombstones")] == [4]
    assert [r["id"] for r in lake.rows(CURATED)] == [1, 2, 3, 5]


def test_tables_merged_before_tombstones_keep_quarantining_ambiguous_changes(lake):
    # A ledger written by the job before tombstones: deletes then left no trace, so an absent
    # key's change older than what was merged stays ambiguous and is quarantined as before.
    lake.write("public", "orders", {cdc_path(10): [change("I", 10, 1, name="a", qty=1), change("D", 11, 1)]}, COLS)
    lake.run(ORDERS)
    path = lake.root / STATE_PREFIX / "ledger" / "public" / "orders.json"
    ledger = json.loads(path.read_text())
    del ledger["tombstoneHorizon"]
    path.write_text(json.dumps(ledger))
    (path.parent / ".orders.json.crc").unlink(missing_ok=True)  # Hadoop's local checksum of the old text
    lake.spark.sql(f"DELETE FROM {lake.ident(CURATED + '__cdc_tombstones')}")
    lake.write("public", "orders", {cdc_path(5): [change("I", 5, 1, name="zombie", qty=0)]}, COLS)
    [result] = lake.run(ORDERS)
    assert result["changesQuarantined"] == 1 and lake.rows(CURATED) == []
    assert [(r["id"], r["_reason"]) for r in lake.quarantine("public", "orders")] == [(1, "late_change_for_absent_key")]


def test_a_cast_that_could_change_a_value_is_refused_at_write_time(spark):
    from pyspark.sql import types as T
    actions = spark.createDataFrame([(1, 3_000_000_000)], "id int, qty bigint")
    target = T.StructType([T.StructField("id", T.IntegerType()), T.StructField("qty", T.IntegerType())])
    with pytest.raises(cdc.CdcTypeError, match="'qty' is int in the table but bigint in the changes"):
        cdc._aligned(actions, target, "public.orders")
    wider = T.StructType([T.StructField("id", T.LongType()), T.StructField("qty", T.LongType())])
    assert cdc._aligned(actions, wider, "public.orders").collect()[0].asDict() == {"id": 1, "qty": 3_000_000_000}


def test_a_crash_between_the_curated_commit_and_the_tombstones_heals_on_the_next_run(lake):
    lake.write("public", "orders", {cdc_path(2): [change("I", 2, 1, name="a", qty=1), change("I", 3, 2, name="b", qty=2),
                                                  change("D", 4, 1)]}, COLS)
    lake.run(ORDERS)
    # The crash came after the curated MERGE: no tombstone commit, no ledger.
    lake.spark.sql(f"DELETE FROM {lake.ident(CURATED + '__cdc_tombstones')}")
    path = lake.root / STATE_PREFIX / "ledger" / "public" / "orders.json"
    path.unlink()
    (path.parent / ".orders.json.crc").unlink(missing_ok=True)
    [again] = lake.run(ORDERS)
    assert again["filesMerged"] == 1 and again["changesApplied"] == 0
    assert [(r["id"], r["_cdc_change_seq"]) for r in lake.rows(CURATED + "__cdc_tombstones")] == [(1, seq(4))]
    # The healed tombstone supersedes a late older insert of key 1.
    lake.write("public", "orders", {cdc_path(1): [change("I", 1, 1, name="old", qty=0)]}, COLS)
    lake.run(ORDERS)
    assert lake.rows(CURATED, ["id", "name"]) == [{"id": 2, "name": "b"}]
