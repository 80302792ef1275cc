/**
 * Access paths of StreamingDedupIngestion: stream → dedup Lambda (DynamoDB, Firehose, quarantine,
 * on-failure queue) → Firehose → raw zone, replay, and the Glue merge into curated Iceberg.
 */
import { App, Stack } from 'aws-cdk-lib';
import {
  ACCOUNT, Edge, ENV, expectEdge, logsContext, OTHER_ACCOUNT_ROLE, REGION, StackPolicies, scriptObjectArn, viaDynamoDb, viaKinesis, viaS3, viaSqs,
} from './iam-harness';
import { scheduleRole } from './schedules';
import { LakehouseTier, StreamingDedupIngestion, StreamingDedupIngestionProps } from '../../src';

function build(props: Partial<StreamingDedupIngestionProps> = {}) {
  const stack = new Stack(new App(), 'Streaming', { env: ENV });
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  const streaming = new StreamingDedupIngestion(stack, 'Events', { lake, datasetName: 'events', ...props });
  return { stack, lake, streaming, p: new StackPolicies(stack) };
}

const READ_STREAM = ['kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:DescribeStream', 'kinesis:DescribeStreamSummary', 'kinesis:ListShards'];

function edges(deduplicate: boolean): { p: StackPolicies; edges: Edge[] } {
  const { lake, streaming, p } = build(deduplicate ? {} : { deduplicate: false });
  const s = (t: unknown) => p.str(t);
  const lakeKey = s(lake.encryptionKey.keyArn);
  const raw = s(lake.raw.bucket.bucketArn);
  const curated = s(lake.curated.bucket.bucketArn);
  const stream = s(streaming.stream.streamArn);
  const firehose = s(streaming.deliveryStream.attrArn);
  const deliveryRole = s(streaming.deliveryRole.roleArn);
  const replayRole = s(streaming.replayFunction.role!.roleArn);
  const mergeRole = s(streaming.mergeRole.roleArn);
  const mergeSchedule = scheduleRole(p, streaming.mergeSchedule);
  const mergeDlq = s(streaming.merge.scheduleDeadLetterQueue!.queueArn);
  const mergeJob = `arn:aws:glue:${REGION}:${ACCOUNT}:job/${streaming.merge.jobName}`;
  const rawObject = `${raw}/events/event_type=click/event_subtype=none/year=2030/month=01/day=01/x.json.gz`;
  const deliveryLogStream = `${s(streaming.deliveryLogGroup.logGroupArn).replace(/:\*$/, '')}:log-stream:DestinationDelivery`;
  // With a security configuration, Glue names the job's groups /aws-glue/jobs/logs-v2-<configuration> (continuous
  // logging) and /aws-glue/jobs/<configuration>-role/<role>/output|error.
  const glueLogs = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws-glue/jobs/logs-v2-security`;
  const table = (db: string, t: string) => `arn:aws:glue:${REGION}:${ACCOUNT}:table/${db}/${t}`;
  const out: Edge[] = [
    // Firehose → raw zone
    { name: 'Firehose writes a raw event object', who: deliveryRole, action: 's3:PutObject', resource: rawObject, expect: 'allow', why: 'delivery' },
    { name: 'Firehose writes a delivery error object', who: deliveryRole, action: 's3:PutObject', resource: `${raw}/_quarantine/events/delivery-errors/x.gz`, expect: 'allow', why: 'undeliverable records are kept' },
    { name: 'Firehose gets a data key of the lake key via S3', who: deliveryRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS objects' },
    { name: 'Firehose lists the raw bucket', who: deliveryRole, action: 's3:ListBucket', resource: raw, expect: 'allow', why: 'Firehose checks the bucket' },
    { name: 'Firehose writes its error log stream', who: deliveryRole, action: 'logs:PutLogEvents', resource: deliveryLogStream, expect: 'allow', why: 'delivery errors are logged' },
    { name: 'Firehose cannot write outside its prefixes', who: deliveryRole, action: 's3:PutObject', resource: `${raw}/other/x.gz`, expect: 'deny', why: 'least privilege' },
    { name: 'Firehose cannot write without TLS', who: deliveryRole, action: 's3:PutObject', resource: rawObject, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only bucket' },
    // Replay
    { name: 'replay reads raw events', who: replayRole, action: 's3:GetObject', resource: rawObject, expect: 'allow', why: 'replay source' },
    { name: 'replay lists the raw events prefix', who: replayRole, action: 's3:ListBucket', resource: raw, context: { 's3:prefix': 'events/event_type=click/' }, expect: 'allow', why: 'replay walks the partitions' },
    { name: 'replay decrypts raw events via S3', who: replayRole, action: 'kms:Decrypt', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS objects' },
    { name: 'replay puts records on the stream', who: replayRole, action: 'kinesis:PutRecords', resource: stream, expect: 'allow', why: 'replayed events re-enter the pipeline' },
    { name: 'replay gets a data key of the stream key', who: replayRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaKinesis(stream), expect: 'allow', why: 'the stream is encrypted with the lake key' },
    { name: 'replay cannot read other datasets', who: replayRole, action: 's3:GetObject', resource: `${raw}/orders/x.json`, expect: 'deny', why: 'least privilege' },
    // Merge
    { name: 'merge reads raw events', who: mergeRole, action: 's3:GetObject', resource: rawObject, expect: 'allow', why: 'merge input' },
    { name: 'merge decrypts via S3', who: mergeRole, action: 'kms:Decrypt', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS objects' },
    { name: 'merge writes curated data', who: mergeRole, action: 's3:PutObject', resource: `${curated}/events/data/x.parquet`, expect: 'allow', why: 'Iceberg data files' },
    { name: 'merge gets a data key via S3 for curated writes', who: mergeRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(curated), expect: 'allow', why: 'SSE-KMS objects' },
    { name: 'merge updates the curated table', who: mergeRole, action: 'glue:UpdateTable', resource: table('lake_curated', 'events'), expect: 'allow', why: 'Iceberg commit' },
    { name: 'merge reads the raw table', who: mergeRole, action: 'glue:GetTable', resource: table('lake_raw', 'events'), expect: 'allow', why: 'reads through the catalog' },
    { name: 'merge writes Glue logs', who: mergeRole, action: 'logs:PutLogEvents', resource: `${glueLogs}:log-stream:jr_1`, expect: 'allow', why: 'continuous logging' },
    { name: 'merge associates the key with its log group', who: mergeRole, action: 'logs:AssociateKmsKey', resource: glueLogs, expect: 'allow', why: 'security configuration CloudWatch encryption' },
    { name: 'CloudWatch Logs encrypts Glue job logs with the lake key', who: `logs.${REGION}.amazonaws.com`, action: 'kms:GenerateDataKey', resource: lakeKey, context: logsContext(glueLogs), expect: 'allow', why: 'KMS-associated Glue log groups' },
    // The construct's log groups (core/log-encryption) are encrypted with the lake key too; the key
    // policy cannot name them (the groups depend on the key), so it admits this account's groups only.
    { name: 'CloudWatch Logs cannot use the lake key for another account\'s log groups', who: `logs.${REGION}.amazonaws.com`, action: 'kms:GenerateDataKey', resource: lakeKey, context: logsContext(`arn:aws:logs:${REGION}:222222222222:log-group:/other`), expect: 'deny', why: 'the lake key serves this account\'s log groups only' },
    { name: 'merge quarantines raw lines it cannot merge', who: mergeRole, action: 's3:PutObject', resource: `${raw}/_quarantine/events/merge/part-0.json`, expect: 'allow', why: '--quarantine_path' },
    { name: 'merge cannot write the dedup function\'s quarantine', who: mergeRole, action: 's3:PutObject', resource: `${raw}/_quarantine/events/malformed/x.jsonl`, expect: 'deny', why: 'least privilege' },
    { name: 'merge cannot overwrite other curated tables', who: mergeRole, action: 's3:PutObject', resource: `${curated}/orders/x.parquet`, expect: 'deny', why: 'least privilege' },
    { name: 'merge reads its script', who: mergeRole, action: 's3:GetObject', resource: scriptObjectArn(p, streaming.mergeJob), expect: 'allow', why: 'job script asset' },
    { name: 'merge publishes Glue metrics', who: mergeRole, action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': 'Glue' }, expect: 'allow', why: '--enable-metrics' },
    // The merge schedule (EventBridge Scheduler, MergeJob) and its dead-letter queue under the lake key.
    { name: 'merge schedule starts the merge job', who: mergeSchedule, action: 'glue:StartJobRun', resource: mergeJob, expect: 'allow', why: 'the schedule starts the merge' },
    { name: 'merge schedule sends to its DLQ', who: mergeSchedule, action: 'sqs:SendMessage', resource: mergeDlq, expect: 'allow', why: 'an undelivered start lands in the DLQ' },
    { name: 'merge schedule gets a data key of the DLQ key', who: mergeSchedule, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaSqs(mergeDlq), expect: 'allow', why: 'SQS SSE-KMS: a sender needs GenerateDataKey on the queue key' },
    { name: 'merge schedule decrypts with the DLQ key', who: mergeSchedule, action: 'kms:Decrypt', resource: lakeKey, context: viaSqs(mergeDlq), expect: 'allow', why: 'SQS SSE-KMS: a sender needs Decrypt on the queue key' },
    { name: 'merge schedule starts no other job', who: mergeSchedule, action: 'glue:StartJobRun', resource: `arn:aws:glue:${REGION}:${ACCOUNT}:job/other`, expect: 'deny', why: 'least privilege' },
    { name: 'merge reads the shared Glue module', who: mergeRole, action: 's3:GetObject', resource: `arn:aws:s3:::${s(streaming.merge.sharedModule.s3ObjectUrl).replace(/^s3:\/\//, '')}`, expect: 'allow', why: '--extra-py-files' },
    { name: 'merge publishes the merge metrics', who: mergeRole, action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': 'CdkLakehouse/Merge' }, expect: 'allow', why: 'freshness is the curated table\'s commits' },
    { name: 'another account cannot read raw events', who: OTHER_ACCOUNT_ROLE, action: 's3:GetObject', resource: rawObject, expect: 'deny', why: 'no cross-account access' },
    { name: 'another account cannot put on the stream', who: OTHER_ACCOUNT_ROLE, action: 'kinesis:PutRecord', resource: stream, expect: 'deny', why: 'no cross-account access' },
  ];
  if (deduplicate) {
    const dedupRole = s(streaming.dedupFunction!.role!.roleArn);
    const dedupTable = s(streaming.dedupTable!.tableArn);
    const tableName = s(streaming.dedupTable!.tableName);
    const queue = s(streaming.eventSourceDeadLetterQueue!.queueArn);
    out.push(
      ...READ_STREAM.map((action): Edge => ({ name: `dedup event source: ${action}`, who: dedupRole, action, resource: stream, expect: 'allow', why: 'Lambda polls the stream with the function role' })),
      { name: 'dedup decrypts stream records', who: dedupRole, action: 'kms:Decrypt', resource: lakeKey, context: viaKinesis(stream), expect: 'allow', why: 'the stream is encrypted with the lake key' },
      { name: 'dedup claims an event id', who: dedupRole, action: 'dynamodb:PartiQLInsert', resource: dedupTable, expect: 'allow', why: 'claims are batched PartiQL INSERTs (BatchExecuteStatement)' },
      { name: 'dedup takes over an expired claim', who: dedupRole, action: 'dynamodb:PartiQLUpdate', resource: dedupTable, expect: 'allow', why: 'conditional UPDATE of a claim past its TTL' },
      { name: 'dedup reads back existing claims', who: dedupRole, action: 'dynamodb:BatchGetItem', resource: dedupTable, expect: 'allow', why: 'a duplicate is told from its own redelivery' },
      { name: 'dedup cannot delete claims', who: dedupRole, action: 'dynamodb:PartiQLDelete', resource: dedupTable, expect: 'deny', why: 'least privilege: a claim is never deleted by the handler' },
      { name: 'dedup gets a data key of the table key', who: dedupRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaDynamoDb(tableName), expect: 'allow', why: 'customer managed table key' },
      { name: 'dedup decrypts with the table key', who: dedupRole, action: 'kms:Decrypt', resource: lakeKey, context: viaDynamoDb(tableName), expect: 'allow', why: 'customer managed table key' },
      { name: 'dedup forwards to Firehose', who: dedupRole, action: 'firehose:PutRecordBatch', resource: firehose, expect: 'allow', why: 'new events are delivered' },
      { name: 'dedup quarantines a malformed record', who: dedupRole, action: 's3:PutObject', resource: `${raw}/_quarantine/events/malformed/x.json`, expect: 'allow', why: 'bad input is kept' },
      { name: 'dedup gets a data key via S3 for the quarantine', who: dedupRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaS3(raw), expect: 'allow', why: 'SSE-KMS objects' },
      { name: 'dedup event source sends to the on-failure queue', who: dedupRole, action: 'sqs:SendMessage', resource: queue, expect: 'allow', why: 'batches that exhausted retries are kept' },
      { name: 'dedup event source gets a data key of the queue key', who: dedupRole, action: 'kms:GenerateDataKey', resource: lakeKey, context: viaSqs(queue), expect: 'allow', why: 'SSE-KMS queue' },
      { name: 'dedup event source decrypts with the queue key', who: dedupRole, action: 'kms:Decrypt', resource: lakeKey, context: viaSqs(queue), expect: 'allow', why: 'SSE-KMS queue' },
      { name: 'dedup cannot send to the on-failure queue without TLS', who: dedupRole, action: 'sqs:SendMessage', resource: queue, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'TLS-only queue' },
      { name: 'dedup cannot write raw events directly', who: dedupRole, action: 's3:PutObject', resource: rawObject, expect: 'deny', why: 'only Firehose lands events' },
      { name: 'dedup cannot delete claims', who: dedupRole, action: 'dynamodb:DeleteItem', resource: dedupTable, expect: 'deny', why: 'least privilege' },
      { name: 'another account cannot send to the on-failure queue', who: OTHER_ACCOUNT_ROLE, action: 'sqs:SendMessage', resource: queue, expect: 'deny', why: 'no cross-account access' },
    );
  } else {
    out.push(
      ...READ_STREAM.map((action): Edge => ({ name: `Firehose reads the stream: ${action}`, who: deliveryRole, action, resource: stream, expect: 'allow', why: 'Kinesis source' })),
      { name: 'Firehose decrypts stream records', who: deliveryRole, action: 'kms:Decrypt', resource: lakeKey, context: viaKinesis(stream), expect: 'allow', why: 'the stream is encrypted with the lake key' },
    );
  }
  return { p, edges: out };
}

describe.each([true, false])('StreamingDedupIngestion access paths (deduplicate: %s)', (deduplicate) => {
  const { p, edges: table } = edges(deduplicate);
  test.each(table.map((e) => [e.name, e]))('%s', async (_, edge) => {
    await expectEdge(p, edge as Edge);
  });
});
