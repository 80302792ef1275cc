import { existsSync, readFileSync, writeFileSync } from 'fs';
import * as path from 'path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { NagSuppressions } from 'cdk-nag';
import { nagFindings } from './nag';
import { LakehouseTier, SpeedView, StreamingDedupIngestion, StreamingDedupIngestionProps } from '../src';
import { scheduleGapSeconds } from '../src/ingestion/streaming/speed-view';

/**
 * The speed view (issue 18): its Glue tables, the Presto view JSON Athena reads, the raw living time,
 * the errors. The view's SQL itself is checked by test/python/streaming/test_speed_view.py (parsed with a
 * Trino parser against these tables, and executed in Spark over tables the real merge wrote) through the
 * fixture this file keeps in sync (FIXTURE; UPDATE_SPEED_VIEW_FIXTURE=1 rewrites it).
 */
const FIXTURE = path.join(__dirname, 'python', 'streaming', 'speed_view_fixture.json');

function build(props: Partial<StreamingDedupIngestionProps> = {}, lakeProps: Record<string, unknown> = {}) {
  const stack = new Stack(new App(), 'Speed');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake', ...lakeProps });
  const construct = new StreamingDedupIngestion(stack, 'Events', { lake, ...props });
  return { stack, lake, construct, template: Template.fromStack(stack) };
}

type GlueTable = { Properties: { DatabaseName: unknown; TableInput: Record<string, any> } };

function tableNamed(template: Template, name: string): GlueTable {
  const found = Object.values(template.findResources('AWS::Glue::Table')).filter((t: any) => t.Properties.TableInput.Name === name);
  expect(found).toHaveLength(1);
  return found[0] as GlueTable;
}

/** The view definition Athena decodes from ViewOriginalText. */
function decodeView(view: GlueTable): any {
  const text = view.Properties.TableInput.ViewOriginalText as string;
  const match = /^\/\* Presto View: ([A-Za-z0-9+/=]+) \*\/$/.exec(text);
  expect(match).not.toBeNull();
  return JSON.parse(Buffer.from(match![1], 'base64').toString('utf8'));
}

describe('the speed view of a default dataset', () => {
  const { template, construct } = build();
  const view = tableNamed(template, 'events_live');
  const lines = tableNamed(template, 'events_lines');
  const raw = tableNamed(template, 'events');

  test('a Glue VIRTUAL_VIEW in the curated database, marked as a Presto view', () => {
    expect(view.Properties.DatabaseName).toBe('lake_curated');
    expect(view.Properties.TableInput).toMatchObject({
      TableType: 'VIRTUAL_VIEW',
      Parameters: { presto_view: 'true', comment: 'Presto View' },
      ViewExpandedText: '/* Presto View */',
    });
    expect(construct.speedView).toBeDefined();
    expect(construct.speedView!.viewName).toBe('events_live');
    expect(view.Properties.TableInput.Description).toBe(
      'Events of events: the curated rows and the raw events of the last 2 event days the merge has not written yet, each event id once');
  });

  test('the view JSON: originalSql, catalog awsdatacatalog, schema, Presto column types matching the Glue columns', () => {
    const definition = decodeView(view);
    expect(Object.keys(definition).sort()).toEqual(['catalog', 'columns', 'originalSql', 'runAsInvoker', 'schema']);
    expect(definition.catalog).toBe('awsdatacatalog');
    expect(definition.schema).toBe('lake_curated');
    expect(definition.runAsInvoker).toBe(false);
    expect(definition.originalSql).toBe(construct.speedView!.viewSql);
    expect(definition.columns).toEqual(SpeedView.COLUMNS.map((c) => ({ name: c.name, type: c.prestoType })));
    expect(view.Properties.TableInput.StorageDescriptor.Columns).toEqual(SpeedView.COLUMNS.map((c) => ({ Name: c.name, Type: c.hiveType })));
  });

  test('the lines table: the raw table\'s location, partition keys and projection, one string column, text SerDe', () => {
    expect(lines.Properties.DatabaseName).toBe('lake_raw');
    const li = lines.Properties.TableInput;
    const ri = raw.Properties.TableInput;
    expect(li.PartitionKeys).toEqual(ri.PartitionKeys);
    expect(li.StorageDescriptor.Location).toEqual(ri.StorageDescriptor.Location);
    expect(li.StorageDescriptor.Columns).toEqual([{ Name: 'line', Type: 'string', Comment: 'One JSON line as delivered' }]);
    expect(li.StorageDescriptor.SerdeInfo).toEqual({
      SerializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe', Parameters: { 'field.delim': '\u0001' },
    });
    const projection = (params: Record<string, unknown>) => Object.fromEntries(Object.entries(params).filter(([k]) => k.startsWith('projection.') || k === 'storage.location.template'));
    expect(projection(li.Parameters)).toEqual(projection(ri.Parameters));
    expect(li.Parameters['projection.enabled']).toBe('true');
  });

  test('the view SQL reads raw through the lines table, bounded by the year/month/day partitions of the last 2 days', () => {
    const sql = construct.speedView!.viewSql;
    expect(sql).toContain('FROM "awsdatacatalog"."lake_raw"."events_lines"');
    expect(sql).toContain('FROM "awsdatacatalog"."lake_curated"."events"');
    expect(sql).toContain("WHERE year >= CAST(year(current_date - INTERVAL '1' DAY) AS varchar)");
    expect(sql).toContain("CAST(concat(year, '-', month, '-', day) AS date) >= current_date - INTERVAL '1' DAY");
    expect(sql).toContain("INTERVAL '86400' SECOND");
  });

  test('no lifecycle rule on the raw prefix unless rawRetention is given', () => {
    const rules = JSON.stringify(template.findResources('AWS::S3::Bucket'));
    expect(rules).not.toContain('raw-retention-');
  });

  test('the fixture the Python tests read is this template\'s (UPDATE_SPEED_VIEW_FIXTURE=1 rewrites it)', () => {
    const fixture = {
      generatedBy: 'test/streaming-speed-view.test.ts',
      view: { database: view.Properties.DatabaseName, name: view.Properties.TableInput.Name, definition: decodeView(view) },
      tables: [
        ['lake_raw', lines.Properties.TableInput],
        ['lake_curated', { Name: 'events', StorageDescriptor: { Columns: curatedColumns(template) } }],
      ].map(([database, input]: any) => ({
        database,
        name: input.Name,
        columns: [...input.StorageDescriptor.Columns, ...(input.PartitionKeys ?? [])].map((c: any) => ({ name: c.Name, type: c.Type })),
      })),
    };
    const text = JSON.stringify(fixture, null, 2) + '\n';
    if (process.env.UPDATE_SPEED_VIEW_FIXTURE) writeFileSync(FIXTURE, text);
    expect(existsSync(FIXTURE)).toBe(true);
    expect(readFileSync(FIXTURE, 'utf8')).toBe(text);
  });
});

/** The curated table's columns as the template declares them: the Glue CreateTable call of its custom resource. */
function curatedColumns(template: Template): { Name: string; Type: string }[] {
  const resource = Object.values(template.findResources('Custom::LakeIcebergTable'))[0] as any;
  const parts = resource.Properties.Create['Fn::Join'][1] as unknown[];
  const call = JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'TOKEN')).join(''));
  return call.parameters.TableInput.StorageDescriptor.Columns;
}

describe('speed view props', () => {
  test('speedViewName and speedViewLookback reach the view', () => {
    const { template, construct } = build({ speedViewName: 'events_now', speedViewLookback: Duration.days(7) });
    const definition = decodeView(tableNamed(template, 'events_now'));
    expect(definition.originalSql).toContain("current_date - INTERVAL '6' DAY");
    expect(construct.speedView!.lookbackDays).toBe(7);
  });

  test('nested event fields are read with JSON paths', () => {
    const { construct } = build({ eventFields: { id: 'meta.id', time: 'meta.at' }, rawColumns: [{ name: 'meta', type: 'struct<id:string,at:string>' }] });
    expect(construct.speedView!.viewSql).toContain("json_extract_scalar(line, '$.meta.id') AS event_id");
    expect(construct.speedView!.viewSql).toContain("from_iso8601_timestamp(json_extract_scalar(line, '$.meta.at'))");
  });

  test('the dedup window bounds the curated side of the anti-join', () => {
    const { construct } = build({ dedupWindow: Duration.hours(2) });
    expect(construct.speedView!.viewSql).toContain("INTERVAL '7200' SECOND");
  });

  test('speedView: false creates neither the view nor the lines table', () => {
    const { template, construct } = build({ speedView: false });
    expect(construct.speedView).toBeUndefined();
    const names = Object.values(template.findResources('AWS::Glue::Table')).map((t: any) => t.Properties.TableInput.Name);
    expect(names).not.toContain('events_live');
    expect(names).not.toContain('events_lines');
  });

  test.each([
    [{ speedView: false, speedViewName: 'x_live' }, /speedViewName.*speedView" is false/],
    [{ speedView: false, speedViewLookback: Duration.days(3) }, /speedViewLookback.*speedView" is false/],
    [{ speedViewLookback: Duration.hours(36) }, /lookback.*not a whole number of days from 1 to 31/],
    [{ speedViewLookback: Duration.days(32) }, /lookback.*from 1 to 31/],
    [{ speedViewName: 'Bad-Name' }, /viewName/],
    [{ speedViewName: 'events' }, /viewName.*curated table's own name/],
  ])('%o is refused naming the prop', (props, message) => {
    expect(() => build(props as Partial<StreamingDedupIngestionProps>)).toThrow(message);
  });
});

describe('raw living time', () => {
  test('rawRetention: a lifecycle rule on the dataset prefix, expiration and noncurrent versions', () => {
    const { template } = build({ rawRetention: Duration.days(3) });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([{
          Id: 'raw-retention-events', Prefix: 'events/', Status: 'Enabled', ExpirationInDays: 3, NoncurrentVersionExpiration: { NoncurrentDays: 1 },
        }]),
      },
    });
    // The rule is on the raw bucket only, and the zone's own rule stays.
    const buckets = Object.entries(template.findResources('AWS::S3::Bucket'))
      .filter(([, b]: any) => JSON.stringify(b).includes('raw-retention-events'));
    expect(buckets.map(([id]) => id)).toEqual([expect.stringMatching(/^LakeRawBucket/)]);
    expect(JSON.stringify(buckets[0][1])).toContain('raw-zone-lifecycle');
  });

  test('rawRetention must exceed the merge gap + overlap + dedup window (default: 1 h + 30 min + 24 h)', () => {
    expect(() => build({ rawRetention: Duration.days(1) })).toThrow(/rawRetention.*1 days do not exceed.*25\.5 h.*Duration\.days\(2\)/s);
    expect(() => build({ rawRetention: Duration.days(2) })).not.toThrow();
    expect(() => build({ rawRetention: Duration.days(2), mergeSchedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '3' }) }))
      .toThrow(/rawRetention.*24 h.*48\.5 h/s);
    expect(() => build({ rawRetention: Duration.days(3), mergeSchedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '3' }) })).not.toThrow();
    expect(() => build({ rawRetention: Duration.days(8), mergeSchedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '3', weekDay: 'MON' }) }))
      .toThrow(/rawRetention.*168 h.*192\.5 h/s);
    expect(() => build({ rawRetention: Duration.days(9), mergeSchedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '3', weekDay: 'MON' }) })).not.toThrow();
  });

  test('rawRetention in hours, or with a one-time merge schedule, is refused', () => {
    expect(() => build({ rawRetention: Duration.hours(50) })).toThrow(/rawRetention.*whole number of days/);
    expect(() => build({ rawRetention: Duration.days(5), mergeSchedule: scheduler.ScheduleExpression.at(new Date(Date.UTC(2027, 0, 1))) }))
      .toThrow(/rawRetention.*runs once/);
  });

  test('an imported raw bucket: rawRetention is refused, naming the rule its owner must add', () => {
    const stack = new Stack(new App(), 'Imported');
    const bucket = s3.Bucket.fromBucketName(stack, 'RawBucket', 'their-raw-bucket');
    const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake', raw: { existingBucket: bucket } });
    expect(() => new StreamingDedupIngestion(stack, 'Events', { lake, rawRetention: Duration.days(4) }))
      .toThrow(/rawRetention.*imported.*prefix "events\/", expiration 4 days/s);
  });

  test('scheduleGapSeconds: exact for rates, an upper bound for crons, undefined for at()', () => {
    expect(scheduleGapSeconds('rate(15 minutes)')).toBe(900);
    expect(scheduleGapSeconds('rate(1 day)')).toBe(86400);
    expect(scheduleGapSeconds('cron(15 * * * ? *)')).toBe(3600);
    expect(scheduleGapSeconds('cron(0 2 * * ? *)')).toBe(86400);
    expect(scheduleGapSeconds('cron(0 2 ? * MON *)')).toBe(7 * 86400);
    expect(scheduleGapSeconds('cron(0 2 1 * ? *)')).toBe(31 * 86400);
    expect(scheduleGapSeconds('cron(0 2 1 JAN ? *)')).toBe(366 * 86400);
    expect(scheduleGapSeconds('at(2027-01-01T00:00:00)')).toBeUndefined();
  });
});

describe('grants and cdk-nag', () => {
  test('grantRead: Glue reads of the view and the lines table, and the raw and curated reads', () => {
    const stack = new Stack(new App(), 'Grants');
    const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
    const events = new StreamingDedupIngestion(stack, 'Other', { lake, datasetName: 'other' });
    const analyst = new iam.Role(stack, 'Analyst', { assumedBy: new iam.AccountRootPrincipal() });
    events.speedView!.grantRead(analyst);
    const policy = JSON.stringify(Template.fromStack(stack).findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^Analyst') }] } }));
    for (const piece of ['table/lake_raw/other_lines', 'table/lake_curated/other_live', 'table/lake_raw/other', 'table/lake_curated/other', 's3:GetObject', 'kms:Decrypt']) {
      expect(policy).toContain(piece);
    }
  });

  test('defaults with the speed view and a raw living time: no cdk-nag error or warning left', () => {
    const stack = new Stack(new App(), 'NagSpeed');
    const lake = new LakehouseTier(stack, 'Lake');
    const events = new StreamingDedupIngestion(stack, 'Events', { lake, rawRetention: Duration.days(3) });
    const analyst = new iam.Role(stack, 'Analyst', { assumedBy: new iam.AccountRootPrincipal() });
    events.speedView!.grantRead(analyst);
    NagSuppressions.addResourceSuppressions(analyst, [
      { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: 'The user\'s own role (fixture): how its policies are managed is its owner\'s choice.' },
      { id: 'AwsSolutions-IAM5', reason: 'Fixture role: the table grants name prefixes of the raw and curated zones (the grants\' own tests pin them).' },
    ], true);
    const findings = nagFindings(stack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});
