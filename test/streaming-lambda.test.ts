/**
 * The deployed entry point (dedup.lambda.ts) with the real AWS SDK clients, configured only
 * through its environment as the construct sets it: DynamoDB Local for the claims and a loopback
 * HTTP server speaking Firehose's JSON protocol (first call: one entry fails). Checks the SDK
 * wiring, the partial-failure retry through real serialization, and the Powertools EMF metrics.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { LakehouseTier, StreamingDedupIngestion } from '../src';
import { DynamoDbLocal } from './support/dynamodb-local';
import { event, kinesisEvent, kinesisRecord } from './support/streaming-fakes';

jest.setTimeout(120_000);

let ddb: DynamoDbLocal;
let firehose: http.Server;
const received: { target: string; records: string[] }[] = [];

beforeAll(async () => {
  ddb = await DynamoDbLocal.start();
  await ddb.createDedupTable('lambda_dedup');
  let calls = 0;
  firehose = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const input = JSON.parse(body);
      const records: string[] = input.Records.map((r: { Data: string }) => Buffer.from(r.Data, 'base64').toString('utf8'));
      calls++;
      const failFirst = calls === 1;
      received.push({ target: String(req.headers['x-amz-target']), records: failFirst ? records.slice(1) : records });
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(JSON.stringify({
        FailedPutCount: failFirst ? 1 : 0,
        Encrypted: true,
        RequestResponses: records.map((_, i) => (failFirst && i === 0 ? { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'Slow down.' } : { RecordId: `r-${calls}-${i}` })),
      }));
    });
  });
  await new Promise<void>((resolve) => firehose.listen(0, '127.0.0.1', () => resolve()));
}, 600_000);

afterAll(async () => {
  ddb?.stop();
  await new Promise((resolve) => firehose?.close(resolve));
});

/** The construct, and the plain-string part of the environment it gives the dedup function. */
function constructEnvironment() {
  const stack = new Stack(new App(), 'S');
  const construct = new StreamingDedupIngestion(stack, 'ClickEvents', { lake: new LakehouseTier(stack, 'Lake', { lakeName: 'lake' }) });
  const fn = Template.fromStack(stack).findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^Drops duplicate') } });
  const variables = (Object.values(fn)[0].Properties.Environment.Variables) as Record<string, unknown>;
  const plain = Object.fromEntries(Object.entries(variables).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  return { construct, plain };
}

test('the handler reads its configuration from the environment, forwards through Firehose, and emits EMF metrics', async () => {
  const { construct, plain } = constructEnvironment();
  const env = {
    // What the construct sets (pipeline name, metrics namespace, fields...), then the local endpoints.
    ...plain,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    AWS_ENDPOINT_URL_FIREHOSE: `http://127.0.0.1:${(firehose.address() as AddressInfo).port}`,
    ID_FIELD: 'event_id',
    TYPE_FIELD: 'event_type',
    SUBTYPE_FIELD: 'event_subtype',
    TIME_FIELD: 'event_time',
    DEDUP_TABLE_NAME: 'lambda_dedup',
    DEDUP_WINDOW_SECONDS: '86400',
    DELIVERY_STREAM_NAME: 'events',
    QUARANTINE_BUCKET: 'raw',
    QUARANTINE_PREFIX: '_quarantine/events/malformed/',
    // Dev mode writes through the global console (captured below); metrics stay on.
    POWERTOOLS_DEV: 'true',
    POWERTOOLS_METRICS_DISABLED: 'false',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const logs: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => { logs.push(args.map(String).join(' ')); });
  try {
    let handler!: (e: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      handler = require('../src/ingestion/streaming/dedup.lambda').handler;
    });
    const response = await handler(kinesisEvent([
      kinesisRecord(event('w-1'), 1),
      kinesisRecord(event('w-2', 'lesson'), 2),
      kinesisRecord(event('w-1'), 3),
    ]));
    expect(response).toEqual({ batchItemFailures: [] });
  } finally {
    spy.mockRestore();
    process.env = saved;
  }

  expect(received.every((r) => r.target === 'Firehose_20150804.PutRecordBatch')).toBe(true);
  expect(received).toHaveLength(2); // the failed entry was resent alone
  const forwarded = received.flatMap((r) => r.records).flatMap((r) => r.trim().split('\n')).map((l) => JSON.parse(l).event_id).sort();
  expect(forwarded).toEqual(['w-1', 'w-2']);

  const emf = logs.map((l) => { try { return JSON.parse(l); } catch { return undefined; } }).find((o) => o?._aws?.CloudWatchMetrics);
  expect(emf).toBeDefined();
  // What the handler emits is what the construct's metric objects read: the same namespace, the
  // same dimension set (Pipeline only: Powertools' own `service` dimension is removed) and values.
  const expected = construct.metricRecordsNew();
  expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe(expected.namespace);
  expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe('CdkLakehouse/Streaming');
  expect(emf._aws.CloudWatchMetrics[0].Dimensions).toEqual([Object.keys(expected.dimensions!)]);
  for (const [name, value] of Object.entries(expected.dimensions!)) expect(emf[name]).toBe(value);
  expect(emf.Pipeline).toBe('click-events');
  expect(emf.service).toBeUndefined();
  const published = (emf._aws.CloudWatchMetrics[0].Metrics as { Name: string }[]).map((m) => m.Name);
  for (const metric of [construct.metricRecordsReceived(), construct.metricRecordsNew(), construct.metricRecordsDuplicate(),
    construct.metricRecordsQuarantined(),
    construct.metricForwardFailures()]) {
    expect(published).toContain(metric.metricName);
    expect(metric.dimensions).toEqual(expected.dimensions);
  }
  expect(emf).toMatchObject({
    RecordsReceived: 3, RecordsNew: 2, RecordsDuplicate: 1, RecordsQuarantined: 0, ForwardFailures: 0, FirehoseCalls: 2, FirehoseRetries: 1,
  });
});
