/**
 * Access paths of AthenaServing: a data scientist's role after one grantQuery, scheduled reports
 * (schedule → workflow → Athena → results/reports → topic) and Iceberg maintenance.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import {
  ACCOUNT, Edge, ENV, expectEdge, fromSource, OTHER_ACCOUNT_ROLE, REGION, StackPolicies, viaS3, viaSns,
} from './iam-harness';
import { scheduleRole } from './schedules';
import { AthenaServing, LakehouseTier, ReportFormat } from '../../src';

function build() {
  const stack = new Stack(new App(), 'Athena', { env: ENV });
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  const orders = lake.addIcebergTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
  const serving = new AthenaServing(stack, 'Analysts', { lake, workGroupName: 'analysts' });
  const scientist = new iam.Role(stack, 'Scientist', { assumedBy: new iam.AccountRootPrincipal() });
  serving.grantQuery(scientist, { zones: [lake.curated] });
  const csv = serving.addScheduledQuery('Daily', { queryName: 'daily', sql: 'SELECT 1', schedule: scheduler.ScheduleExpression.expression('cron(0 6 * * ? *)') });
  const parquet = serving.addScheduledQuery('Weekly', { queryName: 'weekly', sql: 'SELECT 1', schedule: scheduler.ScheduleExpression.expression('cron(0 6 ? * MON *)'), format: ReportFormat.PARQUET });
  const maintenance = serving.addIcebergMaintenance('OrdersMaintenance', { table: orders, schedule: scheduler.ScheduleExpression.expression('cron(0 2 ? * SUN *)') });
  return { stack, lake, serving, scientist, csv, parquet, maintenance, p: new StackPolicies(stack) };
}

function edges(): { p: StackPolicies; edges: Edge[] } {
  const { lake, serving, scientist, csv, parquet, maintenance, p } = build();
  const s = (t: unknown) => p.str(t);
  const lakeKey = s(lake.encryptionKey.keyArn);
  const resultsKey = s(serving.resultsEncryptionKey.keyArn);
  const results = s(serving.resultsBucket.bucketArn);
  const curated = s(lake.curated.bucket.bucketArn);
  const raw = s(lake.raw.bucket.bucketArn);
  const workgroup = `arn:aws:athena:${REGION}:${ACCOUNT}:workgroup/analysts`;
  const otherWorkgroup = `arn:aws:athena:${REGION}:${ACCOUNT}:workgroup/primary`;
  const catalog = `arn:aws:glue:${REGION}:${ACCOUNT}:catalog`;
  const ordersTable = `arn:aws:glue:${REGION}:${ACCOUNT}:table/lake_curated/orders`;
  const dataFile = `${curated}/orders/data/x.parquet`;
  const resultFile = `${results}/results/0000-1111.csv`;
  const topic = s(serving.notificationTopic.topicArn);
  const topicEncryptionKey = s(serving.notificationKey!.keyArn);
  const dlq = s(serving.scheduleDeadLetterQueue.queueArn);
  const who = s(scientist.roleArn);

  const out: Edge[] = [
    { name: 'scientist starts a query in the workgroup', who, action: 'athena:StartQueryExecution', resource: workgroup, expect: 'allow', why: 'grantQuery' },
    { name: 'scientist reads query results through Athena', who, action: 'athena:GetQueryResults', resource: workgroup, expect: 'allow', why: 'grantQuery' },
    { name: 'scientist cannot use another workgroup', who, action: 'athena:StartQueryExecution', resource: otherWorkgroup, expect: 'deny', why: 'scan limits are per workgroup' },
    { name: 'scientist reads the curated catalog', who, action: 'glue:GetTable', resource: ordersTable, expect: 'allow', why: 'Athena reads the catalog as the caller' },
    { name: 'scientist reads the catalog root', who, action: 'glue:GetDatabase', resource: catalog, expect: 'allow', why: 'Athena reads the catalog as the caller' },
    { name: 'scientist reads curated data', who, action: 's3:GetObject', resource: dataFile, expect: 'allow', why: 'Athena reads S3 as the caller' },
    { name: 'scientist decrypts curated data via S3', who, action: 'kms:Decrypt', resource: lakeKey, context: viaS3(curated), expect: 'allow', why: 'SSE-KMS data' },
    { name: 'scientist writes query results', who, action: 's3:PutObject', resource: resultFile, expect: 'allow', why: 'Athena writes results as the caller' },
    { name: 'scientist gets a data key of the results key via S3', who, action: 'kms:GenerateDataKey', resource: resultsKey, context: viaS3(results), expect: 'allow', why: 'SSE_KMS results' },
    { name: 'scientist reads results', who, action: 's3:GetObject', resource: resultFile, expect: 'allow', why: 'result download' },
    { name: 'scientist reads reports', who, action: 's3:GetObject', resource: `${results}/reports/daily/2030-01-01.csv`, expect: 'allow', why: 'reports are for people' },
    { name: 'scientist cannot overwrite reports', who, action: 's3:PutObject', resource: `${results}/reports/daily/2030-01-01.csv`, expect: 'deny', why: 'reports are written by their workflow only' },
    { name: 'scientist cannot read the raw zone', who, action: 's3:GetObject', resource: `${raw}/shop/x.json`, expect: 'deny', why: 'only the zones given' },
    { name: 'scientist cannot read results without TLS', who, action: 's3:GetObject', resource: resultFile, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only bucket' },
    {
      name: 'S3 delivers the results bucket\'s access logs into the lake\'s logs bucket',
      who: 'logging.s3.amazonaws.com',
      action: 's3:PutObject',
      resource: `${s(lake.accessLogsBucket.bucketArn)}/athena/analysts/2030-01-01-00-00-00-ABC`,
      context: fromSource(results),
      expect: 'allow',
      why: 'server access logging of the results bucket (the logs bucket has ACLs disabled: only a bucket policy can let S3 deliver)',
    },
    { name: 'another account cannot read results', who: OTHER_ACCOUNT_ROLE, action: 's3:GetObject', resource: resultFile, expect: 'deny', why: 'no cross-account access' },
  ];
  for (const [name, flow] of [['daily (CSV)', csv], ['weekly (Parquet)', parquet], ['maintenance', maintenance]] as const) {
    const role = s(flow.stateMachine.role.roleArn);
    const schedule = scheduleRole(p, flow.schedule);
    out.push(
      { name: `${name}: schedule starts the workflow`, who: schedule, action: 'states:StartExecution', resource: s(flow.stateMachine.stateMachineArn), expect: 'allow', why: 'scheduled run' },
      { name: `${name}: schedule sends to the DLQ`, who: schedule, action: 'sqs:SendMessage', resource: dlq, expect: 'allow', why: 'undelivered starts are kept' },
      { name: `${name}: schedule cannot send to the DLQ without TLS`, who: schedule, action: 'sqs:SendMessage', resource: dlq, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only queue' },
      { name: `${name}: workflow starts a query`, who: role, action: 'athena:StartQueryExecution', resource: workgroup, expect: 'allow', why: 'startQueryExecution.sync' },
      { name: `${name}: workflow polls the query`, who: role, action: 'athena:GetQueryExecution', resource: workgroup, expect: 'allow', why: 'startQueryExecution.sync' },
      { name: `${name}: workflow stops the query on timeout`, who: role, action: 'athena:StopQueryExecution', resource: workgroup, expect: 'allow', why: 'startQueryExecution.sync' },
      { name: `${name}: workflow reads the table`, who: role, action: 'glue:GetTable', resource: ordersTable, expect: 'allow', why: 'the query reads the catalog' },
      { name: `${name}: workflow reads curated data`, who: role, action: 's3:GetObject', resource: dataFile, expect: 'allow', why: 'the query reads data' },
      { name: `${name}: workflow decrypts curated data`, who: role, action: 'kms:Decrypt', resource: lakeKey, context: viaS3(curated), expect: 'allow', why: 'SSE-KMS data' },
      { name: `${name}: workflow writes results`, who: role, action: 's3:PutObject', resource: resultFile, expect: 'allow', why: 'workgroup results' },
      { name: `${name}: workflow gets a data key of the results key`, who: role, action: 'kms:GenerateDataKey', resource: resultsKey, context: viaS3(results), expect: 'allow', why: 'SSE_KMS results' },
      { name: `${name}: workflow publishes to the report topic`, who: role, action: 'sns:Publish', resource: topic, expect: 'allow', why: 'success / failure notice' },
      { name: `${name}: workflow gets a data key of the topic key`, who: role, action: 'kms:GenerateDataKey', resource: topicEncryptionKey, context: viaSns(topic), expect: 'allow', why: 'SSE topic' },
    );
  }
  const csvRole = s(csv.stateMachine.role.roleArn);
  const parquetRole = s(parquet.stateMachine.role.roleArn);
  const maintenanceRole = s(maintenance.stateMachine.role.roleArn);
  out.push(
    { name: 'daily: workflow copies the result to the report (read source)', who: csvRole, action: 's3:GetObject', resource: resultFile, expect: 'allow', why: 'CopyObject reads the source' },
    { name: 'daily: workflow copies the result to the report (decrypt source)', who: csvRole, action: 'kms:Decrypt', resource: resultsKey, context: viaS3(results), expect: 'allow', why: 'CopyObject of an SSE-KMS object' },
    { name: 'daily: workflow writes its report', who: csvRole, action: 's3:PutObject', resource: `${results}/reports/daily/2030-01-01.csv`, expect: 'allow', why: 'stable report name' },
    { name: 'daily: workflow cannot write another query\'s reports', who: csvRole, action: 's3:PutObject', resource: `${results}/reports/weekly/2030-01-01.csv`, expect: 'deny', why: 'least privilege' },
    { name: 'weekly: UNLOAD writes the Parquet report folder', who: parquetRole, action: 's3:PutObject', resource: `${results}/reports/weekly/2030-01-01/x.parquet`, expect: 'allow', why: 'UNLOAD writes as the caller' },
    { name: 'weekly: UNLOAD lists the report folder', who: parquetRole, action: 's3:ListBucket', resource: results, context: { 's3:prefix': 'reports/weekly/2030-01-01/' }, expect: 'allow', why: 'UNLOAD refuses a non-empty folder' },
    { name: 'maintenance: OPTIMIZE writes table files', who: maintenanceRole, action: 's3:PutObject', resource: dataFile, expect: 'allow', why: 'rewrite data' },
    { name: 'maintenance: VACUUM deletes expired files', who: maintenanceRole, action: 's3:DeleteObject', resource: dataFile, expect: 'allow', why: 'expire snapshots / orphans' },
    { name: 'maintenance: commits the table', who: maintenanceRole, action: 'glue:UpdateTable', resource: ordersTable, expect: 'allow', why: 'Iceberg commit' },
    { name: 'maintenance: gets a data key via S3', who: maintenanceRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(curated), expect: 'allow', why: 'SSE-KMS data' },
    { name: 'another account cannot publish to the report topic', who: OTHER_ACCOUNT_ROLE, action: 'sns:Publish', resource: topic, expect: 'deny', why: 'no cross-account access' },
  );
  return { p, edges: out };
}

describe('AthenaServing access paths', () => {
  const { p, edges: table } = edges();
  test.each(table.map((e) => [e.name, e]))('%s', async (_, edge) => {
    await expectEdge(p, edge as Edge);
  });
});
