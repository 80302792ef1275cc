/**
 * Access paths of CdcIngestion, evaluated with AWS's policy evaluation logic (iam-simulate) over
 * the synthesized identity policies AND resource policies (key policies, queue policy).
 */
import { App, CfnResource, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import {
  ACCOUNT, Edge, ENV, expectEdge, fromSource, logsContext, OTHER_ACCOUNT_ROLE, REGION, StackPolicies, scriptObjectArn, UNRELATED_ROLE, viaS3, viaSqs,
} from './iam-harness';
import { scheduleRole } from './schedules';
import { CdcIngestion, CdcIngestionProps, LakehouseTier } from '../../src';
import { cdcProps } from '../cdc-fixtures';

function build(overrides: Partial<CdcIngestionProps> = {}) {
  const stack = new Stack(new App(), 'Cdc', { env: ENV });
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const secret = new secretsmanager.Secret(stack, 'DbSecret');
  const dbSecurityGroup = new ec2.SecurityGroup(stack, 'DbSg', { vpc, allowAllOutbound: false });
  const cdc = new CdcIngestion(stack, 'Shop', cdcProps({ stack, lake, vpc, secret, dbSecurityGroup }, overrides));
  return { stack, lake, secret, cdc, p: new StackPolicies(stack) };
}

function edges(): Edge[] {
  const { lake, secret, cdc, p } = build();
  const s = (t: unknown) => p.str(t);
  const mergeRole = s(cdc.mergeRole.roleArn);
  const preflightRole = s(cdc.preflight!.role!.roleArn);
  const targetRole = s(cdc.targetAccessRole!.roleArn);
  const sourceRole = s(cdc.sourceAccessRole!.roleArn);
  const dlq = s(cdc.scheduleDeadLetterQueue.queueArn);
  const cdcKey = s(cdc.jobEncryptionKey.keyArn);
  const lakeKey = s(lake.encryptionKey.keyArn);
  const raw = s(lake.raw.bucket.bucketArn);
  const curated = s(lake.curated.bucket.bucketArn);
  const secretArn = s(secret.secretArn);
  const job = `arn:aws:glue:${REGION}:${ACCOUNT}:job/${s(cdc.mergeJobName)}`;
  const eni = `arn:aws:ec2:${REGION}:${ACCOUNT}:network-interface/eni-0123456789abcdef0`;
  const subnet = `arn:aws:ec2:${REGION}:${ACCOUNT}:subnet/subnet-0123456789abcdef0`;
  // With a security configuration, Glue names the job's groups /aws-glue/jobs/logs-v2-<configuration> (continuous
  // logging) and /aws-glue/jobs/<configuration>-role/<role>/output|error.
  const glueLogs = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws-glue/jobs/logs-v2-security`;
  const preflightLogStream = `${s(cdc.preflightLogGroup!.logGroupArn).replace(/:\*$/, '')}:log-stream:2030/01/01/[$LATEST]abc`;
  const table = (db: string, t: string) => `arn:aws:glue:${REGION}:${ACCOUNT}:table/${db}/${t}`;
  const schedules = [['merge', cdc.mergeSchedule], ...Object.entries(cdc.pullSchedules).map(([t, sc]) => [`pull ${t}`, sc])] as [string, scheduler.Schedule][];

  const out: Edge[] = [];
  for (const [label, schedule] of schedules) {
    const role = scheduleRole(p, schedule);
    out.push(
      { name: `${label} schedule starts the merge job`, who: role, action: 'glue:StartJobRun', resource: job, expect: 'allow', why: 'the schedule starts the merge' },
      { name: `${label} schedule sends to its DLQ`, who: role, action: 'sqs:SendMessage', resource: dlq, expect: 'allow', why: 'an undelivered start lands in the DLQ' },
      { name: `${label} schedule gets a data key of the DLQ key (issue 12 fix 4)`, who: role, action: 'kms:GenerateDataKey', resource: cdcKey, context: viaSqs(dlq), expect: 'allow', why: 'SQS SSE-KMS: a sender needs GenerateDataKey on the queue key' },
      { name: `${label} schedule decrypts with the DLQ key (issue 12 fix 4)`, who: role, action: 'kms:Decrypt', resource: cdcKey, context: viaSqs(dlq), expect: 'allow', why: 'SQS SSE-KMS: a sender needs Decrypt on the queue key (reused data keys)' },
      { name: `${label} schedule cannot send to the DLQ without TLS`, who: role, action: 'sqs:SendMessage', resource: dlq, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only queue policy' },
    );
  }
  out.push(
    { name: 'another account cannot send to the schedule DLQ', who: OTHER_ACCOUNT_ROLE, action: 'sqs:SendMessage', resource: dlq, expect: 'deny', why: 'no cross-account access' },
    { name: 'another account cannot decrypt with the CDC key', who: OTHER_ACCOUNT_ROLE, action: 'kms:Decrypt', resource: cdcKey, expect: 'deny', why: 'key of this account only' },
    // Preflight: a VPC Lambda with a role the construct creates (issue 12 fix 1).
    ...['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'].map((action): Edge => ({
      name: `preflight role: ${action} (issue 12 fix 1)`,
      who: preflightRole,
      action,
      resource: eni,
      expect: 'allow',
      why: 'Lambda checks the execution role of a VPC function can manage its network interfaces; otherwise CreateFunction fails and the stack rolls back',
    })),
    { name: 'preflight role: ec2:CreateNetworkInterface in the subnet (issue 12 fix 1)', who: preflightRole, action: 'ec2:CreateNetworkInterface', resource: subnet, expect: 'allow', why: 'the ENI is created in the function\'s subnets' },
    ...['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'].map((action): Edge => ({
      name: `preflight role: ${action} on * (issue 12 fix 1)`, who: preflightRole, action, resource: '*', expect: 'allow', why: 'Describe actions only work on "*"',
    })),
    { name: 'preflight reads the source secret', who: preflightRole, action: 'secretsmanager:GetSecretValue', resource: secretArn, expect: 'allow', why: 'connects to the source' },
    { name: 'preflight writes its log stream', who: preflightRole, action: 'logs:PutLogEvents', resource: preflightLogStream, expect: 'allow', why: 'its report is logged' },
    { name: 'preflight traces to X-Ray', who: preflightRole, action: 'xray:PutTraceSegments', resource: '*', expect: 'allow', why: 'active tracing' },
    { name: 'preflight cannot read the raw zone', who: preflightRole, action: 's3:GetObject', resource: `${raw}/shop/public/orders/x.parquet`, expect: 'deny', why: 'least privilege' },
    // DMS
    { name: 'DMS source role reads the source secret', who: sourceRole, action: 'secretsmanager:GetSecretValue', resource: secretArn, expect: 'allow', why: 'the source endpoint connects with it' },
    { name: 'DMS target role writes a change file', who: targetRole, action: 's3:PutObject', resource: `${raw}/shop/public/orders/20300101/x.parquet`, expect: 'allow', why: 'DMS lands changes' },
    { name: 'DMS target role lists the raw bucket', who: targetRole, action: 's3:ListBucket', resource: raw, expect: 'allow', why: 'the S3 endpoint checks the bucket' },
    { name: 'DMS target role gets a data key of the lake key via S3', who: targetRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS writes' },
    { name: 'DMS target role cannot write outside its prefix', who: targetRole, action: 's3:PutObject', resource: `${raw}/other/x.parquet`, expect: 'deny', why: 'least privilege' },
    { name: 'DMS target role cannot write without TLS', who: targetRole, action: 's3:PutObject', resource: `${raw}/shop/x.parquet`, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only bucket policy' },
    { name: 'DMS encrypts its storage with the CDC key', who: 'dms.amazonaws.com', action: 'kms:GenerateDataKey', resource: cdcKey, expect: 'allow', why: 'replication storage is encrypted with the pipeline key' },
    // Merge job
    { name: 'merge reads a change file', who: mergeRole, action: 's3:GetObject', resource: `${raw}/shop/public/orders/20300101/x.parquet`, expect: 'allow', why: 'input of the merge' },
    { name: 'merge decrypts the lake key via S3', who: mergeRole, action: 'kms:Decrypt', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS reads' },
    { name: 'merge writes its ledger', who: mergeRole, action: 's3:PutObject', resource: `${raw}/_ops/cdc/shop/ledger.json`, expect: 'allow', why: 'a file is never merged twice' },
    { name: 'merge writes the quarantine', who: mergeRole, action: 's3:PutObject', resource: `${raw}/_quarantine/shop/x.json`, expect: 'allow', why: 'bad changes are kept' },
    { name: 'merge writes curated data', who: mergeRole, action: 's3:PutObject', resource: `${curated}/shop_public_orders/data/x.parquet`, expect: 'allow', why: 'Iceberg data files' },
    { name: 'merge gets a data key of the lake key via S3', who: mergeRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(curated), expect: 'allow', why: 'SSE-KMS writes' },
    { name: 'merge creates a curated table', who: mergeRole, action: 'glue:CreateTable', resource: table('lake_curated', 'shop_public_orders'), expect: 'allow', why: 'tables of patterns are created at run time' },
    { name: 'merge updates a curated table', who: mergeRole, action: 'glue:UpdateTable', resource: table('lake_curated', 'shop_public_orders'), expect: 'allow', why: 'Iceberg commits swap metadata_location' },
    { name: 'merge reads the curated database', who: mergeRole, action: 'glue:GetDatabase', resource: `arn:aws:glue:${REGION}:${ACCOUNT}:database/lake_curated`, expect: 'allow', why: 'catalog lookups' },
    { name: 'merge writes Glue logs', who: mergeRole, action: 'logs:PutLogEvents', resource: `${glueLogs}:log-stream:jr_1`, expect: 'allow', why: 'continuous logging' },
    { name: 'merge associates the job key with its log group', who: mergeRole, action: 'logs:AssociateKmsKey', resource: glueLogs, expect: 'allow', why: 'security configuration CloudWatch encryption' },
    { name: 'merge encrypts its bookmarks with the CDC key', who: mergeRole, action: 'kms:GenerateDataKey', resource: cdcKey, expect: 'allow', why: 'security configuration CSE-KMS bookmarks' },
    { name: 'CloudWatch Logs encrypts the merge logs with the CDC key', who: `logs.${REGION}.amazonaws.com`, action: 'kms:GenerateDataKey', resource: cdcKey, context: logsContext(glueLogs), expect: 'allow', why: 'a KMS-associated log group' },
    { name: 'merge publishes its metrics', who: mergeRole, action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': 'CdkLakehouse/Merge' }, expect: 'allow', why: 'freshness and lag alarms' },
    { name: 'merge cannot publish to another namespace', who: mergeRole, action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': 'Other' }, expect: 'deny', why: 'least privilege' },
    { name: 'merge reads the source secret (pulled tables)', who: mergeRole, action: 'secretsmanager:GetSecretValue', resource: secretArn, expect: 'allow', why: 'JDBC pull' },
    { name: 'merge creates its connection ENI', who: mergeRole, action: 'ec2:CreateNetworkInterface', resource: eni, expect: 'allow', why: 'Glue NETWORK connection' },
    { name: 'merge reads its script', who: mergeRole, action: 's3:GetObject', resource: scriptObjectArn(p, cdc.mergeJob), expect: 'allow', why: 'the job script asset' },
    { name: 'merge cannot delete curated data of other pipelines', who: mergeRole, action: 's3:DeleteObject', resource: `${curated}/other_table/x.parquet`, expect: 'deny', why: 'least privilege' },
    { name: 'an unrelated role of the account cannot read raw changes', who: UNRELATED_ROLE, action: 's3:GetObject', resource: `${raw}/shop/x.parquet`, expect: 'deny', why: 'no grant' },
    { name: 'another account cannot read raw changes', who: OTHER_ACCOUNT_ROLE, action: 's3:GetObject', resource: `${raw}/shop/x.parquet`, expect: 'deny', why: 'no cross-account access' },
  );
  void fromSource;
  return out;
}

describe('CdcIngestion access paths', () => {
  const { p } = build();
  const table = edges();
  test.each(table.map((e) => [e.name, e]))('%s', async (_, edge) => {
    await expectEdge(p, edge as Edge);
  });
  test('the preflight function is created after its role policy (Lambda checks the ENI rights at create time)', () => {
    const built = build();
    const fnId = built.stack.getLogicalId(built.cdc.preflight!.node.defaultChild as CfnResource);
    const policyId = built.stack.getLogicalId(built.cdc.preflight!.role!.node.findChild('DefaultPolicy').node.defaultChild as CfnResource);
    expect(built.p.template.Resources[fnId].DependsOn).toContain(policyId);
  });
});

describe('CdcIngestion with an imported pipeline key', () => {
  test('the schedule role still gets its DLQ key rights from its identity policy', async () => {
    const stack = new Stack(new App(), 'CdcImported', { env: ENV });
    const key = kms.Key.fromKeyArn(stack, 'Imported', `arn:aws:kms:${REGION}:${ACCOUNT}:key/imported`);
    const lake = new LakehouseTier(stack, 'Lake', {});
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const secret = new secretsmanager.Secret(stack, 'DbSecret');
    const dbSecurityGroup = new ec2.SecurityGroup(stack, 'DbSg', { vpc, allowAllOutbound: false });
    const cdc = new CdcIngestion(stack, 'Shop', { ...cdcProps({ stack, lake, vpc, secret, dbSecurityGroup }), jobEncryptionKey: key });
    const p = new StackPolicies(stack);
    const dlq = p.str(cdc.scheduleDeadLetterQueue.queueArn);
    // The default key policy of a key: the account root, which delegates to IAM policies.
    const defaultKeyPolicy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] };
    await expectEdge(p, {
      name: 'imported key',
      who: scheduleRole(p, cdc.mergeSchedule),
      action: 'kms:GenerateDataKey',
      resource: key.keyArn,
      context: viaSqs(dlq),
      expect: 'allow',
      why: 'fix 4 with an imported key',
      resourcePolicy: defaultKeyPolicy,
    });
  });
});
