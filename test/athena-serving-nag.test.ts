import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { NagSuppressions } from 'cdk-nag';
import { nagFindings } from './nag';
import { AthenaServing, LakehouseTier, ReportFormat } from '../src';

// Object ARNs under a prefix are the narrowest S3 resource an object grant can have; Glue's
// `table/<database>/*` is what a zone grant means (every table of the zone's database).
const LAKE_AND_RESULTS_OBJECTS = [
  { regex: '/^Resource::<ServingResultsBucket.*\\.Arn>/(results|reports)/\\*$/' },
  { regex: '/^Resource::<ServingResultsBucket.*\\.Arn>/reports/[a-z0-9_-]+/\\*$/' },
  { regex: '/^Resource::<LakeCuratedBucket.*\\.Arn>/\\*$/' },
  { regex: '/^Resource::<LakeCuratedBucket.*\\.Arn>/orders/\\*$/' },
  { regex: '/^Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/nag_curated/\\*$/' },
];

function servingStack(removalPolicy: RemovalPolicy): Stack {
  const stack = new Stack(new App(), 'NagServing');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'nag', removalPolicy });
  const orders = lake.addIcebergTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
  const serving = new AthenaServing(stack, 'Serving', {
    lake,
    workGroupName: 'nag-analysts',
    namedQueries: [{ queryName: 'Orders', sql: 'SELECT * FROM orders LIMIT 10' }],
  });
  serving.addScheduledQuery('Csv', { queryName: 'csv', sql: 'SELECT count(*) FROM orders', schedule: scheduler.ScheduleExpression.expression('rate(1 day)') });
  serving.addScheduledQuery('Parquet', { queryName: 'parquet', sql: 'SELECT * FROM orders', schedule: scheduler.ScheduleExpression.expression('cron(0 6 * * ? *)'), format: ReportFormat.PARQUET });
  serving.addIcebergMaintenance('Maintenance', { table: orders, schedule: scheduler.ScheduleExpression.expression('cron(0 3 ? * SUN *)') });

  const analyst = new iam.Role(stack, 'Analyst', { assumedBy: new iam.AccountRootPrincipal() });
  serving.grantQuery(analyst, { zones: [lake.curated] });
  NagSuppressions.addResourceSuppressions(analyst, [{
    id: 'AwsSolutions-IAM5',
    reason: 'grantQuery: object ARNs under the workgroup results/reports prefixes and the granted zone, and the zone database\'s tables; no wildcard action.',
    appliesTo: LAKE_AND_RESULTS_OBJECTS,
  }, { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: 'The user\'s own role (fixture): how its policies are managed is its owner\'s choice.' }], true);

  return stack;
}

describe('cdk-nag AwsSolutions on AthenaServing with saved and scheduled queries, maintenance and a grant', () => {
  test.each([RemovalPolicy.RETAIN, RemovalPolicy.DESTROY])('no error or warning left (removal policy %s)', (policy) => {
    const findings = nagFindings(servingStack(policy));
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});

test('the construct explains its own findings: a user stack with no suppressions of its own is clean', () => {
  const stack = new Stack(new App(), 'Unsuppressed');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'nag' });
  const serving = new AthenaServing(stack, 'Serving', { lake, workGroupName: 'nag-analysts' });
  serving.addScheduledQuery('Csv', { queryName: 'csv', sql: 'SELECT 1', schedule: scheduler.ScheduleExpression.expression('rate(1 day)') });
  const findings = nagFindings(stack);
  expect(findings.errors).toEqual([]);
  expect(findings.warnings).toEqual([]);
});
