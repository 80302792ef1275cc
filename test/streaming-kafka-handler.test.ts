/**
 * The dedup handler with Kafka batches, against DynamoDB Local (real conditional writes), the
 * Firehose fake and an in-memory S3. Event shapes are the Lambda developer guide's MSK and
 * self-managed Kafka examples (with-msk.html "Example event", with-kafka.html): `records` keyed by
 * "<topic>-<partition>", base64 `key`/`value`, `headers` as arrays of byte values.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { DynamoDbLocal } from './support/dynamodb-local';
import { config, CountingSender, event, FakeFirehose, FakeS3, RecordingMetrics } from './support/streaming-fakes';
import { METRIC } from '../src/ingestion/streaming/dedup-core';
import { isKafkaEvent, KafkaEvent, KafkaFieldSources, KafkaRecord, processKafkaBatch } from '../src/ingestion/streaming/kafka-records';

jest.setTimeout(180_000);

let ddb: DynamoDbLocal;
let tableCounter = 0;
const FUTURE = (Math.floor(Date.now() / 1000) + 365 * 86400) * 1000;

beforeAll(async () => {
  ddb = await DynamoDbLocal.start();
}, 600_000);
afterAll(() => ddb?.stop());

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const bytes = (s: string) => [...Buffer.from(s, 'utf8')];

function kafkaRecord(value: unknown, partition: number, offset: number, extra: Partial<KafkaRecord> = {}, topic = 'orders'): KafkaRecord {
  return {
    topic,
    partition,
    offset,
    timestamp: 1767225600000 + offset,
    timestampType: 'CREATE_TIME',
    key: b64(`k-${offset}`),
    value: value === null ? null : b64(typeof value === 'string' ? value : JSON.stringify(value)),
    headers: [{ 'content-type': bytes('application/json') }],
    ...extra,
  };
}

/** A batch as Lambda sends it: records grouped under "<topic>-<partition>", offsets ascending. */
function kafkaEvent(records: KafkaRecord[], eventSource: 'aws:kafka' | 'SelfManagedKafka' = 'aws:kafka'): KafkaEvent {
  const grouped: Record<string, KafkaRecord[]> = {};
  for (const r of records) (grouped[`${r.topic}-${r.partition}`] ??= []).push(r);
  return {
    eventSource,
    ...(eventSource === 'aws:kafka' ? { eventSourceArn: 'arn:aws:kafka:eu-west-1:111111111111:cluster/lake/abcd1234-0123-4567-89ab-cdef01234567-s1' } : {}),
    bootstrapServers: 'b-1.lake.kafka.eu-west-1.amazonaws.com:9098',
    records: grouped,
  };
}

interface SetupOptions {
  firehose?: FakeFirehose;
  s3?: FakeS3;
  failStatement?: (st: { Statement: string; Parameters: any[] }) => boolean;
  sources?: KafkaFieldSources;
}

async function setup(options: SetupOptions = {}) {
  const tableName = `kafka_${++tableCounter}`;
  await ddb.createDedupTable(tableName);
  const dynamodb = new CountingSender(ddb.client({ maxAttempts: 5 }), undefined, options.failStatement);
  const firehose = options.firehose ?? new FakeFirehose();
  const s3 = options.s3 ?? new FakeS3();
  const metrics = new RecordingMetrics();
  const cfg = config({ tableName });
  const deps = { dynamodb, firehose, s3, metrics, sleep: async () => {}, now: () => FUTURE };
  const run = (records: KafkaRecord[], source?: 'aws:kafka' | 'SelfManagedKafka') => processKafkaBatch(kafkaEvent(records, source), cfg, deps, options.sources);
  /** Lambda's Kafka behaviour: a batch whose invocation fails is retried whole until it succeeds. */
  const runUntilDone = async (records: KafkaRecord[], max = 10) => {
    for (let i = 0; i < max; i++) {
      try {
        await run(records);
        return i;
      } catch (e) {
        if ((e as Error).name !== 'KafkaBatchRetryError') throw e;
      }
    }
    throw new Error('batch never succeeded');
  };
  return { tableName, dynamodb, firehose, s3, metrics, run, runUntilDone };
}

test('the events Lambda documents for MSK and self-managed Kafka are recognised as Kafka batches', () => {
  expect(isKafkaEvent(kafkaEvent([kafkaRecord(event('a'), 0, 1)]))).toBe(true);
  expect(isKafkaEvent(kafkaEvent([kafkaRecord(event('a'), 0, 1)], 'SelfManagedKafka'))).toBe(true);
  expect(isKafkaEvent({ Records: [] })).toBe(false);
});

test('duplicates within a partition, across partitions and across batches are forwarded once', async () => {
  const s = await setup();
  await s.run([
    kafkaRecord(event('e-1'), 0, 10), kafkaRecord(event('e-2'), 0, 11), kafkaRecord(event('e-1'), 0, 12),
    kafkaRecord(event('e-2'), 1, 40), kafkaRecord(event('e-3'), 1, 41),
  ]);
  // A producer retry lands e-3 again in another partition, in a later batch, via self-managed Kafka.
  await s.run([kafkaRecord(event('e-3'), 2, 7), kafkaRecord(event('e-4'), 2, 8)], 'SelfManagedKafka');
  expect(Object.fromEntries(s.firehose.idCounts())).toEqual({ 'e-1': 1, 'e-2': 1, 'e-3': 1, 'e-4': 1 });
  expect(s.metrics.get(METRIC.received)).toBe(7);
  expect(s.metrics.get(METRIC.new)).toBe(4);
  expect(s.metrics.get(METRIC.duplicate)).toBe(3);
  // The claim holds the Kafka coordinates of the record that won it.
  const claims = await ddb.client().send(new ScanCommand({ TableName: s.tableName }));
  const seqs = Object.fromEntries(claims.Items!.map((i: any) => [i.pk.S, i.seq.S]));
  expect(seqs).toEqual({ 'e-1': 'orders:0:10', 'e-2': 'orders:0:11', 'e-3': 'orders:1:41', 'e-4': 'orders:2:8' });
});

test('a failed forward throws; the whole-batch retry forwards every event exactly once', async () => {
  // Firehose refuses every entry holding e-2 on its first 7 calls: more than the handler's 6 attempts.
  const firehose = new FakeFirehose({ failEntry: (call, _i, data) => call <= 7 && data.toString().includes('"e-2"') });
  const s = await setup({ firehose });
  const batch = [
    kafkaRecord(event('e-1', 'a'), 0, 1), kafkaRecord(event('e-2', 'b'), 0, 2), kafkaRecord(event('e-3', 'c'), 1, 5),
  ];
  const retries = await s.runUntilDone(batch);
  expect(retries).toBeGreaterThan(0);
  expect(Object.fromEntries(s.firehose.idCounts())).toEqual({ 'e-1': 1, 'e-2': 1, 'e-3': 1 });
  expect(s.metrics.get(METRIC.forwardedUnmarked)).toBe(0);
});

test('a claim failure throws; the retry claims again and loses nothing', async () => {
  let failing = 8;
  const s = await setup({ failStatement: (st) => st.Statement.startsWith('INSERT') && st.Parameters[0].S === 'e-2' && failing-- > 0 });
  const batch = [kafkaRecord(event('e-1'), 0, 1), kafkaRecord(event('e-2'), 0, 2), kafkaRecord(event('e-3'), 3, 9)];
  await expect(s.run(batch)).rejects.toMatchObject({ name: 'KafkaBatchRetryError', failedRecords: ['orders:0:2'] });
  expect(Object.fromEntries(s.firehose.idCounts())).toEqual({ 'e-1': 1, 'e-3': 1 });
  await s.runUntilDone(batch);
  expect(Object.fromEntries(s.firehose.idCounts())).toEqual({ 'e-1': 1, 'e-2': 1, 'e-3': 1 });
});

test('malformed values, tombstones and disagreeing headers are quarantined with the reason and the Kafka coordinates, never blocking the batch', async () => {
  const s = await setup({ sources: { id: 'header:event-id' } });
  const withId = (id: string) => ({ headers: [{ 'event-id': bytes(id) }] });
  await s.run([
    kafkaRecord('not json', 0, 1, withId('x-1')),
    kafkaRecord(null, 0, 2, withId('x-2')),
    kafkaRecord({ event_type: 'a', event_time: '2026-01-31T00:00:00Z' }, 0, 3), // no header
    kafkaRecord({ event_id: 'other', event_type: 'a', event_time: '2026-01-31T00:00:00Z' }, 0, 4, withId('x-4')),
    kafkaRecord({ event_type: 'a', event_time: '2026-01-31T00:00:00Z' }, 0, 5, withId('ok-5')),
    kafkaRecord({ event_id: 'ok-6', event_type: 'a', event_time: '2026-01-31T00:00:00Z' }, 1, 6, withId('ok-6')),
  ]);
  const lines = s.s3.lines();
  const reasons = Object.fromEntries(lines.map((l) => [l.kafka.offset, l.reason]));
  expect(reasons[1]).toMatch(/^not JSON/);
  expect(reasons[2]).toMatch(/tombstone/);
  expect(reasons[3]).toMatch(/missing Kafka header "event-id" for the event id/);
  expect(reasons[4]).toMatch(/"event_id" \("other"\) and the Kafka header "event-id" \("x-4"\) disagree/);
  expect(lines.every((l) => l.kafka.topic === 'orders' && typeof l.kafka.partition === 'number')).toBe(true);
  expect(s.metrics.get(METRIC.quarantined)).toBe(4);
  // The header's id is written into the event; a value that already agrees stays as sent.
  expect(s.firehose.events()).toEqual([
    { event_type: 'a', event_time: '2026-01-31T00:00:00Z', event_id: 'ok-5' },
    { event_id: 'ok-6', event_type: 'a', event_time: '2026-01-31T00:00:00Z' },
  ]);
});

test('the event id may come from the record key', async () => {
  const s = await setup({ sources: { id: 'key' } });
  await s.run([
    kafkaRecord({ event_type: 'a', event_time: '2026-01-31T00:00:00Z' }, 0, 1, { key: b64('order-9') }),
    kafkaRecord({ event_type: 'a', event_time: '2026-01-31T00:00:00Z' }, 1, 2, { key: b64('order-9') }),
  ]);
  expect(s.firehose.events()).toEqual([{ event_type: 'a', event_time: '2026-01-31T00:00:00Z', event_id: 'order-9' }]);
});

test('property: random batches over partitions, with duplicates and failed invocations, land each event id once; a redelivered successful batch at most twice', async () => {
  // Each run gets its own table; failures are Firehose entry errors on the first calls of a run
  // (beyond the handler's 6 attempts when failingCalls > 6, so the invocation throws and is retried).
  const arb = fc.record({
    ids: fc.array(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 40 }),
    partitions: fc.integer({ min: 1, max: 4 }),
    batchSize: fc.integer({ min: 1, max: 15 }),
    failingCalls: fc.integer({ min: 0, max: 9 }),
    redeliverAfterSuccess: fc.boolean(),
  });
  await fc.assert(fc.asyncProperty(arb, async ({ ids, partitions, batchSize, failingCalls, redeliverAfterSuccess }) => {
    const firehose = new FakeFirehose({ failEntry: (call, i) => call <= failingCalls && i % 2 === 0 });
    const s = await setup({ firehose });
    const offsets = new Array(partitions).fill(0);
    const records = ids.map((id, n) => {
      const p = (id * 7 + n) % partitions;
      // Three event types: a batch packs into up to three Firehose records, so a call can fail some and accept others.
      return kafkaRecord(event(`id-${id}`, `t${id % 3}`), p, offsets[p]++);
    });
    for (let i = 0; i < records.length; i += batchSize) {
      const batch = records.slice(i, i + batchSize);
      await s.runUntilDone(batch, 20);
      // Lambda may deliver a batch again after it succeeded (its offsets were not committed): the
      // records' own claims are not marked forwarded on the success path, so they are forwarded again.
      if (redeliverAfterSuccess) await s.runUntilDone(batch, 20);
    }
    const counts = s.firehose.idCounts();
    expect([...counts.keys()].sort()).toEqual([...new Set(ids.map((id) => `id-${id}`))].sort());
    // No loss: every id is in raw. No double except a successful batch delivered again.
    expect([...counts.values()].every((c) => c === 1 || (redeliverAfterSuccess && c === 2))).toBe(true);
    if (!redeliverAfterSuccess) expect(s.metrics.get(METRIC.forwardedUnmarked)).toBe(0);
  }), { seed: 18, numRuns: 25 });
});
