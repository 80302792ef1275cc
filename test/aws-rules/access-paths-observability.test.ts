/**
 * Access paths of PipelineObservability: every alarm and failure rule must reach the alert topic
 * (and its key), ops logs and events must land in the raw zone, CloudTrail must write its trail.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import {
  ACCOUNT, Edge, ENV, expectEdge, fromSource, OTHER_ACCOUNT_ROLE, REGION, StackPolicies, viaS3,
} from './iam-harness';
import { DataPipeline, LakehouseTier, PipelineObservability } from '../../src';

function build() {
  const stack = new Stack(new App(), 'Obs', { env: ENV });
  const lake = new LakehouseTier(stack, 'Lake', {});
  const metric = (name: string) => new cloudwatch.Metric({ namespace: 'Test', metricName: name, statistic: 'Sum', period: Duration.minutes(5) });
  const pipeline = new DataPipeline(stack, 'Orders', {
    pipelineName: 'orders',
    metrics: { throughput: metric('t'), errors: metric('e'), lagMillis: metric('l') },
    deadLetterQueues: [new sqs.Queue(stack, 'Dlq', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true })],
    freshness: [{ dataset: 'orders', arrivals: metric('a'), expectedInterval: Duration.hours(1) }],
    failureEvents: [{ source: ['aws.glue'], detailType: ['Glue Job State Change'], detail: { state: ['FAILED'] } }],
    logGroups: [new logs.LogGroup(stack, 'OrdersLogs')],
  });
  const obs = new PipelineObservability(stack, 'Obs', { lake, pipelines: [pipeline], cloudTrailDataEvents: true });
  return { stack, lake, obs, p: new StackPolicies(stack) };
}

function edges(): Edge[] {
  const { lake, obs, p } = build();
  const s = (t: unknown) => p.str(t);
  const topic = s(obs.topic.topicArn);
  const topicEncryptionKey = s(obs.topicEncryptionKey.keyArn);
  const lakeKey = s(lake.encryptionKey.keyArn);
  const raw = s(lake.raw.bucket.bucketArn);
  const dlq = s(obs.eventTargetDeadLetterQueue.queueArn);
  const snsKeyContext = { 'kms:EncryptionContext:aws:sns:topicArn': topic };
  const out: Edge[] = [];

  // Every alarm of the stack, composite included, publishes to the topic (issue 12 fix 3).
  const alarms = [...p.ofType('AWS::CloudWatch::Alarm'), ...p.ofType('AWS::CloudWatch::CompositeAlarm')];
  for (const id of alarms) {
    const alarm = p.arnOf(id);
    out.push({
      name: `alarm ${id} publishes to the alert topic (issue 12 fix 3)`,
      who: 'cloudwatch.amazonaws.com',
      action: 'sns:Publish',
      resource: topic,
      context: fromSource(alarm),
      expect: 'allow',
      why: 'CloudWatch alarm actions publish as cloudwatch.amazonaws.com; the enforceSSL topic policy replaces the default one',
    });
  }
  out.push(
    { name: 'CloudWatch gets a data key of the topic key', who: 'cloudwatch.amazonaws.com', action: 'kms:GenerateDataKey', resource: topicEncryptionKey, context: snsKeyContext, expect: 'allow', why: 'SSE topic: the publishing service needs the key (SNS docs, compatibility with AWS services)' },
    { name: 'CloudWatch decrypts with the topic key', who: 'cloudwatch.amazonaws.com', action: 'kms:Decrypt', resource: topicEncryptionKey, context: snsKeyContext, expect: 'allow', why: 'SSE topic' },
    { name: 'an alarm of another account cannot publish to the alert topic', who: 'cloudwatch.amazonaws.com', action: 'sns:Publish', resource: topic, context: { 'aws:SourceArn': `arn:aws:cloudwatch:${REGION}:222222222222:alarm:x`, 'aws:SourceAccount': '222222222222' }, expect: 'deny', why: 'confused deputy' },
    { name: 'CloudWatch cannot publish without TLS', who: 'cloudwatch.amazonaws.com', action: 'sns:Publish', resource: topic, context: { ...fromSource(`arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:x`), 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only topic' },
    { name: 'another account cannot publish to the alert topic', who: OTHER_ACCOUNT_ROLE, action: 'sns:Publish', resource: topic, expect: 'deny', why: 'no cross-account access' },
    { name: 'another account cannot decrypt with the topic key', who: OTHER_ACCOUNT_ROLE, action: 'kms:Decrypt', resource: topicEncryptionKey, expect: 'deny', why: 'key of this account' },
  );
  // Failure rules → topic, undelivered → DLQ, events → Firehose.
  for (const ruleId of p.ofType('AWS::Events::Rule')) {
    const rule = p.arnOf(ruleId);
    const targets = p.value(p.template.Resources[ruleId].Properties.Targets) as { Arn: string; RoleArn?: string }[];
    out.push(
      { name: `rule ${ruleId} publishes to the alert topic`, who: 'events.amazonaws.com', action: 'sns:Publish', resource: topic, context: fromSource(rule), expect: 'allow', why: 'failure events become alerts' },
      { name: `rule ${ruleId}: EventBridge gets a data key of the topic key`, who: 'events.amazonaws.com', action: 'kms:GenerateDataKey', resource: topicEncryptionKey, context: snsKeyContext, expect: 'allow', why: 'SSE topic' },
      { name: `rule ${ruleId} dead-letters to the undelivered-alerts queue`, who: 'events.amazonaws.com', action: 'sqs:SendMessage', resource: dlq, context: fromSource(rule), expect: 'allow', why: 'an alert EventBridge cannot deliver is kept' },
    );
    for (const t of targets.filter((x) => x.Arn.includes(':firehose:'))) {
      out.push(
        { name: `rule ${ruleId} puts events into the events Firehose`, who: t.RoleArn!, action: 'firehose:PutRecord', resource: t.Arn, expect: 'allow', why: 'failure events land in the lake' },
        { name: `rule ${ruleId} puts event batches into the events Firehose`, who: t.RoleArn!, action: 'firehose:PutRecordBatch', resource: t.Arn, expect: 'allow', why: 'failure events land in the lake' },
      );
    }
  }
  out.push({ name: 'another account cannot send to the undelivered-alerts queue', who: OTHER_ACCOUNT_ROLE, action: 'sqs:SendMessage', resource: dlq, expect: 'deny', why: 'no cross-account access' });
  // Logs subscription → Firehose, Firehose → raw zone.
  const subscriptionRole = s(obs.logSubscriptionRole!.roleArn);
  const logsStream = s(obs.logDeliveryStream!.deliveryStreamArn);
  out.push(
    { name: 'CloudWatch Logs puts log batches into the logs Firehose', who: subscriptionRole, action: 'firehose:PutRecordBatch', resource: logsStream, expect: 'allow', why: 'pipelines\' logs land in the lake' },
    { name: 'CloudWatch Logs puts a log batch into the logs Firehose', who: subscriptionRole, action: 'firehose:PutRecord', resource: logsStream, expect: 'allow', why: 'pipelines\' logs land in the lake' },
  );
  for (const [kind, id, table] of [['logs', 'LogsToLakeRole', obs.logsTable!], ['events', 'EventsToLakeRole', obs.eventsTable!]] as const) {
    const role = s((obs.node.findChild(id) as any).roleArn);
    // The ops tables are named per observability instance (`<id>_logs`), their prefixes after them.
    const ops = table.tableName;
    const object = `${raw}/_ops/${ops}/day=2030-01-01/x.gz`;
    out.push(
      { name: `${kind} Firehose writes an object under _ops/${ops}/`, who: role, action: 's3:PutObject', resource: object, expect: 'allow', why: 'landing' },
      { name: `${kind} Firehose writes a delivery error`, who: role, action: 's3:PutObject', resource: `${raw}/_ops/${ops}-delivery-errors/x.gz`, expect: 'allow', why: 'delivery errors are kept' },
      { name: `${kind} Firehose gets a data key of the lake key via S3`, who: role, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS objects' },
      { name: `${kind} Firehose cannot use the lake key outside S3`, who: role, action: 'kms:Decrypt', resource: lakeKey, expect: 'deny', why: 'kms:ViaService condition' },
      { name: `${kind} Firehose cannot write outside _ops/`, who: role, action: 's3:PutObject', resource: `${raw}/orders/x.gz`, expect: 'deny', why: 'least privilege' },
      { name: `${kind} Firehose cannot write without TLS`, who: role, action: 's3:PutObject', resource: object, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only bucket' },
      { name: `${kind} Firehose lists the raw bucket`, who: role, action: 's3:ListBucket', resource: raw, expect: 'allow', why: 'Firehose checks the bucket' },
    );
  }
  // CloudTrail data events into the raw zone.
  const trail = s(obs.trail!.trailArn);
  out.push(
    { name: 'CloudTrail reads the raw bucket ACL', who: 'cloudtrail.amazonaws.com', action: 's3:GetBucketAcl', resource: raw, context: fromSource(trail), expect: 'allow', why: 'CloudTrail checks the bucket before delivery' },
    {
      name: 'CloudTrail writes its log files',
      who: 'cloudtrail.amazonaws.com',
      action: 's3:PutObject',
      resource: `${raw}/_ops/cloudtrail/AWSLogs/${ACCOUNT}/CloudTrail/${REGION}/2030/01/01/x.json.gz`,
      context: { ...fromSource(trail), 's3:x-amz-acl': 'bucket-owner-full-control' },
      expect: 'allow',
      why: 'trail delivery',
    },
    {
      name: 'CloudTrail encrypts its log files with the lake key',
      who: 'cloudtrail.amazonaws.com',
      action: 'kms:GenerateDataKey',
      resource: lakeKey,
      context: { ...fromSource(trail), 'kms:EncryptionContext:aws:cloudtrail:arn': trail },
      expect: 'allow',
      why: 'trail with a KMS key',
    },
    {
      name: 'a trail of another account cannot use the lake key',
      who: 'cloudtrail.amazonaws.com',
      action: 'kms:GenerateDataKey',
      resource: lakeKey,
      context: { 'aws:SourceAccount': '222222222222', 'kms:EncryptionContext:aws:cloudtrail:arn': `arn:aws:cloudtrail:${REGION}:222222222222:trail/x` },
      expect: 'deny',
      why: 'confused deputy',
    },
  );
  return out;
}

describe('PipelineObservability access paths', () => {
  const { p } = build();
  const table = edges();
  test.each(table.map((e) => [e.name, e]))('%s', async (_, edge) => {
    await expectEdge(p, edge as Edge);
  });
});
