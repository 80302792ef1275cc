/**
 * Access paths of ApiPullIngestion: schedules → workflow (+ KMS-encrypted DLQ), workflow →
 * puller / transform job / failure record / topic, puller → raw zone, watermarks, secrets,
 * transform → raw and curated zones and the catalog.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import {
  ACCOUNT, Edge, ENV, expectEdge, logsContext, OTHER_ACCOUNT_ROLE, REGION, scriptObjectArn, StackPolicies, viaDynamoDb, viaS3, viaSns, viaSqs,
} from './iam-harness';
import { scheduleRole } from './schedules';
import { ApiAuth, ApiPagination, ApiPullIngestion, LakehouseTier } from '../../src';

function build() {
  const stack = new Stack(new App(), 'Api', { env: ENV });
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'shop' });
  const secret = new secretsmanager.Secret(stack, 'ApiSecret');
  const api = new ApiPullIngestion(stack, 'Shop', {
    lake,
    pipelineName: 'shop',
    endpoints: [
      {
        name: 'orders',
        url: 'https://api.example.com/v1/orders',
        schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
        auth: ApiAuth.bearerToken(secret),
        pagination: ApiPagination.cursor({ cursorPath: '$.meta.next' }),
        recordsPath: '$.data',
        recordIdField: 'id',
      },
      {
        name: 'customers',
        url: 'https://api.example.com/v1/customers',
        schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '2' }),
        recordIdField: 'id',
        tableName: 'customers_v1',
        columns: [{ name: 'id', type: 'string' }],
      },
    ],
    uploadDrop: {},
    notifyOnSuccess: true,
  });
  const operator = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
  api.grantStartRun(operator);
  return { stack, lake, secret, api, operator, p: new StackPolicies(stack) };
}

function edges(): { p: StackPolicies; edges: Edge[] } {
  const { lake, secret, api, operator, p } = build();
  const s = (t: unknown) => p.str(t);
  const lakeKey = s(lake.encryptionKey.keyArn);
  const jobKey = s(api.jobEncryptionKey.keyArn);
  const raw = s(lake.raw.bucket.bucketArn);
  const curated = s(lake.curated.bucket.bucketArn);
  const dlq = s(api.scheduleDeadLetterQueue.queueArn);
  const machine = s(api.stateMachine.stateMachineArn);
  const machineRole = s(api.stateMachine.role.roleArn);
  const puller = s(api.puller.functionArn);
  const pullerRole = s(api.pullerRole.roleArn);
  const transformRole = s(api.transformRole.roleArn);
  const topic = s(api.notificationTopic.topicArn);
  const job = `arn:aws:glue:${REGION}:${ACCOUNT}:job/${s(api.transformJob.ref)}`;
  const table = s(api.watermarkTable.tableArn);
  const tableName = s(api.watermarkTable.tableName);
  const page = `${raw}/shop/orders/run=2030-01-01T00-00-00Z/page-00001.json`;
  // With a security configuration, Glue names the job's groups /aws-glue/jobs/logs-v2-<configuration> (continuous
  // logging) and /aws-glue/jobs/<configuration>-role/<role>/output|error.
  const glueLogs = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws-glue/jobs/logs-v2-security`;
  const glueTable = (db: string, t: string) => `arn:aws:glue:${REGION}:${ACCOUNT}:table/${db}/${t}`;
  const out: Edge[] = [];
  const schedules = [...Object.entries(api.schedules), ['uploads', api.uploadSchedule!]] as [string, scheduler.Schedule][];
  for (const [name, schedule] of schedules) {
    const role = scheduleRole(p, schedule);
    out.push(
      { name: `${name} schedule starts the workflow`, who: role, action: 'states:StartExecution', resource: machine, expect: 'allow', why: 'the schedule runs the pull' },
      { name: `${name} schedule sends to its DLQ`, who: role, action: 'sqs:SendMessage', resource: dlq, expect: 'allow', why: 'undelivered starts are kept' },
      { name: `${name} schedule gets a data key of the DLQ (lake) key (issue 12 fix 4)`, who: role, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaSqs(dlq), expect: 'allow', why: 'SSE-KMS DLQ' },
      { name: `${name} schedule decrypts with the DLQ (lake) key (issue 12 fix 4)`, who: role, action: 'kms:Decrypt', resource: lakeKey, context: viaSqs(dlq), expect: 'allow', why: 'SSE-KMS DLQ' },
      { name: `${name} schedule cannot send to the DLQ without TLS`, who: role, action: 'sqs:SendMessage', resource: dlq, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only queue' },
      { name: `${name} schedule cannot read the lake`, who: role, action: 's3:GetObject', resource: page, expect: 'deny', why: 'least privilege' },
    );
  }
  const operatorRole = s(operator.roleArn);
  out.push(
    // grantStartRun (issue 16): start a run by hand, nothing else.
    { name: 'grantStartRun: the operator starts the workflow', who: operatorRole, action: 'states:StartExecution', resource: machine, expect: 'allow', why: 'a run by hand' },
    { name: 'grantStartRun: the operator cannot invoke the puller directly', who: operatorRole, action: 'lambda:InvokeFunction', resource: puller, expect: 'deny', why: 'least privilege' },
    { name: 'grantStartRun: the operator cannot start the transform job', who: operatorRole, action: 'glue:StartJobRun', resource: job, expect: 'deny', why: 'least privilege' },
  );
  out.push(
    // Workflow
    { name: 'workflow invokes the puller', who: machineRole, action: 'lambda:InvokeFunction', resource: puller, expect: 'allow', why: 'Pull / Commit / uploads steps' },
    { name: 'workflow starts the transform job', who: machineRole, action: 'glue:StartJobRun', resource: job, expect: 'allow', why: 'Transform step' },
    { name: 'workflow polls the transform run', who: machineRole, action: 'glue:GetJobRun', resource: job, expect: 'allow', why: '.sync integration' },
    { name: 'workflow stops the transform run on timeout', who: machineRole, action: 'glue:BatchStopJobRun', resource: job, expect: 'allow', why: '.sync integration' },
    { name: 'workflow records a failure', who: machineRole, action: 's3:PutObject', resource: `${raw}/_ops/api-pull/shop/failures/exec.json`, expect: 'allow', why: 'Record failure step' },
    { name: 'workflow gets a data key via S3 for the failure record', who: machineRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS objects' },
    { name: 'workflow publishes to the notification topic', who: machineRole, action: 'sns:Publish', resource: topic, expect: 'allow', why: 'Notify steps' },
    { name: 'workflow gets a data key of the topic (lake) key', who: machineRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaSns(topic), expect: 'allow', why: 'SSE topic' },
    { name: 'workflow cannot publish without TLS', who: machineRole, action: 'sns:Publish', resource: topic, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only topic' },
    { name: 'workflow cannot overwrite raw pages', who: machineRole, action: 's3:PutObject', resource: page, expect: 'deny', why: 'least privilege' },
    // Puller
    { name: 'puller writes a page', who: pullerRole, action: 's3:PutObject', resource: page, expect: 'allow', why: 'raw landing' },
    { name: 'puller gets a data key via S3', who: pullerRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS objects' },
    { name: 'puller reads a page (quarantine copy)', who: pullerRole, action: 's3:GetObject', resource: page, expect: 'allow', why: 'quarantine copies a page' },
    { name: 'puller quarantines a page', who: pullerRole, action: 's3:PutObject', resource: `${raw}/_quarantine/shop/orders/page.json`, expect: 'allow', why: 'bad pages are kept' },
    { name: 'puller deletes a quarantined page from raw', who: pullerRole, action: 's3:DeleteObject', resource: page, expect: 'allow', why: 'moved, not copied' },
    { name: 'puller lists the upload drop', who: pullerRole, action: 's3:ListBucket', resource: raw, context: { 's3:prefix': 'shop/_uploads/' }, expect: 'allow', why: 'List uploads step' },
    { name: 'puller cannot list the rest of the raw zone', who: pullerRole, action: 's3:ListBucket', resource: raw, context: { 's3:prefix': 'orders/' }, expect: 'deny', why: 'least privilege' },
    { name: 'puller moves an upload to _done/', who: pullerRole, action: 's3:PutObject', resource: `${raw}/shop/_uploads/_done/x.csv`, expect: 'allow', why: 'Move upload step' },
    { name: 'puller reads a watermark', who: pullerRole, action: 'dynamodb:GetItem', resource: table, expect: 'allow', why: 'incremental window' },
    { name: 'puller commits a watermark', who: pullerRole, action: 'dynamodb:UpdateItem', resource: table, expect: 'allow', why: 'Commit step' },
    { name: 'puller decrypts with the table (lake) key', who: pullerRole, action: 'kms:Decrypt', resource: lakeKey, context: viaDynamoDb(tableName), expect: 'allow', why: 'customer managed table key' },
    { name: 'puller reads the API secret', who: pullerRole, action: 'secretsmanager:GetSecretValue', resource: s(secret.secretArn), expect: 'allow', why: 'auth' },
    { name: 'puller cannot write curated data', who: pullerRole, action: 's3:PutObject', resource: `${curated}/orders/x.parquet`, expect: 'deny', why: 'least privilege' },
    { name: 'puller writes its log stream', who: pullerRole, action: 'logs:PutLogEvents', resource: `${s(api.pullerLogGroup.logGroupArn).replace(/:\*$/, '')}:log-stream:x`, expect: 'allow', why: 'logs and EMF metrics' },
    // Transform
    { name: 'transform reads a page', who: transformRole, action: 's3:GetObject', resource: page, expect: 'allow', why: 'input' },
    { name: 'transform reads an upload', who: transformRole, action: 's3:GetObject', resource: `${raw}/shop/_uploads/x.csv`, expect: 'allow', why: 'upload drop' },
    { name: 'transform decrypts via S3', who: transformRole, action: 'kms:Decrypt', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS objects' },
    { name: 'transform writes curated data', who: transformRole, action: 's3:PutObject', resource: `${curated}/orders/data/x.parquet`, expect: 'allow', why: 'Iceberg data files' },
    { name: 'transform writes the curated table of a renamed endpoint', who: transformRole, action: 's3:PutObject', resource: `${curated}/customers_v1/data/x.parquet`, expect: 'allow', why: 'tableName' },
    { name: 'transform gets a data key via S3 for curated writes', who: transformRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(curated), expect: 'allow', why: 'SSE-KMS objects' },
    { name: 'transform quarantines records', who: transformRole, action: 's3:PutObject', resource: `${raw}/_quarantine/shop/orders/x.json`, expect: 'allow', why: 'bad records are kept' },
    { name: 'transform creates a curated table', who: transformRole, action: 'glue:CreateTable', resource: glueTable('shop_curated', 'orders'), expect: 'allow', why: 'first run of an endpoint without columns' },
    { name: 'transform updates a curated table', who: transformRole, action: 'glue:UpdateTable', resource: glueTable('shop_curated', 'orders'), expect: 'allow', why: 'Iceberg commit' },
    { name: 'transform writes Glue logs', who: transformRole, action: 'logs:PutLogEvents', resource: `${glueLogs}:log-stream:jr_1`, expect: 'allow', why: 'continuous logging' },
    { name: 'transform encrypts bookmarks with the job key', who: transformRole, action: 'kms:GenerateDataKey', resource: jobKey, expect: 'allow', why: 'security configuration' },
    { name: 'CloudWatch Logs encrypts the transform logs with the job key', who: `logs.${REGION}.amazonaws.com`, action: 'kms:GenerateDataKey', resource: jobKey, context: logsContext(glueLogs), expect: 'allow', why: 'KMS-associated log group' },
    { name: 'transform reads its script', who: transformRole, action: 's3:GetObject', resource: scriptObjectArn(p, api.transformJob), expect: 'allow', why: 'job script asset' },
    { name: 'transform cannot write raw pages', who: transformRole, action: 's3:PutObject', resource: page, expect: 'deny', why: 'raw is the replayable source of truth' },
    { name: 'another account cannot start the workflow', who: OTHER_ACCOUNT_ROLE, action: 'states:StartExecution', resource: machine, expect: 'deny', why: 'no cross-account access' },
    { name: 'another account cannot send to the DLQ', who: OTHER_ACCOUNT_ROLE, action: 'sqs:SendMessage', resource: dlq, expect: 'deny', why: 'no cross-account access' },
  );
  return { p, edges: out };
}

describe('ApiPullIngestion access paths', () => {
  const { p, edges: table } = edges();
  test.each(table.map((e) => [e.name, e]))('%s', async (_, edge) => {
    await expectEdge(p, edge as Edge);
  });
});
