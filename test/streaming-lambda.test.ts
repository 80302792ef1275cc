/**
 * The deployed entry point (dedup.lambda.ts) with the real AWS SDK clients, configured only
 * through its environment as the construct sets it: DynamoDB Local for the claims and a loopback
 * HTTP server speaking Firehose's JSON protocol (first call: one entry fails). Checks the SDK
 * wiring, the partial-failure retry through real serialization, and the Powertools EMF metrics.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
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

test('the handler reads its configuration from the environment, forwards through Firehose, and emits EMF metrics', async () => {
  const env = {
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
    POWERTOOLS_SERVICE_NAME: 'events',
    POWERTOOLS_METRICS_NAMESPACE: 'CdkLakehouse/Streaming',
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
  expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe('CdkLakehouse/Streaming');
  expect(emf._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service']]);
  expect(emf.service).toBe('events');
  expect(emf).toMatchObject({
    RecordsReceived: 3, RecordsNew: 2, RecordsDuplicate: 1, RecordsQuarantined: 0, ForwardFailures: 0, FirehoseCalls: 2, FirehoseRetries: 1,
  });
});
