/**
 * Quality rules (issue 17, construct side): the rule factories and their validation (errors name
 * the prop and the fix, generative where the input varies), the JSON document the merge job reads
 * (checked against the contract's schema and round-tripped), MergeJob's audit arguments, Deequ
 * jar, results prefix, metrics and alarm, the access the job needs (evaluated with iam-simulate
 * over identity AND resource policies), and cdk-nag.
 */
import * as fs from 'fs';
import * as path from 'path';
import { allowedContextKeysForRequest } from '@cloud-copilot/iam-simulate';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as fc from 'fast-check';
import { ENV, expectEdge, StackPolicies, UNRELATED_ROLE, viaS3, Edge } from './aws-rules/iam-harness';
import { acknowledgeUserFixtures, nagFindings } from './nag';
import {
  LakehouseTier, MergeJob, MergeJobProps, QUALITY_RULES_INLINE_MAX_BYTES, QualityRule, RuleSeverity, TableQualityRules,
} from '../src';
import { renderQualityRules } from '../src/core/quality-rules-render';

const SCRIPT = path.join(__dirname, '..', 'src', 'ingestion', 'streaming', 'glue', 'streaming_merge.py');

function build(props: Partial<MergeJobProps> = {}, env = true) {
  const stack = new Stack(new App(), 'Quality', env ? { env: ENV } : undefined);
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  const merge = new MergeJob(stack, 'Orders', { lake, pipelineName: 'orders', scriptPath: SCRIPT, ...props });
  const template = Template.fromStack(stack);
  const job = Object.values(template.findResources('AWS::Glue::Job'))[0].Properties;
  return { stack, lake, merge, template, job };
}

const render = (rules: QualityRule[], table = 'orders') => renderQualityRules('Test', [{ table, prop: 'qualityRules', rules }]);
const renderOne = (rule: QualityRule) => render([rule]).tables.orders[0];

/**
 * The contract's schema (shared with the Glue side): version 1, tables → rules, each rule exactly
 * the fields of its kind with their types. Returns the problems found (empty = valid).
 */
function contractProblems(doc: any): string[] {
  const problems: string[] = [];
  const fields: Record<string, Record<string, (v: any) => boolean>> = {
    IsComplete: { column: isName },
    IsUnique: { columns: (v) => Array.isArray(v) && v.length > 0 && v.every(isName) },
    ColumnValues: { column: isName, min: Number.isFinite, max: Number.isFinite },
    ColumnValuesIn: { column: isName, values: (v) => Array.isArray(v) && v.length > 0 && v.every((x: unknown) => typeof x === 'string') },
    RowCountChange: { maxDecreasePercent: (v) => Number.isFinite(v) && v >= 0 && v <= 100, maxIncreasePercent: (v) => Number.isFinite(v) && v >= 0 },
    Freshness: { column: isName, maxAgeSeconds: (v) => Number.isInteger(v) && v >= 1 },
    CustomSql: { name: (v) => /^[a-z][a-z0-9_]{0,63}$/.test(v), sql: (v) => typeof v === 'string' && v.includes('{table}'), expect: (v) => v === 'zero_rows' },
  };
  const required: Record<string, string[]> = {
    IsComplete: ['column'],
    IsUnique: ['columns'],
    ColumnValues: ['column'],
    ColumnValuesIn: ['column', 'values'],
    RowCountChange: [],
    Freshness: ['column', 'maxAgeSeconds'],
    CustomSql: ['name', 'sql', 'expect'],
  };
  if (doc.version !== 1) problems.push('version');
  if (Object.keys(doc).sort().join() !== 'tables,version') problems.push('top-level keys');
  for (const [table, rules] of Object.entries<any[]>(doc.tables ?? {})) {
    if (!/^[a-z][a-z0-9_]*$/.test(table)) problems.push(`table ${table}`);
    rules.forEach((r, i) => {
      const kind = fields[r.rule];
      if (!kind) {
        problems.push(`${table}[${i}] kind ${r.rule}`);
        return;
      }
      if (r.severity !== 'block' && r.severity !== 'warn') problems.push(`${table}[${i}] severity`);
      for (const [k, v] of Object.entries(r)) {
        if (k === 'rule' || k === 'severity') continue;
        if (!kind[k]) problems.push(`${table}[${i}] unknown field ${k}`);
        else if (!kind[k](v)) problems.push(`${table}[${i}] bad ${k}`);
      }
      for (const k of required[r.rule]) if (!(k in r)) problems.push(`${table}[${i}] missing ${k}`);
      if (r.rule === 'ColumnValues' && !('min' in r) && !('max' in r)) problems.push(`${table}[${i}] no bound`);
      if (r.rule === 'ColumnValues' && 'min' in r && 'max' in r && r.min > r.max) problems.push(`${table}[${i}] min > max`);
      if (r.rule === 'RowCountChange' && !('maxDecreasePercent' in r) && !('maxIncreasePercent' in r)) problems.push(`${table}[${i}] no limit`);
    });
  }
  return problems;
}
function isName(v: unknown): boolean {
  return typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_$]*$/.test(v);
}

describe('rules render to the contract, severity BLOCK by default', () => {
  test.each<[string, QualityRule, object]>([
    ['isComplete', QualityRule.isComplete('order_id'), { rule: 'IsComplete', column: 'order_id', severity: 'block' }],
    ['isUnique', QualityRule.isUnique(['tenant', 'order_id']), { rule: 'IsUnique', columns: ['tenant', 'order_id'], severity: 'block' }],
    ['columnValues min', QualityRule.columnValues('amount', { min: 0 }), { rule: 'ColumnValues', column: 'amount', min: 0, severity: 'block' }],
    ['columnValues both', QualityRule.columnValues('pct', { min: -1.5, max: 1.5 }), { rule: 'ColumnValues', column: 'pct', min: -1.5, max: 1.5, severity: 'block' }],
    ['columnValuesIn', QualityRule.columnValuesIn('status', ['open', 'paid']), { rule: 'ColumnValuesIn', column: 'status', values: ['open', 'paid'], severity: 'block' }],
    ['rowCountChange', QualityRule.rowCountChange({ maxDecreasePercent: 10 }), { rule: 'RowCountChange', maxDecreasePercent: 10, severity: 'block' }],
    ['rowCountChange both', QualityRule.rowCountChange({ maxDecreasePercent: 0, maxIncreasePercent: 300 }),
      { rule: 'RowCountChange', maxDecreasePercent: 0, maxIncreasePercent: 300, severity: 'block' }],
    ['freshness', QualityRule.freshness('updated_at', Duration.hours(6)), { rule: 'Freshness', column: 'updated_at', maxAgeSeconds: 21_600, severity: 'block' }],
    ['customSql', QualityRule.customSql('no_negative', 'SELECT * FROM {table} WHERE amount < 0;'),
      { rule: 'CustomSql', name: 'no_negative', sql: 'SELECT * FROM {table} WHERE amount < 0', expect: 'zero_rows', severity: 'block' }],
    ['warn', QualityRule.isComplete('note', { severity: RuleSeverity.WARN }), { rule: 'IsComplete', column: 'note', severity: 'warn' }],
  ])('%s', (_, rule, expected) => {
    expect(renderOne(rule)).toEqual(expected);
    expect(rule.severity).toBe((expected as any).severity);
  });

  test('the document: version 1, tables by curated name, rules in order; tables without rules left out', () => {
    const doc = renderQualityRules('Test', [
      { table: 'orders', prop: 'a', rules: [QualityRule.isComplete('id'), QualityRule.isUnique(['id'])] },
      { table: 'empty', prop: 'b', rules: [] },
    ]);
    expect(doc).toEqual({ version: 1, tables: { orders: [{ rule: 'IsComplete', column: 'id', severity: 'block' }, { rule: 'IsUnique', columns: ['id'], severity: 'block' }] } });
  });
});

describe('validation names the prop and the fix', () => {
  test.each<[string, () => QualityRule, RegExp]>([
    ['empty column', () => QualityRule.isComplete(''), /"qualityRules\[0\]\.column": "" is not a column name.*Fix: give the column/],
    ['column with a space', () => QualityRule.isComplete('order id'), /"qualityRules\[0\]\.column"/],
    ['no unique column', () => QualityRule.isUnique([]), /"qualityRules\[0\]\.columns": no column is given/],
    ['unique column twice', () => QualityRule.isUnique(['id', 'ID']), /"qualityRules\[0\]\.columns": a column is listed twice/],
    ['bad unique column', () => QualityRule.isUnique(['id', '1x']), /"qualityRules\[0\]\.columns\[1\]"/],
    ['no bound', () => QualityRule.columnValues('amount', {}), /"qualityRules\[0\]": neither min nor max is given/],
    ['min > max', () => QualityRule.columnValues('amount', { min: 5, max: 1 }), /"qualityRules\[0\]\.min": min 5 is greater than max 1.*Fix: give min <= max/],
    ['NaN bound', () => QualityRule.columnValues('amount', { max: NaN }), /"qualityRules\[0\]\.max": NaN is not a finite number/],
    ['no values', () => QualityRule.columnValuesIn('status', []), /"qualityRules\[0\]\.values": no value is given/],
    ['value twice', () => QualityRule.columnValuesIn('status', ['a', 'a']), /"qualityRules\[0\]\.values": a value is listed twice/],
    ['no limit', () => QualityRule.rowCountChange({}), /"qualityRules\[0\]": neither maxDecreasePercent nor maxIncreasePercent/],
    ['decrease over 100', () => QualityRule.rowCountChange({ maxDecreasePercent: 101 }), /"qualityRules\[0\]\.maxDecreasePercent": 101 is not a percentage from 0 to 100/],
    ['negative increase', () => QualityRule.rowCountChange({ maxIncreasePercent: -1 }), /"qualityRules\[0\]\.maxIncreasePercent": -1 is not a percentage of 0 or more/],
    ['sub-second age', () => QualityRule.freshness('t', Duration.millis(1500)), /"qualityRules\[0\]\.maxAge": .* is not a whole number of seconds/],
    ['zero age', () => QualityRule.freshness('t', Duration.seconds(0)), /"qualityRules\[0\]\.maxAge"/],
    ['bad rule name', () => QualityRule.customSql('No Spaces', 'SELECT * FROM {table}'), /"qualityRules\[0\]\.name": "No Spaces" is not a rule name/],
    ['sql without {table}', () => QualityRule.customSql('x', 'SELECT * FROM orders'), /"qualityRules\[0\]\.sql": the query does not read \{table\}.*Fix: read the audited table as \{table\}/],
    ['empty sql', () => QualityRule.customSql('x', '  '), /"qualityRules\[0\]\.sql": it is empty/],
    ['two statements', () => QualityRule.customSql('x', 'SELECT 1 FROM {table}; DROP TABLE {table}'), /"qualityRules\[0\]\.sql": it holds more than one statement/],
  ])('%s', (_, rule, message) => {
    expect(() => renderOne(rule())).toThrow(message);
  });

  test('a table declared twice, and a custom rule name used twice in one table', () => {
    expect(() => renderQualityRules('Test', [
      { table: 'orders', prop: 'endpoints[0].qualityRules', rules: [QualityRule.isComplete('id')] },
      { table: 'orders', prop: 'endpoints[1].qualityRules', rules: [QualityRule.isComplete('id')] },
    ])).toThrow(/"endpoints\[1\]\.qualityRules": curated table "orders" already has rules from endpoints\[0\]\.qualityRules/);
    expect(() => render([QualityRule.customSql('x', 'SELECT * FROM {table}'), QualityRule.customSql('x', 'SELECT 1 FROM {table}')]))
      .toThrow(/"qualityRules\[1\]\.name": another custom SQL rule of "orders" is named "x"/);
  });

  test('columnValues: accepted exactly when min <= max (generative)', () => {
    const bound = fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }));
    fc.assert(fc.property(bound, bound, (min, max) => {
      const rule = QualityRule.columnValues('c', { min: min ?? undefined, max: max ?? undefined });
      const valid = (min !== null || max !== null) && (min === null || max === null || min <= max);
      if (valid) expect(contractProblems(render([rule]))).toEqual([]);
      else expect(() => render([rule])).toThrow(/qualityRules\[0\]/);
    }), { seed: 17, numRuns: 200 });
  });

  test('rowCountChange: accepted exactly when the decrease is 0-100 and the increase 0 or more (generative)', () => {
    const pct = fc.option(fc.double({ min: -50, max: 500, noNaN: true }));
    fc.assert(fc.property(pct, pct, (dec, inc) => {
      const rule = QualityRule.rowCountChange({ maxDecreasePercent: dec ?? undefined, maxIncreasePercent: inc ?? undefined });
      const valid = (dec !== null || inc !== null) && (dec === null || (dec >= 0 && dec <= 100)) && (inc === null || inc >= 0);
      if (valid) expect(render([rule]).tables.orders[0]).toMatchObject({ rule: 'RowCountChange' });
      else expect(() => render([rule])).toThrow(/"qualityRules\[0\](\.maxDecreasePercent|\.maxIncreasePercent)?"/);
    }), { seed: 17, numRuns: 200 });
  });
});

/** Any valid rule, with the JSON it must render to. */
const column = fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/);
const severity = fc.constantFrom(RuleSeverity.BLOCK, RuleSeverity.WARN);
type Case = [QualityRule, object];
const validRule: fc.Arbitrary<Case> = fc.oneof<fc.Arbitrary<Case>[]>(
  fc.tuple(column, severity).map(([c, s]): Case => [QualityRule.isComplete(c, { severity: s }), { rule: 'IsComplete', column: c, severity: s }]),
  fc.tuple(fc.uniqueArray(column, { minLength: 1, maxLength: 4, selector: (c) => c.toLowerCase() }), severity)
    .map(([cs, s]): Case => [QualityRule.isUnique(cs, { severity: s }), { rule: 'IsUnique', columns: cs, severity: s }]),
  fc.tuple(column, fc.integer({ min: -1000, max: 1000 }), fc.nat(1000), severity)
    .map(([c, min, span, s]): Case => [QualityRule.columnValues(c, { min, max: min + span }, { severity: s }), { rule: 'ColumnValues', column: c, min, max: min + span, severity: s }]),
  fc.tuple(column, fc.uniqueArray(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 5 }), severity)
    .map(([c, v, s]): Case => [QualityRule.columnValuesIn(c, v, { severity: s }), { rule: 'ColumnValuesIn', column: c, values: v, severity: s }]),
  fc.tuple(fc.integer({ min: 0, max: 100 }), severity)
    .map(([d, s]): Case => [QualityRule.rowCountChange({ maxDecreasePercent: d }, { severity: s }), { rule: 'RowCountChange', maxDecreasePercent: d, severity: s }]),
  fc.tuple(column, fc.integer({ min: 1, max: 30 * 86400 }), severity)
    .map(([c, secs, s]): Case => [QualityRule.freshness(c, Duration.seconds(secs), { severity: s }), { rule: 'Freshness', column: c, maxAgeSeconds: secs, severity: s }]),
  fc.tuple(column, severity).map(([c, s]): Case => [QualityRule.customSql(`no_null_${c}`.slice(0, 64).replace(/^_*/, 'r'), `SELECT * FROM {table} WHERE "${c}" IS NULL`, { severity: s }), {
    rule: 'CustomSql', name: `no_null_${c}`.slice(0, 64).replace(/^_*/, 'r'), sql: `SELECT * FROM {table} WHERE "${c}" IS NULL`, expect: 'zero_rows', severity: s,
  }]),
);

test('any valid rule set renders a document that matches the contract and round-trips through JSON (generative)', () => {
  fc.assert(fc.property(fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/), fc.array(validRule, { minLength: 1, maxLength: 6 }), { maxKeys: 4 }), (tables) => {
    // Custom rules of one table need distinct names: keep the first of each name.
    const cleaned = Object.entries(tables).map(([table, rules]) => {
      const seen = new Set<string>();
      return [table, rules.filter(([, e]: any) => e.rule !== 'CustomSql' || (!seen.has(e.name) && seen.add(e.name)))] as const;
    });
    const doc = renderQualityRules('Test', cleaned.map(([table, rules]) => ({ table, prop: `t.${table}`, rules: rules.map(([r]) => r) })));
    const parsed = JSON.parse(JSON.stringify(doc));
    expect(contractProblems(parsed)).toEqual([]);
    expect(parsed).toEqual({ version: 1, tables: Object.fromEntries(cleaned.map(([table, rules]) => [table, rules.map(([, e]) => e)])) });
  }), { seed: 17, numRuns: 150 });
});

test('the schema check catches what the Glue side would refuse (it can fail)', () => {
  expect(contractProblems({ version: 2, tables: {} })).toContain('version');
  expect(contractProblems({ version: 1, tables: { t: [{ rule: 'IsComplete', severity: 'block' }] } })).toContain('t[0] missing column');
  expect(contractProblems({ version: 1, tables: { t: [{ rule: 'ColumnValues', column: 'c', min: 2, max: 1, severity: 'warn' }] } })).toContain('t[0] min > max');
  expect(contractProblems({ version: 1, tables: { t: [{ rule: 'Nope', severity: 'block' }] } })).toContain('t[0] kind Nope');
});

describe('MergeJob without rules (default)', () => {
  const { merge, job, template } = build();
  test('only the results path: no rules, no Deequ jar, no audit alarm', () => {
    const args = job.DefaultArguments;
    expect(new StackPolicies(Stack.of(merge)).str(args['--quality_results_path'])).toMatch(/^s3:\/\/.+\/_ops\/quality\/orders\/$/);
    expect(args['--quality_rules']).toBeUndefined();
    expect(args['--quality_rules_path']).toBeUndefined();
    expect(args['--extra-jars']).toBeUndefined();
    expect(merge.deequJar).toBeUndefined();
    expect(merge.auditFailureAlarm).toBeUndefined();
    expect(merge.auditedTables).toEqual([]);
    expect(merge.qualityResultsPrefix).toBe('_ops/quality/orders/');
    template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
  });
  test('quality signals of an unaudited table: the published data age only', () => {
    const q = merge.qualitySignals('orders');
    expect(q.auditsPassed).toBeUndefined();
    expect(q.auditsFailed).toBeUndefined();
    expect(Stack.of(merge).resolve((q.publishedDataAge as any).dimensions)).toEqual({ Pipeline: 'orders', Table: 'orders' });
    expect((q.publishedDataAge as any).metricName).toBe('CommitAgeSeconds');
  });
});

const RULES: TableQualityRules[] = [{ table: 'orders', rules: [QualityRule.isComplete('id'), QualityRule.columnValues('amount', { min: 0 }, { severity: RuleSeverity.WARN })] }];

describe('MergeJob with rules', () => {
  const built = build({ qualityRules: RULES, schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)) });
  const { stack, lake, merge, job, template } = built;
  const p = new StackPolicies(stack);
  const args = job.DefaultArguments;

  test('--quality_rules is the rendered document, inline', () => {
    expect(JSON.parse(args['--quality_rules'])).toEqual({
      version: 1,
      tables: { orders: [{ rule: 'IsComplete', column: 'id', severity: 'block' }, { rule: 'ColumnValues', column: 'amount', min: 0, severity: 'warn' }] },
    });
    expect(args['--quality_rules_path']).toBeUndefined();
    expect(p.str(args['--quality_results_path'])).toBe(`s3://${p.str(lake.raw.bucket.bucketName)}/_ops/quality/orders/`);
    expect(merge.auditedTables).toEqual(['orders']);
  });

  test('the Deequ jar ships with --extra-jars (an asset of the jar file)', () => {
    expect(p.str(args['--extra-jars'])).toMatch(/^s3:\/\/cdk-[a-z0-9]+-assets-.*\/[0-9a-f]{64}\.jar$/);
    expect(p.str(args['--extra-jars'])).toBe(p.str(merge.deequJar!.s3ObjectUrl));
  });

  test('an alarm on AuditsFailed: Sum over 5 minutes above 0, missing data not breaching', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: [{
        Id: 'm1',
        Label: 'Audits failed',
        MetricStat: { Metric: { Namespace: 'CdkLakehouse/Merge', MetricName: 'AuditsFailed', Dimensions: [{ Name: 'Pipeline', Value: 'orders' }] }, Period: 300, Stat: 'Sum' },
        ReturnData: true,
      }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  test.each([
    ['metricAuditsPassed', 'AuditsPassed', 'Audits passed'],
    ['metricAuditsFailed', 'AuditsFailed', 'Audits failed'],
    ['metricRuleFailures', 'RuleFailures', 'Rule failures'],
  ] as const)('%s: CdkLakehouse/Merge %s, Sum over 5 minutes, {Pipeline} or {Pipeline, Table}', (method, name, label) => {
    const all = merge[method]();
    expect(all).toMatchObject({ namespace: 'CdkLakehouse/Merge', metricName: name, statistic: 'Sum', label });
    expect(all.period.toMinutes()).toBe(5);
    expect(all.dimensions).toEqual({ Pipeline: 'orders' });
    const one = merge[method]({ table: 'orders', period: Duration.hours(1) });
    expect(one.dimensions).toEqual({ Pipeline: 'orders', Table: 'orders' });
    expect(one.label).toBe(`${label} (orders)`);
    expect(one.period.toHours()).toBe(1);
  });

  test('quality signals of an audited table: passed, failed and the published data age, per table', () => {
    const q = merge.qualitySignals('orders');
    expect([q.auditsPassed, q.auditsFailed, q.publishedDataAge].map((m: any) => [m.metricName, m.dimensions])).toEqual([
      ['AuditsPassed', { Pipeline: 'orders', Table: 'orders' }],
      ['AuditsFailed', { Pipeline: 'orders', Table: 'orders' }],
      ['CommitAgeSeconds', { Pipeline: 'orders', Table: 'orders' }],
    ]);
  });

  const role = p.str(merge.role.roleArn);
  const raw = p.str(lake.raw.bucket.bucketArn);
  const lakeKey = p.str(lake.encryptionKey.keyArn);
  const objectOf = (url: unknown) => `arn:aws:s3:::${p.str(url).replace(/^s3:\/\//, '')}`;
  const edges: Edge[] = [
    { name: 'the job reads the Deequ jar', who: role, action: 's3:GetObject', resource: objectOf(merge.deequJar!.s3ObjectUrl), expect: 'allow', why: '--extra-jars' },
    { name: 'the job writes audit results', who: role, action: 's3:PutObject', resource: `${raw}/_ops/quality/orders/run=1/orders.json`, expect: 'allow', why: '--quality_results_path' },
    { name: 'the job lists earlier results', who: role, action: 's3:ListBucket', resource: raw, context: { 's3:prefix': '_ops/quality/orders/' }, expect: 'allow', why: 'results of earlier audits' },
    { name: 'S3 encrypts the results with the lake key for the job', who: role, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS raw zone' },
    { name: 'the job writes no other pipeline\'s results', who: role, action: 's3:PutObject', resource: `${raw}/_ops/quality/other/x.json`, expect: 'deny', why: 'prefix of this pipeline only' },
    { name: 'the job writes no other ops data', who: role, action: 's3:PutObject', resource: `${raw}/_ops/cloudtrail/x.json`, expect: 'deny', why: 'prefix of this pipeline only' },
    { name: 'an unrelated role cannot read the results', who: UNRELATED_ROLE, action: 's3:GetObject', resource: `${raw}/_ops/quality/orders/x.json`, expect: 'deny', why: 'nothing granted' },
  ];
  test.each(edges.map((e) => [e.name, e]))('access: %s', async (_, edge) => {
    await expectEdge(p, edge as Edge);
  });
});

describe('a rule set too big for a job argument goes to an S3 asset', () => {
  const many = Array.from({ length: 400 }, (_, i) => QualityRule.customSql(`rule_${i}`, `SELECT * FROM {table} WHERE amount_${i} < 0 OR amount_${i} > 1000000`));
  const { stack, merge, job } = build({ qualityRules: [{ table: 'orders', rules: many }] });
  const p = new StackPolicies(stack);

  test('--quality_rules_path instead of --quality_rules, the job may read it', async () => {
    expect(JSON.stringify(renderQualityRules('Test', [{ table: 'orders', prop: 'x', rules: many }])).length).toBeGreaterThan(QUALITY_RULES_INLINE_MAX_BYTES);
    expect(job.DefaultArguments['--quality_rules']).toBeUndefined();
    expect(p.str(job.DefaultArguments['--quality_rules_path'])).toMatch(/^s3:\/\/cdk-[a-z0-9]+-assets-.*\/[0-9a-f]{64}\.json$/);
    expect(p.str(job.DefaultArguments['--quality_rules_path'])).toBe(p.str(merge.qualityRulesAsset!.s3ObjectUrl));
    await expectEdge(p, {
      name: 'the job reads its rules',
      who: p.str(merge.role.roleArn),
      action: 's3:GetObject',
      resource: `arn:aws:s3:::${p.str(merge.qualityRulesAsset!.s3ObjectUrl).replace(/^s3:\/\//, '')}`,
      expect: 'allow',
      why: '--quality_rules_path',
    });
  });

  test('the asset holds the rendered document (the same JSON the inline argument would carry)', () => {
    // Template.fromStack synthesized the app: the asset is staged in its output directory.
    const staged = path.join((stack.node.root as App).outdir, merge.qualityRulesAsset!.assetPath);
    const doc = JSON.parse(fs.readFileSync(staged, 'utf8'));
    expect(doc.tables.orders).toHaveLength(400);
    expect(contractProblems(doc)).toEqual([]);
  });
});

test('the job\'s own --extra-jars join the Deequ jar', () => {
  const { stack, job } = build({ qualityRules: RULES, arguments: { '--extra-jars': 's3://mine/driver.jar' } });
  expect(new StackPolicies(stack).str(job.DefaultArguments['--extra-jars'])).toMatch(/^s3:\/\/cdk-.*\.jar,s3:\/\/mine\/driver\.jar$/);
});

test('MergeJob names its own prop in errors', () => {
  expect(() => build({ qualityRules: [{ table: 'orders', rules: [QualityRule.isUnique([])] }] })).toThrow(/MergeJob: invalid prop "qualityRules\[0\]\.rules\[0\]\.columns"/);
  expect(() => build({ qualityRules: [{ table: '', rules: [QualityRule.isComplete('id')] }] })).toThrow(/"qualityRules\[0\]\.table": it is empty/);
});

test('rollback and reprocess are runs of the job: no IAM condition key of glue:StartJobRun sees a run\'s arguments', async () => {
  // So IAM cannot grant "rollback only": grantStartRun covers merges, rollbacks and reprocesses.
  // The condition keys IAM evaluates on glue:StartJobRun (AWS's service authorization data): the
  // only Glue-specific ones are about the caller's credentials, none about the run's arguments.
  const keys = await allowedContextKeysForRequest('glue', 'StartJobRun', `arn:aws:glue:${ENV.region}:${ENV.account}:job/orders-merge`, false, undefined);
  expect(keys.filter((k) => k.startsWith('glue:')).sort()).toEqual(['glue:credentialissuingservice', 'glue:roleassumedby']);
  const stack = new Stack(new App(), 'Operations', { env: ENV });
  const merge = new MergeJob(stack, 'Orders', { lake: new LakehouseTier(stack, 'Lake', { lakeName: 'lake' }), pipelineName: 'orders', scriptPath: SCRIPT });
  const operator = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
  merge.grantStartRun(operator);
  const p = new StackPolicies(stack);
  await expectEdge(p, {
    name: 'an operator starts a rollback run',
    who: p.str(operator.roleArn),
    action: 'glue:StartJobRun',
    resource: `arn:aws:glue:${ENV.region}:${ENV.account}:job/${merge.jobName}`,
    expect: 'allow',
    why: 'grantStartRun',
  });
});

describe('cdk-nag', () => {
  test.each([true, false])('a scheduled MergeJob with rules and a grant: no error or warning left (concrete env: %s)', (env) => {
    const stack = new Stack(new App(), 'QualityNag', env ? { env: ENV } : undefined);
    const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
    const merge = new MergeJob(stack, 'Orders', {
      lake, pipelineName: 'orders', scriptPath: SCRIPT, qualityRules: RULES, schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
    });
    lake.curated.grantReadWrite(merge.role, 'orders/');
    const operator = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
    merge.grantStartRun(operator);
    acknowledgeUserFixtures({ grantees: [operator] });
    const findings = nagFindings(stack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});
