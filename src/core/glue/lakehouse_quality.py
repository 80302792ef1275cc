"""Data quality rules of the cdk-lakehouse merge jobs, evaluated with Deequ (AWS Glue 5.0: Spark 3.5).

Deequ (``com.amazon.deequ:deequ:2.0.7-spark-3.5``, the library behind Glue Data Quality) computes
the metrics; this module only turns the rule document into Deequ analyzers, runs them in one
``AnalysisRunner`` pass over the audited rows and compares each metric with the rule's bound.
It calls Deequ through py4j (``spark._jvm.com.amazon.deequ...``) instead of PyDeequ: the
comparisons are plain Python, so no Scala closure (PyDeequ's py4j callback server) is needed,
and Glue only needs the jar (``--extra-jars``), no Python package.

The rule document (the job argument ``--quality_rules``, or the S3 object named by
``--quality_rules_path``, which takes precedence)::

    {"version": 1, "tables": {"<curated table name>": [<rule>, ...]}}

Rules (named as in DQDL; ``severity`` is ``"block"`` or ``"warn"``):

===================  ==========================================  ===================================================
rule                 fields                                      passes when (Deequ metric)
===================  ==========================================  ===================================================
``IsComplete``       ``column``                                  ``Completeness(column) == 1``
``IsUnique``         ``columns`` (list)                          ``Uniqueness(columns) == 1`` (rows whose columns are
                                                                 all null are not counted, as in Deequ)
``ColumnValues``     ``column``, ``min``?, ``max``?              ``Compliance(column IS NULL OR min <= column <= max)
                                                                 == 1`` (nulls are ``IsComplete``'s business)
``ColumnValuesIn``   ``column``, ``values`` (list)               ``Compliance(column IS NULL OR column IN values) == 1``
``RowCountChange``   ``maxDecreasePercent``?,                    ``Size`` of the audited rows against ``Size`` of the
                     ``maxIncreasePercent``?                     previous main snapshot (passes without one)
``Freshness``        ``column``, ``maxAgeSeconds``               ``now - Maximum(column as epoch seconds)
                                                                 <= maxAgeSeconds``
``CustomSql``        ``name``, ``sql``, ``expect: "zero_rows"``  the query (``{table}`` = the audited rows) returns no
                                                                 row (Spark SQL; Deequ has no row-returning check)
===================  ==========================================  ===================================================

A table without rows passes ``IsComplete``, ``IsUnique``, ``ColumnValues`` and ``ColumnValuesIn``
(no row breaks them) and fails ``Freshness``.
"""
import datetime as dt
import json
from typing import Dict, List, Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

#: The Deequ release the jobs load (Maven Central; Spark 3.5, Scala 2.12).
DEEQU_COORDINATES = "com.amazon.deequ:deequ:2.0.7-spark-3.5"
RULE_FIELDS = {
    "IsComplete": ({"column"}, set()),
    "IsUnique": ({"columns"}, set()),
    "ColumnValues": ({"column"}, {"min", "max"}),
    "ColumnValuesIn": ({"column", "values"}, set()),
    "RowCountChange": (set(), {"maxDecreasePercent", "maxIncreasePercent"}),
    "Freshness": ({"column", "maxAgeSeconds"}, set()),
    "CustomSql": ({"name", "sql", "expect"}, set()),
}
SEVERITIES = ("block", "warn")


class QualityRulesError(ValueError):
    """A rule document the job cannot use (named with the table and rule index)."""


# --------------------------------------------------------------------------- the rule document


def parse_rules(text: Optional[str]) -> Dict[str, List[dict]]:
    """The rules per curated table from the JSON document (``{}`` for None or empty text).

    Every problem is named in one ``QualityRulesError``: an unknown version, rule kind or
    severity, a missing or unknown field, a wrong type, ``min`` above ``max``."""
    if text is None or not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise QualityRulesError(f"quality rules: not JSON ({err})") from err
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise QualityRulesError('quality rules: the document must be {"version": 1, "tables": {...}}')
    tables = doc.get("tables") or {}
    if not isinstance(tables, dict):
        raise QualityRulesError("quality rules: 'tables' must map a curated table name to a list of rules")
    errors: List[str] = []
    for table, rules in tables.items():
        if not isinstance(rules, list):
            errors.append(f"{table}: the rules must be a list")
            continue
        for i, rule in enumerate(rules):
            errors.extend(f"{table}[{i}]: {e}" for e in _rule_errors(rule))
    if errors:
        raise QualityRulesError("quality rules: " + "; ".join(errors))
    return {t: list(r) for t, r in tables.items()}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _rule_errors(rule) -> List[str]:
    if not isinstance(rule, dict):
        return ["a rule must be an object"]
    kind = rule.get("rule")
    if kind not in RULE_FIELDS:
        return [f"unknown rule {kind!r} (one of {', '.join(RULE_FIELDS)})"]
    required, optional = RULE_FIELDS[kind]
    errors = [f"{kind} needs {name!r}" for name in sorted(required - set(rule))]
    unknown = set(rule) - required - optional - {"rule", "severity"}
    if unknown:
        errors.append(f"{kind} has unknown field(s) {', '.join(sorted(unknown))}")
    if rule.get("severity", "block") not in SEVERITIES:
        errors.append(f"severity must be 'block' or 'warn', not {rule.get('severity')!r}")
    if "column" in rule and (not isinstance(rule["column"], str) or not rule["column"]):
        errors.append("column must be a non-empty string")
    if kind == "IsUnique" and (not isinstance(rule.get("columns"), list) or not rule.get("columns")
                               or not all(isinstance(c, str) and c for c in rule["columns"])):
        errors.append("IsUnique needs 'columns', a non-empty list of column names")
    if kind == "ColumnValues":
        if "min" not in rule and "max" not in rule:
            errors.append("ColumnValues needs 'min' or 'max'")
        for bound in ("min", "max"):
            if bound in rule and not (_is_number(rule[bound]) or isinstance(rule[bound], str)):
                errors.append(f"ColumnValues {bound} must be a number or a string")
        if _is_number(rule.get("min")) and _is_number(rule.get("max")) and rule["min"] > rule["max"]:
            errors.append("ColumnValues min is above max")
    if kind == "ColumnValuesIn" and (not isinstance(rule.get("values"), list) or not rule.get("values")):
        errors.append("ColumnValuesIn needs 'values', a non-empty list")
    if kind == "RowCountChange":
        if "maxDecreasePercent" not in rule and "maxIncreasePercent" not in rule:
            errors.append("RowCountChange needs maxDecreasePercent or maxIncreasePercent")
        for bound in ("maxDecreasePercent", "maxIncreasePercent"):
            if bound in rule and (not _is_number(rule[bound]) or rule[bound] < 0):
                errors.append(f"RowCountChange {bound} must be a number >= 0")
    if kind == "Freshness" and (not _is_number(rule.get("maxAgeSeconds")) or rule.get("maxAgeSeconds", 0) <= 0):
        errors.append("Freshness maxAgeSeconds must be a number > 0")
    if kind == "CustomSql":
        if rule.get("expect") != "zero_rows":
            errors.append("CustomSql expect must be 'zero_rows'")
        if not isinstance(rule.get("sql"), str) or not rule.get("sql", "").strip():
            errors.append("CustomSql sql must be a non-empty string")
        if not isinstance(rule.get("name"), str) or not rule.get("name"):
            errors.append("CustomSql name must be a non-empty string")
    return errors


def describe(rule: dict) -> str:
    """A short DQDL-like text of a rule (``IsComplete "id"``), used in results and messages."""
    kind = rule["rule"]
    if kind == "IsUnique":
        return f"IsUnique {' '.join(json.dumps(c) for c in rule['columns'])}"
    if kind == "ColumnValues":
        parts = []
        if "min" in rule:
            parts.append(f">= {json.dumps(rule['min'])}")
        if "max" in rule:
            parts.append(f"<= {json.dumps(rule['max'])}")
        return f"ColumnValues {json.dumps(rule['column'])} {' and '.join(parts)}"
    if kind == "ColumnValuesIn":
        return f"ColumnValues {json.dumps(rule['column'])} in {json.dumps(rule['values'])}"
    if kind == "RowCountChange":
        return "RowCountChange " + " ".join(f"{k}={rule[k]}" for k in ("maxDecreasePercent", "maxIncreasePercent") if k in rule)
    if kind == "Freshness":
        return f"Freshness {json.dumps(rule['column'])} <= {rule['maxAgeSeconds']}s"
    if kind == "CustomSql":
        return f"CustomSql {json.dumps(rule['name'])}"
    return f"{kind} {json.dumps(rule['column'])}"


# --------------------------------------------------------------------------- Deequ through py4j


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(value) -> str:
    if _is_number(value):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class _Deequ:
    """The Deequ analyzers, built through py4j (Scala case classes with explicit ``None``s)."""

    def __init__(self, spark: SparkSession):
        self.jvm = spark._jvm
        try:
            self.analyzers = self.jvm.com.amazon.deequ.analyzers
            self.analyzers.Size(self.jvm.scala.Option.apply(None))
        except Exception as err:  # py4j: the package resolves to nothing callable
            raise RuntimeError(f"Deequ is not on the job's classpath: pass the {DEEQU_COORDINATES} jar with --extra-jars "
                               f"({err})") from err
        self.none = self.jvm.scala.Option.apply(None)

    def _seq(self, items):
        array = self.jvm.java.util.ArrayList()
        for item in items:
            array.add(item)
        return self.jvm.scala.collection.JavaConverters.asScalaBufferConverter(array).asScala()

    def completeness(self, column):
        return self.analyzers.Completeness(column, self.none, self.none)

    def uniqueness(self, columns):
        return self.analyzers.Uniqueness(self._seq(columns).toSeq(), self.none, self.none)

    def compliance(self, name, predicate):
        return self.analyzers.Compliance(name, predicate, self.none, self._seq([]).toList(), self.none)

    def size(self):
        return self.analyzers.Size(self.none)

    def maximum(self, column):
        return self.analyzers.Maximum(column, self.none, self.none)

    def run(self, df: DataFrame, analyzers) -> List[tuple]:
        """``[(value or None, error message or None)]`` per analyzer, from one ``AnalysisRunner`` run."""
        if not analyzers:
            return []
        builder = self.jvm.com.amazon.deequ.analyzers.runners.AnalysisRunner.onData(df._jdf)
        for analyzer in analyzers:
            builder = builder.addAnalyzer(analyzer)
        context = builder.run()
        out = []
        for analyzer in analyzers:
            metric = context.metric(analyzer)
            if not metric.isDefined():
                out.append((None, "Deequ computed no metric"))
                continue
            value = metric.get().value()
            if value.isSuccess():
                out.append((float(value.get()), None))
            else:
                out.append((None, str(value.failed().get().getMessage())))
        return out


def _empty_state(error: Optional[str]) -> bool:
    return error is not None and "empty" in error.lower()


def evaluate(spark: SparkSession, df: DataFrame, rules: List[dict], previous: Optional[DataFrame] = None,
             table_sql: Optional[str] = None, now: Optional[dt.datetime] = None) -> List[dict]:
    """Evaluates ``rules`` on the rows ``df`` and returns one result per rule, in order:
    ``{"rule", "description", "severity", "passed", "value", "message"}``.

    ``previous`` is the table as readers saw it before (the main branch) for ``RowCountChange``;
    ``table_sql`` the identifier ``{table}`` stands for in ``CustomSql`` (without it, ``df`` is
    registered as a temporary view); ``now`` (naive UTC) the reference of ``Freshness``."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    deequ = _Deequ(spark)
    data = df
    plan = []  # (rule index, analyzer) on df
    for i, rule in enumerate(rules):
        kind = rule["rule"]
        if kind == "IsComplete":
            plan.append((i, deequ.completeness(rule["column"])))
        elif kind == "IsUnique":
            plan.append((i, deequ.uniqueness(rule["columns"])))
        elif kind == "ColumnValues":
            col = _quote(rule["column"])
            bounds = []
            if "min" in rule:
                bounds.append(f"{col} >= {_literal(rule['min'])}")
            if "max" in rule:
                bounds.append(f"{col} <= {_literal(rule['max'])}")
            plan.append((i, deequ.compliance(describe(rule), f"{col} IS NULL OR ({' AND '.join(bounds)})")))
        elif kind == "ColumnValuesIn":
            col = _quote(rule["column"])
            values = ", ".join(_literal(v) for v in rule["values"])
            plan.append((i, deequ.compliance(describe(rule), f"{col} IS NULL OR {col} IN ({values})")))
        elif kind == "RowCountChange":
            plan.append((i, deequ.size()))
        elif kind == "Freshness":
            helper = f"__lakehouse_fresh_{i}"
            if rule["column"] not in df.columns:
                plan.append((i, deequ.maximum(rule["column"])))  # Deequ names the missing column
            else:
                data = data.withColumn(helper, F.col(_quote(rule["column"])).cast("timestamp").cast("double"))
                plan.append((i, deequ.maximum(helper)))
    measured = dict(zip([i for i, _ in plan], deequ.run(data, [a for _, a in plan])))
    previous_size = None
    if previous is not None and any(r["rule"] == "RowCountChange" for r in rules):
        previous_size = deequ.run(previous, [deequ.size()])[0]
    results = []
    for i, rule in enumerate(rules):
        value, error = measured.get(i, (None, None))
        passed, message, value = _judge(spark, df, rule, value, error, previous_size, table_sql, now)
        results.append({"rule": rule["rule"], "description": describe(rule), "severity": rule.get("severity", "block"),
                        "passed": bool(passed), "value": value, "message": message})
    return results


def _judge(spark, df, rule, value, error, previous_size, table_sql, now):
    kind = rule["rule"]
    if kind in ("IsComplete", "IsUnique", "ColumnValues", "ColumnValuesIn"):
        if error is not None:
            if _empty_state(error):
                return True, "no rows", None
            return False, error, None
        return value == 1.0, f"fraction of rows that pass: {value:.6g}", value
    if kind == "RowCountChange":
        if error is not None:
            return False, error, None
        if previous_size is None or previous_size[0] is None or previous_size[0] == 0:
            return True, f"{int(value)} rows; no previous rows to compare with", value
        before = previous_size[0]
        change = (value - before) / before * 100.0
        ok = True
        if "maxDecreasePercent" in rule and -change > rule["maxDecreasePercent"]:
            ok = False
        if "maxIncreasePercent" in rule and change > rule["maxIncreasePercent"]:
            ok = False
        return ok, f"{int(before)} -> {int(value)} rows ({change:+.2f} %)", value
    if kind == "Freshness":
        if error is not None:
            return False, "no value to measure the age of" if _empty_state(error) else error, None
        newest = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=value)
        age = (now - newest).total_seconds()
        return age <= rule["maxAgeSeconds"], f"newest {newest.isoformat()} is {age:.0f} s old", age
    if kind == "CustomSql":
        view = None
        target = table_sql
        if target is None:
            view = f"lakehouse_audit_{abs(hash(rule['name']))}"
            df.createOrReplaceTempView(view)
            target = view
        try:
            rows = spark.sql(rule["sql"].replace("{table}", target)).count()
        except Exception as err:  # a query that cannot run is a failed rule, named
            return False, f"query failed: {str(err).splitlines()[0]}", None
        finally:
            if view:
                spark.catalog.dropTempView(view)
        return rows == 0, f"{rows} row(s) returned", float(rows)
    raise QualityRulesError(f"unknown rule {kind!r}")
