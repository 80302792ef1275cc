import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import { nagFindings } from './nag';
import { AthenaServing, LakehouseTier, ReportFormat, ScheduledWorkflow } from '../src';

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
  const workflows: ScheduledWorkflow[] = [
    serving.addScheduledQuery('Csv', { queryName: 'csv', sql: 'SELECT count(*) FROM orders', schedule: 'rate(1 day)' }),
    serving.addScheduledQuery('Parquet', { queryName: 'parquet', sql: 'SELECT * FROM orders', schedule: 'cron(0 6 * * ? *)', format: ReportFormat.PARQUET }),
    serving.addIcebergMaintenance('Maintenance', { table: orders, schedule: 'cron(0 3 ? * SUN *)' }),
  ];

  const analyst = new iam.Role(stack, 'Analyst', { assumedBy: new iam.AccountRootPrincipal() });
  serving.grantQuery(analyst, { zones: [lake.curated] });
  NagSuppressions.addResourceSuppressions(analyst, [{
    id: 'AwsSolutions-IAM5',
    reason: 'grantQuery: object ARNs under the workgroup results/reports prefixes and the granted zone, and the zone database\'s tables; no wildcard action.',
    appliesTo: LAKE_AND_RESULTS_OBJECTS,
  }], true);

  for (const workflow of workflows) {
    NagSuppressions.addResourceSuppressions(workflow.stateMachine.role, [{
      id: 'AwsSolutions-IAM5',
      reason: 'Step Functions log delivery (logs:*LogDelivery, DescribeLogGroups, PutResourcePolicy) and X-Ray tracing actions support no resource-level permissions, '
        + 'so they need Resource "*"; the other wildcards are object ARNs under the query\'s results, report folder or table prefix.',
      appliesTo: ['Resource::*', ...LAKE_AND_RESULTS_OBJECTS],
    }], true);
  }
  NagSuppressions.addResourceSuppressions(serving.scheduleDeadLetterQueue, [{
    id: 'AwsSolutions-SQS3',
    reason: 'This queue is the dead-letter queue of the EventBridge Scheduler targets; a DLQ of a DLQ would only move the problem.',
  }]);
  return stack;
}

describe('cdk-nag AwsSolutions on AthenaServing with saved and scheduled queries, maintenance and a grant', () => {
  test.each([RemovalPolicy.RETAIN, RemovalPolicy.DESTROY])('no error or warning left (removal policy %s)', (policy) => {
    const findings = nagFindings(servingStack(policy));
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});

test('without the suppressions the findings are exactly the ones explained above', () => {
  const stack = new Stack(new App(), 'Unsuppressed');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'nag' });
  const serving = new AthenaServing(stack, 'Serving', { lake, workGroupName: 'nag-analysts' });
  serving.addScheduledQuery('Csv', { queryName: 'csv', sql: 'SELECT 1', schedule: 'rate(1 day)' });
  const rules = nagFindings(stack).errors.map((e) => /AwsSolutions-[A-Z0-9]+/.exec(e)![0]);
  expect([...new Set(rules)].sort()).toEqual(['AwsSolutions-IAM5', 'AwsSolutions-SQS3']);
});
