"""The data quality rules (``lakehouse_quality``): every rule kind, evaluated by Deequ on a local
Spark session, fails on a crafted bad input and passes on the good one; the rule document is
validated with every problem named."""
import datetime as dt
import json

import lakehouse_quality as lq
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

NOW = dt.datetime(2026, 12, 1, 12, 0, 0)
SCHEMA = "id bigint, status string, amount double, updated_at timestamp"


def frame(spark, rows):
    return spark.createDataFrame(rows, SCHEMA)


GOOD = [(1, "new", 10.0, NOW - dt.timedelta(minutes=5)), (2, "paid", 99.5, NOW - dt.timedelta(hours=2)),
        (3, "paid", None, NOW - dt.timedelta(hours=1))]

#: (rule, bad rows): each rule passes on GOOD and fails on its bad rows.
CASES = [
    ({"rule": "IsComplete", "column": "status"}, GOOD + [(4, None, 1.0, NOW)]),
    ({"rule": "IsUnique", "columns": ["id"]}, GOOD + [(1, "paid", 1.0, NOW)]),
    ({"rule": "IsUnique", "columns": ["id", "status"]}, GOOD + [(2, "paid", 5.0, NOW)]),
    ({"rule": "ColumnValues", "column": "amount", "min": 0, "max": 100}, GOOD + [(4, "new", 100.01, NOW)]),
    ({"rule": "ColumnValues", "column": "amount", "min": 0}, GOOD + [(4, "new", -0.5, NOW)]),
    ({"rule": "ColumnValues", "column": "updated_at", "max": "2026-12-01 12:00:00"}, GOOD + [(4, "new", 1.0, NOW + dt.timedelta(seconds=1))]),
    ({"rule": "ColumnValuesIn", "column": "status", "values": ["new", "paid"]}, GOOD + [(4, "lost", 1.0, NOW)]),
    ({"rule": "Freshness", "column": "updated_at", "maxAgeSeconds": 600}, [(1, "new", 1.0, NOW - dt.timedelta(seconds=601))]),
    ({"rule": "CustomSql", "name": "paid has amount", "sql": "SELECT * FROM {table} WHERE status = 'paid' AND amount IS NULL AND id > 3",
      "expect": "zero_rows"}, GOOD + [(4, "paid", None, NOW)]),
]


@pytest.mark.parametrize("rule,bad", CASES, ids=[lq.describe(r) for r, _ in CASES])
def test_each_rule_fails_its_bad_rows(spark, rule, bad):
    """(That every rule passes GOOD is checked in one Deequ pass below.)"""
    bad_result = lq.evaluate(spark, frame(spark, bad), [rule], now=NOW)[0]
    assert not bad_result["passed"], bad_result
    assert bad_result["severity"] == "block" and bad_result["description"] == lq.describe(rule)


def test_row_count_change_compares_with_the_previous_rows(spark):
    previous = frame(spark, GOOD)  # 3 rows
    rule = {"rule": "RowCountChange", "maxDecreasePercent": 50, "maxIncreasePercent": 100}
    cases = {1: False, 6: True, 7: False}  # 1 row: -66.7 %; 6: +100 % (the bound itself); 7: +133 %
    for rows, expected in cases.items():
        current = frame(spark, [(i, "new", 1.0, NOW) for i in range(rows)])
        result = lq.evaluate(spark, current, [rule], previous=previous, now=NOW)[0]
        assert result["passed"] is expected, (rows, result)
        assert result["value"] == rows
    # no previous snapshot: nothing to compare with, passes
    assert lq.evaluate(spark, frame(spark, GOOD), [rule], previous=None, now=NOW)[0]["passed"]


def test_every_rule_passes_the_good_rows_in_one_pass_in_order_and_a_missing_column_fails_its_rule(spark):
    rules = [r for r, _ in CASES] + [{"rule": "IsComplete", "column": "nope", "severity": "warn"}]
    results = lq.evaluate(spark, frame(spark, GOOD), rules, now=NOW)
    assert [r["description"] for r in results] == [lq.describe(r) for r in rules]
    assert all(r["passed"] for r in results[:-1])
    assert not results[-1]["passed"] and "nope" in results[-1]["message"] and results[-1]["severity"] == "warn"


def test_no_rows_pass_row_rules_and_fail_freshness(spark):
    empty = frame(spark, [])
    rules = [{"rule": "IsComplete", "column": "status"}, {"rule": "IsUnique", "columns": ["id"]},
             {"rule": "ColumnValuesIn", "column": "status", "values": ["new"]},
             {"rule": "Freshness", "column": "updated_at", "maxAgeSeconds": 60}]
    assert [r["passed"] for r in lq.evaluate(spark, empty, rules, now=NOW)] == [True, True, True, False]


def test_rule_document_errors_are_named():
    assert lq.parse_rules(None) == {} and lq.parse_rules("  ") == {}
    doc = {"version": 1, "tables": {"orders": [
        {"rule": "IsComplete"}, {"rule": "Nope", "column": "x"}, {"rule": "ColumnValues", "column": "a", "min": 5, "max": 1},
        {"rule": "IsUnique", "columns": []}, {"rule": "IsComplete", "column": "a", "severity": "fatal"},
        {"rule": "CustomSql", "name": "n", "sql": "SELECT 1", "expect": "some_rows"},
        {"rule": "RowCountChange"}, {"rule": "Freshness", "column": "t", "maxAgeSeconds": 0},
        {"rule": "IsComplete", "column": "a", "extra": 1}]}}
    with pytest.raises(lq.QualityRulesError) as err:
        lq.parse_rules(json.dumps(doc))
    text = str(err.value)
    for expected in ["orders[0]: IsComplete needs 'column'", "orders[1]: unknown rule 'Nope'", "orders[2]: ColumnValues min is above max",
                     "orders[3]: IsUnique needs 'columns'", "orders[4]: severity must be", "orders[5]: CustomSql expect must be 'zero_rows'",
                     "orders[6]: RowCountChange needs", "orders[7]: Freshness maxAgeSeconds", "orders[8]: IsComplete has unknown field(s) extra"]:
        assert expected in text
    with pytest.raises(lq.QualityRulesError, match="version"):
        lq.parse_rules('{"version": 2, "tables": {}}')
    with pytest.raises(lq.QualityRulesError, match="not JSON"):
        lq.parse_rules("{")


@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["a", "b", "c", None]), st.integers(-3, 12)), max_size=12),
       st.integers(0, 10), st.integers(0, 10))
def test_deequ_metrics_agree_with_a_plain_model(spark, rows, low, high):
    """Random small tables: each rule's verdict equals a plain Python computation of the rule."""
    df = spark.createDataFrame([(i, s, float(v)) for i, s, v in rows], "id bigint, status string, amount double")
    rules = [{"rule": "IsComplete", "column": "status"}, {"rule": "IsUnique", "columns": ["id"]},
             {"rule": "ColumnValues", "column": "amount", "min": min(low, high), "max": max(low, high)},
             {"rule": "ColumnValuesIn", "column": "status", "values": ["a", "b"]}]
    got = [r["passed"] for r in lq.evaluate(spark, df, rules, now=NOW)]
    ids = [i for i, _, _ in rows]
    expected = [all(s is not None for _, s, _ in rows), len(ids) == len(set(ids)),
                all(min(low, high) <= v <= max(low, high) for _, _, v in rows), all(s in ("a", "b", None) for _, s, _ in rows)]
    assert got == expected, rows
