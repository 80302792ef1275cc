import { Duration } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { CdcTable, CdcTableMode } from './cdc-ingestion-props';
import { validateFreshnessInterval } from '../../core/freshness';
import { propError, validateGlueName } from '../../core/validation';

const NAME = 'CdcIngestion';
/** Unquoted or quoted-safe PostgreSQL identifier parts; `*` is the user's wildcard. */
const NAME_PART = /^[A-Za-z0-9_$*]+$/;
const COLUMN = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/**
 * A declared table as the merge job receives it (`--tables`, one JSON entry each). The job and
 * `curatedTableName` below must agree on names: see `glue/cdc_merge.py`.
 */
export interface CdcTableSpec {
  readonly name: string;
  readonly schema: string;
  readonly table: string;
  readonly primaryKey: string[];
  readonly mode: string;
  readonly watermarkColumn?: string;
  /** Not sent to the job. */
  readonly wildcard: boolean;
  readonly pullSchedule?: scheduler.ScheduleExpression;
  readonly expectedInterval: Duration;
  /** Curated table name; undefined for a pattern (the job names each matched table). */
  readonly curatedTable?: string;
}

/**
 * Name of the curated Iceberg table of source table `schema.table`: `<prefix><schema>_<table>`,
 * lowercased, anything outside `[a-z0-9_]` replaced by `_`. Mirrors `curated_table_name` in
 * `glue/cdc_merge.py`.
 */
export function curatedTableName(prefix: string, schema: string, table: string): string {
  return `${prefix}${schema}_${table}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/** Validates the declared tables and resolves their defaults, naming the prop of any mistake. */
export function resolveTables(tables: CdcTable[] | undefined, tablePrefix: string): CdcTableSpec[] {
  if (!tables || tables.length === 0) {
    throw propError(NAME, 'tables', 'no table is given', 'list the tables to bring in, e.g. [{ name: "public.orders", primaryKey: ["id"] }]');
  }
  const seen = new Map<string, string>();
  const curated = new Map<string, string>();
  const tombs = new Map<string, string>();
  const specs = tables.map((t, i) => {
    const at = `tables[${i}]`;
    const parts = (t.name ?? '').split('.');
    if (parts.length !== 2 || !parts.every((p) => NAME_PART.test(p))) {
      throw propError(NAME, `${at}.name`, `"${t.name}" is not "schema.table"`,
        'write the schema and the table separated by one dot, e.g. "public.orders", with "*" as a wildcard ("sales.*")');
    }
    const [schema, table] = parts;
    const wildcard = t.name.includes('*');
    if (seen.has(t.name)) throw propError(NAME, `${at}.name`, `"${t.name}" is declared twice`, 'declare each table once');
    seen.set(t.name, at);

    if (!t.primaryKey || t.primaryKey.length === 0) {
      throw propError(NAME, `${at}.primaryKey`, `table "${t.name}" has no primary key`,
        'give the columns that identify a row (e.g. ["id"]): the merge keeps the last change per key. A table without a key cannot be merged; add one at the source');
    }
    t.primaryKey.forEach((c, j) => {
      if (!COLUMN.test(c)) {
        throw propError(NAME, `${at}.primaryKey[${j}]`, `"${c}" is not a column name`, 'give the column name as in the source, e.g. "id"');
      }
    });
    if (new Set(t.primaryKey.map((c) => c.toLowerCase())).size !== t.primaryKey.length) {
      throw propError(NAME, `${at}.primaryKey`, 'a column is listed twice', 'list each key column once');
    }

    const mode = t.mode ?? CdcTableMode.CDC;
    if (mode === CdcTableMode.PULL) {
      if (wildcard) {
        throw propError(NAME, `${at}.name`, `"${t.name}" is a pattern; a pull reads one table`, 'declare each pulled table by its full name');
      }
      if (!t.watermarkColumn || !COLUMN.test(t.watermarkColumn)) {
        throw propError(NAME, `${at}.watermarkColumn`, `pulled table "${t.name}" has no valid watermark column ("${t.watermarkColumn ?? ''}")`,
          'name the column that moves forward whenever a row changes, e.g. "updated_at"');
      }
    } else {
      if (t.watermarkColumn !== undefined) {
        throw propError(NAME, `${at}.watermarkColumn`, 'a watermark column only applies to CdcTableMode.PULL', 'remove it, or set mode: CdcTableMode.PULL');
      }
      if (t.pullSchedule !== undefined) {
        throw propError(NAME, `${at}.pullSchedule`, 'a pull schedule only applies to CdcTableMode.PULL', 'remove it, or set mode: CdcTableMode.PULL');
      }
    }

    const expectedInterval = t.expectedInterval ?? Duration.days(1);
    validateFreshnessInterval(NAME, `${at}.expectedInterval`, expectedInterval);

    let curatedTable: string | undefined;
    if (!wildcard) {
      curatedTable = curatedTableName(tablePrefix, schema, table);
      validateGlueName(NAME, `${at}.name`, curatedTable);
      const other = curated.get(curatedTable);
      if (other) {
        throw propError(NAME, `${at}.name`, `"${t.name}" and ${other} both become curated table "${curatedTable}"`, 'rename one table at the source or bring it in with another CdcIngestion');
      }
      const tombstones = curatedTableName(tablePrefix, schema, table) + TOMBSTONE_SUFFIX;
      const clash = curated.get(tombstones) ?? tombs.get(curatedTable);
      if (clash) {
        throw propError(NAME, `${at}.name`, `"${t.name}" and ${clash}: the merge job keeps a curated table's deleted keys in "<curated table>${TOMBSTONE_SUFFIX}", `
          + `so "${curatedTable}" and "${tombstones}" cannot be two tables' curated tables`, 'rename one table at the source or bring it in with another CdcIngestion');
      }
      curated.set(curatedTable, `${at} ("${t.name}")`);
      tombs.set(tombstones, `${at} ("${t.name}")`);
    }
    return {
      name: t.name,
      schema,
      table,
      primaryKey: [...t.primaryKey],
      mode,
      watermarkColumn: t.watermarkColumn,
      wildcard,
      pullSchedule: t.pullSchedule,
      expectedInterval,
      curatedTable,
    };
  });
  checkPatternOverlaps(specs);
  return specs;
}

/**
 * Suffix of the hidden Iceberg table in which the merge job keeps the deleted keys of a curated
 * table (`TOMBSTONE_SUFFIX` in `glue/cdc_merge.py`).
 */
export const TOMBSTONE_SUFFIX = '__cdc_tombstones';

/** `*` of a declared pattern as the job matches it (`fnmatchcase`: case-sensitive, any characters). */
function patternRegExp(pattern: string): RegExp {
  return new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
}

/**
 * A table declared by name that a pattern of another entry also matches would be merged twice
 * into one curated table (two specs, possibly two keys): refused here. Two patterns that may
 * match one table, or tables whose names differ only in case or punctuation found by a pattern,
 * are only known when the job lists the raw zone: the job refuses those (naming both).
 */
function checkPatternOverlaps(specs: CdcTableSpec[]): void {
  specs.forEach((p, i) => {
    if (!p.wildcard) return;
    const schema = patternRegExp(p.schema);
    const table = patternRegExp(p.table);
    specs.forEach((s, j) => {
      if (s.wildcard || !schema.test(s.schema) || !table.test(s.table)) return;
      throw propError(NAME, `tables[${j}].name`, `"${s.name}" is also matched by the pattern "${p.name}" of tables[${i}], so both would merge `
        + `source table ${s.name} into curated table "${s.curatedTable}"`, `declare each source table once: remove tables[${j}], or narrow the pattern "${p.name}" so it does not match "${s.name}"`);
    });
  });
}

/** The job's view of a table spec (`--tables`). */
export function jobTableEntry(spec: CdcTableSpec): Record<string, unknown> {
  return {
    name: spec.name,
    schema: spec.schema,
    table: spec.table,
    primaryKey: spec.primaryKey,
    mode: spec.mode,
    ...(spec.watermarkColumn ? { watermarkColumn: spec.watermarkColumn } : {}),
    // Pulled on its own schedule (`--only_table`); a run for all tables leaves it out.
    ...(spec.pullSchedule ? { ownSchedule: true } : {}),
  };
}

/** DMS table mappings: one selection rule per CDC table, and the change-sequence column. */
export function dmsTableMappings(specs: CdcTableSpec[]): Record<string, unknown> {
  const rules: Record<string, unknown>[] = [];
  let id = 1;
  for (const spec of specs.filter((s) => s.mode === CdcTableMode.CDC)) {
    rules.push({
      'rule-type': 'selection',
      'rule-id': String(id),
      'rule-name': `include-${id}`,
      'object-locator': { 'schema-name': spec.schema.replace(/\*/g, '%'), 'table-name': spec.table.replace(/\*/g, '%') },
      'rule-action': 'include',
    });
    id++;
  }
  // $AR_H_CHANGE_SEQ is unique and increasing per change across the task: it orders several
  // changes to one key that share a commit timestamp, which the timestamp alone cannot.
  rules.push({
    'rule-type': 'transformation',
    'rule-id': String(id),
    'rule-name': 'add-change-sequence',
    'rule-target': 'column',
    'object-locator': { 'schema-name': '%', 'table-name': '%' },
    'rule-action': 'add-column',
    'value': CHANGE_SEQ_COLUMN,
    'expression': '$AR_H_CHANGE_SEQ',
    'data-type': { type: 'string', length: 50 },
  });
  return { rules };
}

/** Columns DMS adds to every change row besides `Op` (the merge job reads them by these names). */
export const COMMIT_TS_COLUMN = '_dms_commit_ts';
export const CHANGE_SEQ_COLUMN = '_dms_change_seq';
