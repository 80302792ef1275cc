import { Token } from 'aws-cdk-lib';
import { propError } from '../core/validation';

// Internal checks of AthenaServing props: each throws the library's one error shape naming the
// prop and the fix, at synth time rather than at deployment.

/** Athena's own lower bound of a per-query scan limit (API reference: minimum 10000000). */
export const MIN_BYTES_SCANNED_CUTOFF = 10_000_000;

/** Athena's maximum query string length, in UTF-8 bytes. */
const MAX_SQL_BYTES = 262_144;

/** Athena workgroup names: 1-128 characters of `[a-zA-Z0-9._-]`. */
export function validateWorkGroupName(construct: string, prop: string, name: string): void {
  if (Token.isUnresolved(name)) return;
  if (!/^[a-zA-Z0-9._-]{1,128}$/.test(name)) {
    const suggestion = name.replace(/[^a-zA-Z0-9._-]+/g, '-').slice(0, 128) || 'analysts';
    throw propError(construct, prop, `"${name}" is not a valid Athena workgroup name (1-128 characters of letters, digits, ".", "_" and "-")`,
      `use a name such as "${suggestion}"`);
  }
}

/** Non-empty SQL within Athena's length limit. Returns it without a trailing `;`. */
export function validateSql(construct: string, prop: string, sql: string): string {
  if (Token.isUnresolved(sql)) return sql;
  const trimmed = sql.trim().replace(/;\s*$/, '').trim();
  if (trimmed.length === 0) {
    throw propError(construct, prop, 'the SQL is empty', 'give the statement to run, e.g. "SELECT count(*) FROM orders"');
  }
  const bytes = Buffer.byteLength(trimmed, 'utf8');
  if (bytes > MAX_SQL_BYTES) {
    throw propError(construct, prop, `the SQL is ${bytes} bytes, more than Athena's ${MAX_SQL_BYTES}`,
      'split the statement or move its logic into a view');
  }
  return trimmed;
}

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((.*)\)$/;
const AT = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/;
const CRON_FIELD = /^[0-9A-Za-z*?,/#LW-]+$/;
const CRON_RANGES: [string, number, number][] = [
  ['minutes', 0, 59], ['hours', 0, 23], ['day-of-month', 1, 31], ['month', 1, 12], ['day-of-week', 1, 7], ['year', 1970, 2199],
];

/**
 * The text of an EventBridge Scheduler expression, checked field by field (on top of the core
 * `validateScheduleExpression`): `rate(n unit)`, `cron(...)` with six fields (exactly one of
 * day-of-month and day-of-week is `?`) or `at(yyyy-mm-ddThh:mm:ss)`.
 */
export function validateScheduleText(construct: string, prop: string, expression: string): void {
  if (Token.isUnresolved(expression)) return;
  const fail = (problem: string): never => {
    throw propError(construct, prop, `schedule "${expression}" ${problem}`,
      'use "rate(1 day)", "cron(0 6 * * ? *)" (minutes hours day-of-month month day-of-week year) or "at(2030-01-31T06:00:00)"');
  };
  const rate = RATE.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2];
    if (value < 1) fail('has a rate below 1');
    if (value === 1 && unit.endsWith('s')) fail(`must use the singular unit "${unit.slice(0, -1)}" for a value of 1`);
    if (value > 1 && !unit.endsWith('s')) fail(`must use the plural unit "${unit}s" for a value above 1`);
    return;
  }
  const cron = CRON.exec(expression);
  if (cron) {
    const fields = cron[1].trim().split(/\s+/);
    if (fields.length !== 6) fail(`has ${fields.length} cron fields, not 6`);
    fields.forEach((field, i) => {
      if (!CRON_FIELD.test(field)) fail(`has an invalid ${CRON_RANGES[i][0]} field "${field}"`);
      // Plain numbers (and each number of a list or range) must be in the field's range.
      for (const part of field.split(/[,/-]/)) {
        if (/^\d+$/.test(part) && !field.includes('/' + part)) {
          const n = Number(part);
          if (n < CRON_RANGES[i][1] || n > CRON_RANGES[i][2]) {
            fail(`has ${CRON_RANGES[i][0]} ${n} outside ${CRON_RANGES[i][1]}-${CRON_RANGES[i][2]}`);
          }
        }
      }
    });
    const dom = fields[2] === '?';
    const dow = fields[4] === '?';
    if (dom === dow) fail('must have "?" in exactly one of day-of-month and day-of-week');
    return;
  }
  const at = AT.exec(expression);
  if (at) {
    const [, y, mo, d, h, mi, s] = at.map(Number);
    const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
      fail('is not a real date and time');
    }
    return;
  }
  fail('does not parse');
}

/** A report name: it becomes an S3 folder and a JSONata string literal, so keep it plain. */
export function validateQueryName(construct: string, prop: string, name: string): void {
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(name)) {
    const suggestion = name.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+/, '').slice(0, 64) || 'daily-report';
    throw propError(construct, prop, `"${name}" is not a valid report name (1-64 lowercase letters, digits, "_" and "-", starting with a letter or digit)`,
      `use a name such as "${suggestion}"`);
  }
}

/** A prefix ending in `/`, of characters safe in S3 keys and SQL string literals. */
export function normalizePrefix(construct: string, prop: string, prefix: string): string {
  const value = prefix.replace(/^\/+/, '').replace(/\/*$/, '/');
  if (value === '/' || !/^[a-zA-Z0-9!_.()/=-]+$/.test(value)) {
    throw propError(construct, prop, `"${prefix}" is not a usable S3 prefix (letters, digits and !_.()/=- only, not empty)`,
      'use a prefix such as "results/"');
  }
  return value;
}
