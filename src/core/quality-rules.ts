import { Duration, Token } from 'aws-cdk-lib';
import { propError } from './validation';

/**
 * Data quality rules of curated tables, declared next to each table in the ingestion props and
 * evaluated by the merge job on the table's audit branch before it publishes (write-audit-publish,
 * docs/quality-rules.md). The vocabulary follows Glue Data Quality's DQDL (`IsComplete`,
 * `IsUnique`, `ColumnValues`, `RowCount` change, `DataFreshness`, `CustomSql`), which the job
 * evaluates with Deequ, the library behind Glue Data Quality.
 *
 * The job receives the rules as JSON (`--quality_rules`, or `--quality_rules_path` for a large
 * rule set): `{"version":1,"tables":{"<curated table>":[{"rule":"IsComplete","column":"id","severity":"block"}]}}`.
 */

/** What a failed rule does to the run. */
export enum RuleSeverity {
  /** The audit fails: main is not published, the audit branch is kept for inspection. */
  BLOCK = 'block',
  /** The run publishes; the failure is recorded in the results and counted in `RuleFailures`. */
  WARN = 'warn',
}

/** Options every quality rule takes. */
export interface QualityRuleOptions {
  /**
   * What a failure of this rule does.
   * @default RuleSeverity.BLOCK
   */
  readonly severity?: RuleSeverity;
}

/** Bounds of a column's values (inclusive); give at least one. */
export interface ColumnValueBounds {
  /**
   * Smallest value allowed.
   * @default - no lower bound
   */
  readonly min?: number;
  /**
   * Largest value allowed.
   * @default - no upper bound
   */
  readonly max?: number;
}

/** How far a table's row count may move from the previous published snapshot's; give at least one. */
export interface RowCountChangeLimits {
  /**
   * Largest decrease, in percent of the previous count (0-100).
   * @default - any decrease
   */
  readonly maxDecreasePercent?: number;
  /**
   * Largest increase, in percent of the previous count (0 or more; 100 = the table may double).
   * @default - any increase
   */
  readonly maxIncreasePercent?: number;
}

/** The rules of one curated table, as `MergeJob` takes them. */
export interface TableQualityRules {
  /** Name of the curated table (in the lake's curated database). */
  readonly table: string;
  /** Its rules, evaluated in this order. */
  readonly rules: QualityRule[];
}

/** The rule kinds, as rendered (`rule` of the JSON contract). */
const KIND = {
  isComplete: 'IsComplete',
  isUnique: 'IsUnique',
  columnValues: 'ColumnValues',
  columnValuesIn: 'ColumnValuesIn',
  rowCountChange: 'RowCountChange',
  freshness: 'Freshness',
  customSql: 'CustomSql',
} as const;

/** A column name the merge job can address without quoting (Spark resolves it case-insensitively). */
const COLUMN = /^[A-Za-z_][A-Za-z0-9_$]*$/;
/** A custom rule's name: it names the rule in the results and the metrics. */
const RULE_NAME = /^[a-z][a-z0-9_]{0,63}$/;
/** The placeholder a custom SQL rule reads the audited table through. */
export const CUSTOM_SQL_TABLE_PLACEHOLDER = '{table}';
/** Version of the JSON contract between the construct and the merge job. */
export const QUALITY_RULES_VERSION = 1;

/**
 * One data quality rule of a curated table. Build it with a static factory; the construct that
 * receives it validates it and names the prop of any mistake.
 *
 * @example
 * const rules = [
 *   QualityRule.isComplete('order_id'),
 *   QualityRule.isUnique(['order_id']),
 *   QualityRule.columnValues('amount', { min: 0 }),
 *   QualityRule.columnValuesIn('status', ['open', 'paid', 'shipped'], { severity: RuleSeverity.WARN }),
 *   QualityRule.rowCountChange({ maxDecreasePercent: 10 }),
 *   QualityRule.freshness('updated_at', Duration.hours(6)),
 *   QualityRule.customSql('no_future_orders', 'SELECT * FROM {table} WHERE ordered_at > current_timestamp()'),
 * ];
 */
export class QualityRule {
  /** Every row has a value in the column (DQDL `IsComplete`). */
  public static isComplete(column: string, options?: QualityRuleOptions): QualityRule {
    return new QualityRule(KIND.isComplete, { column }, options);
  }

  /** No two rows share the same values in the columns, e.g. the key (DQDL `IsUnique` / `IsPrimaryKey`). */
  public static isUnique(columns: string[], options?: QualityRuleOptions): QualityRule {
    return new QualityRule(KIND.isUnique, { columns: columns ? [...columns] : columns }, options);
  }

  /** Every non-null value of a numeric column is within the bounds, inclusive (DQDL `ColumnValues ... between`). */
  public static columnValues(column: string, bounds: ColumnValueBounds, options?: QualityRuleOptions): QualityRule {
    return new QualityRule(KIND.columnValues, { column, min: bounds?.min, max: bounds?.max }, options);
  }

  /**
   * Every non-null value of the column is one of the values (DQDL `ColumnValues ... in [...]`). The
   * column is compared as a string: give numbers as their text, e.g. `['1', '2']`.
   */
  public static columnValuesIn(column: string, values: string[], options?: QualityRuleOptions): QualityRule {
    return new QualityRule(KIND.columnValuesIn, { column, values: values ? [...values] : values }, options);
  }

  /**
   * The audited snapshot's row count moved from the last published one's by no more than the
   * limits (DQDL `RowCountMatch` / `RowCount` with a change). Passes on the table's first publish.
   */
  public static rowCountChange(limits: RowCountChangeLimits, options?: QualityRuleOptions): QualityRule {
    const { maxDecreasePercent, maxIncreasePercent } = limits ?? {};
    return new QualityRule(KIND.rowCountChange, { maxDecreasePercent, maxIncreasePercent }, options);
  }

  /** The newest value of a timestamp column is at most `maxAge` old when the audit runs (DQDL `DataFreshness`). */
  public static freshness(column: string, maxAge: Duration, options?: QualityRuleOptions): QualityRule {
    return new QualityRule(KIND.freshness, { column, maxAge }, options);
  }

  /**
   * A Spark SQL query that must return no rows: each row it returns is a violation (DQDL
   * `CustomSql`). Read the audited table as `{table}`, e.g.
   * `SELECT * FROM {table} WHERE shipped_at < ordered_at`.
   */
  public static customSql(name: string, sql: string, options?: QualityRuleOptions): QualityRule {
    return new QualityRule(KIND.customSql, { name, sql }, options);
  }

  /** What a failure of this rule does. */
  public readonly severity: RuleSeverity;

  private constructor(
    /** The rule kind (`IsComplete`, `IsUnique`, `ColumnValues`, `ColumnValuesIn`, `RowCountChange`, `Freshness`, `CustomSql`). */
    public readonly kind: string,
    private readonly fields: RuleFields,
    options?: QualityRuleOptions,
  ) {
    this.severity = options?.severity ?? RuleSeverity.BLOCK;
  }

  /**
   * The rule as the merge job reads it, after validation; errors name `prop` (e.g.
   * `tables[0].qualityRules[2]`).
   * @internal
   */
  public _render(construct: string, prop: string): { [key: string]: unknown } {
    const f = this.fields;
    const fail = (field: string, problem: string, fix: string) => propError(construct, field ? `${prop}.${field}` : prop, problem, fix);
    if (!Object.values(RuleSeverity).includes(this.severity)) {
      throw fail('severity', `"${this.severity}" is not a severity`, 'use RuleSeverity.BLOCK or RuleSeverity.WARN');
    }
    const column = (field: string, value: string | undefined) => {
      if (typeof value === 'string' && Token.isUnresolved(value)) {
        throw fail(field, 'it is a deploy-time value', 'name the column in plain text: the rules are fixed at synth time');
      }
      if (typeof value !== 'string' || !COLUMN.test(value)) {
        throw fail(field, `"${value ?? ''}" is not a column name`, 'give the column of the curated table, e.g. "order_id" (letters, digits, "_" and "$", starting with a letter or "_")');
      }
      return value;
    };
    const out: { [key: string]: unknown } = { rule: this.kind };
    switch (this.kind) {
      case KIND.isComplete:
        out.column = column('column', f.column);
        break;
      case KIND.isUnique: {
        if (!Array.isArray(f.columns) || f.columns.length === 0) {
          throw fail('columns', 'no column is given', 'list the columns whose values must be unique together, e.g. ["order_id"]');
        }
        const columns = f.columns.map((c, i) => column(`columns[${i}]`, c));
        if (new Set(columns.map((c) => c.toLowerCase())).size !== columns.length) {
          throw fail('columns', 'a column is listed twice', 'list each column once');
        }
        out.columns = columns;
        break;
      }
      case KIND.columnValues: {
        out.column = column('column', f.column);
        if (f.min === undefined && f.max === undefined) throw fail('', 'neither min nor max is given', 'give min, max or both');
        for (const [k, v] of [['min', f.min], ['max', f.max]] as const) {
          if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw fail(k, `${v} is not a finite number`, `give a number as ${k}`);
        }
        if (f.min !== undefined && f.max !== undefined && f.min > f.max) {
          throw fail('min', `min ${f.min} is greater than max ${f.max}`, 'give min <= max');
        }
        if (f.min !== undefined) out.min = f.min;
        if (f.max !== undefined) out.max = f.max;
        break;
      }
      case KIND.columnValuesIn: {
        out.column = column('column', f.column);
        if (!Array.isArray(f.values) || f.values.length === 0) throw fail('values', 'no value is given', 'list the values allowed, e.g. ["open", "paid"]');
        f.values.forEach((v, i) => {
          if (typeof v !== 'string') throw fail(`values[${i}]`, `${v} is not a string`, 'give every value as text (numbers too, e.g. "1")');
          if (Token.isUnresolved(v)) throw fail(`values[${i}]`, 'it is a deploy-time value', 'give the value in plain text');
        });
        if (new Set(f.values).size !== f.values.length) throw fail('values', 'a value is listed twice', 'list each value once');
        out.values = [...f.values];
        break;
      }
      case KIND.rowCountChange: {
        const { maxDecreasePercent: dec, maxIncreasePercent: inc } = f;
        if (dec === undefined && inc === undefined) throw fail('', 'neither maxDecreasePercent nor maxIncreasePercent is given', 'give one or both');
        if (dec !== undefined && !(typeof dec === 'number' && Number.isFinite(dec) && dec >= 0 && dec <= 100)) {
          throw fail('maxDecreasePercent', `${dec} is not a percentage from 0 to 100`, 'give e.g. 10 (the table may lose up to a tenth of its rows)');
        }
        if (inc !== undefined && !(typeof inc === 'number' && Number.isFinite(inc) && inc >= 0)) {
          throw fail('maxIncreasePercent', `${inc} is not a percentage of 0 or more`, 'give e.g. 50 (the table may grow by half)');
        }
        if (dec !== undefined) out.maxDecreasePercent = dec;
        if (inc !== undefined) out.maxIncreasePercent = inc;
        break;
      }
      case KIND.freshness: {
        out.column = column('column', f.column);
        if (!f.maxAge || Token.isUnresolved(f.maxAge)) throw fail('maxAge', 'it is not given', 'give a Duration, e.g. Duration.hours(6)');
        const seconds = f.maxAge.toSeconds({ integral: false });
        if (!Number.isInteger(seconds) || seconds < 1) {
          throw fail('maxAge', `${f.maxAge.toHumanString()} is not a whole number of seconds of at least 1`, 'give e.g. Duration.hours(6)');
        }
        out.maxAgeSeconds = seconds;
        break;
      }
      case KIND.customSql: {
        if (typeof f.name !== 'string' || !RULE_NAME.test(f.name)) {
          throw fail('name', `"${f.name ?? ''}" is not a rule name`, 'use 1-64 lowercase letters, digits and "_", starting with a letter, e.g. "no_future_orders"');
        }
        const sql = f.sql;
        if (typeof sql !== 'string' || Token.isUnresolved(sql) || sql.trim() === '') {
          throw fail('sql', 'it is empty or a deploy-time value', 'give a Spark SQL query in plain text');
        }
        if (!sql.includes(CUSTOM_SQL_TABLE_PLACEHOLDER)) {
          throw fail('sql', `the query does not read ${CUSTOM_SQL_TABLE_PLACEHOLDER}`, `read the audited table as ${CUSTOM_SQL_TABLE_PLACEHOLDER}, e.g. "SELECT * FROM {table} WHERE amount < 0"`);
        }
        if (sql.replace(/;\s*$/, '').includes(';')) {
          throw fail('sql', 'it holds more than one statement', 'give one SELECT whose rows are the violations');
        }
        out.name = f.name;
        out.sql = sql.replace(/;\s*$/, '');
        out.expect = 'zero_rows';
        break;
      }
      default:
        throw fail('', `"${this.kind}" is not a rule kind`, 'build rules with the QualityRule factories');
    }
    out.severity = this.severity;
    return out;
  }
}

interface RuleFields {
  readonly column?: string;
  readonly columns?: string[];
  readonly min?: number;
  readonly max?: number;
  readonly values?: string[];
  readonly maxDecreasePercent?: number;
  readonly maxIncreasePercent?: number;
  readonly maxAge?: Duration;
  readonly name?: string;
  readonly sql?: string;
}
