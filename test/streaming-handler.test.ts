/**
 * The dedup handler's guarantees, against DynamoDB Local (real conditional writes) with a fake
 * Firehose that throttles and fails entries, and an in-memory S3 for the quarantine.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import type { KinesisStreamRecord } from 'aws-lambda';
import { DynamoDbLocal } from './support/dynamodb-local';
import {
  config, CountingSender, event, FakeFirehose, FakeS3, kinesisEvent, kinesisRecord, RecordingMetrics, redelivery,
} from './support/streaming-fakes';
import {
  batches, FIREHOSE_MAX_BATCH_BYTES, FIREHOSE_MAX_RECORD_BYTES, METRIC, pack, parseRecord, processBatch, REPLAY_FIELD, replayEnvelope,
} from '../src/ingestion/streaming/dedup-core';

jest.setTimeout(120_000);

let ddb: DynamoDbLocal;
let tableCounter = 0;
/**
 * A whole second a year ahead: DynamoDB Local runs TTL deletion, so a clock in the past would let
 * it delete claims under a test (a fixed 2026-01-31 made two tests flaky).
 */
const FUTURE = (Math.floor(Date.now() / 1000) + 365 * 86400) * 1000;

beforeAll(async () => {
  ddb = await DynamoDbLocal.start();
}, 600_000);

afterAll(() => ddb?.stop());

/** A fresh dedup table and everything one handler run needs. */
async function setup(options: {
  firehose?: FakeFirehose;
  s3?: FakeS3;
  failClaim?: (command: any) => boolean;
  failStatement?: (statement: { Statement: string; Parameters: any[] }) => boolean;
  now?: () => number;
} = {}) {
  const tableName = `dedup_${++tableCounter}`;
  await ddb.createDedupTable(tableName);
  // The Lambda's own retry budget (5 attempts), so a loaded machine's transient errors are absorbed as in production.
  const dynamodb = new CountingSender(ddb.client({ maxAttempts: 5 }), options.failClaim, options.failStatement);
  const firehose = options.firehose ?? new FakeFirehose();
  const s3 = options.s3 ?? new FakeS3();
  const metrics = new RecordingMetrics();
  const cfg = config({ tableName });
  const deps = { dynamodb, firehose, s3, metrics, sleep: async () => {}, now: options.now };
  const run = (records: KinesisStreamRecord[]) => processBatch(kinesisEvent(records), cfg, deps);
  return { tableName, dynamodb, firehose, s3, metrics, cfg, deps, run };
}

/** Runs a batch, then keeps redelivering what failed (as Kinesis does) until nothing fails. */
type Run = (r: KinesisStreamRecord[]) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;

async function runUntilDone(run: Run, records: KinesisStreamRecord[], max = 10) {
  let batch = records;
  for (let i = 0; i < max && batch.length > 0; i++) {
    const response = await run(batch);
    batch = redelivery(batch, response.batchItemFailures);
  }
  return batch;
}

describe('one conditional write decides new or duplicate', () => {
  test('duplicates in a batch and across batches are dropped; one conditional write per distinct id, 25 to a request', async () => {
    const s = await setup();
    const records = [
      ...Array.from({ length: 10 }, (_, i) => kinesisRecord(event(`e-${i}`), i)),
      kinesisRecord(event('e-1'), 10),
      kinesisRecord(event('e-2'), 11),
      kinesisRecord(event('e-2'), 12),
    ];
    const first = await s.run(records);
    expect(first.batchItemFailures).toEqual([]);
    // The same ids in a later batch (new sequence numbers: a producer retry).
    const second = await s.run([kinesisRecord(event('e-3'), 20), kinesisRecord(event('e-10'), 21)]);
    expect(second.batchItemFailures).toEqual([]);

    const counts = s.firehose.idCounts();
    expect(counts.size).toBe(11);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    expect(s.metrics.get(METRIC.received)).toBe(15);
    expect(s.metrics.get(METRIC.new)).toBe(11);
    expect(s.metrics.get(METRIC.duplicate)).toBe(4);
    // First batch: 10 distinct ids in one request of 10 INSERTs (the 3 repeats share their first
    // record's claim). Second batch: 2 INSERTs that find a claim, then one read of both claims.
    expect(s.dynamodb.counts).toEqual({ BatchExecuteStatementCommand: 2, BatchGetItemCommand: 1 });
    expect(s.dynamodb.statements).toBe(12);
  });

  test('the claim stores the claiming record sequence number and a TTL equal to the window', async () => {
    const now = FUTURE;
    const s = await setup({ now: () => now });
    const record = kinesisRecord(event('e-ttl'), 1);
    await s.run([record]);
    const item = await ddb.client().send(new GetItemCommand({ TableName: s.tableName, Key: { pk: { S: 'e-ttl' } } }));
    expect(item.Item?.seq.S).toBe(record.kinesis.sequenceNumber);
    expect(Number(item.Item?.expiresAt.N)).toBe(now / 1000 + 86400);
  });

  test('a whole batch redelivered after an unreported success is forwarded again (the at-least-once edge the curated MERGE absorbs)', async () => {
    const s = await setup();
    const records = [kinesisRecord(event('a'), 1), kinesisRecord(event('b'), 2)];
    await s.run(records);
    // Delivered once more although it succeeded, with no failure reported (e.g. the function
    // timed out after forwarding): nothing marked the claims forwarded, so the same records pass
    // their own claims again. Raw may hold such an event twice; the curated table never does.
    const again = await s.run(records);
    expect(again.batchItemFailures).toEqual([]);
    expect(s.firehose.idCounts()).toEqual(new Map([['a', 2], ['b', 2]]));
  });

  test('an id is new again after the dedup window, even before TTL deletes the item', async () => {
    let now = FUTURE;
    const s = await setup({ now: () => now });
    await s.run([kinesisRecord(event('late'), 1)]);
    now += 3600_000;
    await s.run([kinesisRecord(event('late'), 2)]);
    expect(s.firehose.idCounts().get('late')).toBe(1);
    now += 86400_000;
    await s.run([kinesisRecord(event('late'), 3)]);
    expect(s.firehose.idCounts().get('late')).toBe(2);
  });
});

describe('retries lose nothing and double nothing', () => {
  test('a crash between claim and forward: the redelivered batch is forwarded, not taken for duplicates', async () => {
    const s = await setup();
    const records = Array.from({ length: 50 }, (_, i) => kinesisRecord(event(`c-${i}`), i));
    // The invocation dies right before its first Firehose call (after every claim was written).
    const crashing = {
      ...s.deps,
      metrics: { count: (name: string) => { if (name === METRIC.firehoseCalls) throw new Error('Lambda crashed'); } },
    };
    await expect(processBatch(kinesisEvent(records), s.cfg, crashing)).rejects.toThrow('Lambda crashed');
    expect(s.firehose.accepted).toHaveLength(0);

    // Kinesis retries the whole batch (a function error).
    const response = await s.run(records);
    expect(response.batchItemFailures).toEqual([]);
    const counts = s.firehose.idCounts();
    expect(counts.size).toBe(50);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    expect(s.metrics.get(METRIC.duplicate)).toBe(0);
  });

  test('throttled PutRecordBatch calls are retried with backoff; everything lands once', async () => {
    const sleeps: number[] = [];
    const firehose = new FakeFirehose({ throttleCalls: [1, 2] });
    const s = await setup({ firehose });
    const response = await processBatch(
      kinesisEvent(Array.from({ length: 20 }, (_, i) => kinesisRecord(event(`t-${i}`), i))),
      s.cfg,
      { ...s.deps, sleep: async (ms) => { sleeps.push(ms); } },
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(firehose.calls).toBe(3);
    expect(sleeps).toHaveLength(2);
    expect(s.metrics.get(METRIC.firehoseRetries)).toBe(2);
    expect(s.firehose.idCounts().size).toBe(20);
    expect([...s.firehose.idCounts().values()].every((c) => c === 1)).toBe(true);
  });

  test('partial PutRecordBatch failures: only the failed entries are resent', async () => {
    // Two partitions → two Firehose records; the first entry fails on the first call only.
    const firehose = new FakeFirehose({ failEntry: (call, index) => call === 1 && index === 0 });
    const s = await setup({ firehose });
    const records = Array.from({ length: 20 }, (_, i) => kinesisRecord(event(`p-${i}`, i % 2 ? 'lesson' : 'payment'), i));
    const response = await s.run(records);
    expect(response.batchItemFailures).toEqual([]);
    expect(firehose.callSizes.map((c) => c.records)).toEqual([2, 1]);
    expect([...s.firehose.idCounts().values()]).toEqual(Array(20).fill(1));
  });

  test('entries that keep failing become batch item failures; redelivery lands each event exactly once', async () => {
    let healthy = false;
    // Everything of type "payment" fails until Firehose recovers.
    const firehose = new FakeFirehose({ failEntry: (_c, _i, data) => !healthy && data.toString().includes('"payment"') });
    const s = await setup({ firehose });
    const records = Array.from({ length: 30 }, (_, i) => kinesisRecord(event(`f-${i}`, i % 3 === 1 ? 'payment' : 'account'), i));
    const first = await s.run(records);
    const failedSeqs = first.batchItemFailures.map((f) => f.itemIdentifier).sort();
    const paymentSeqs = records.filter((_, i) => i % 3 === 1).map((r) => r.kinesis.sequenceNumber).sort();
    expect(failedSeqs).toEqual(paymentSeqs);
    expect(s.metrics.get(METRIC.forwardFailures)).toBe(10);

    healthy = true;
    // Kinesis resends from the lowest failed record on: forwarded "account" events come back too.
    const again = redelivery(records, first.batchItemFailures);
    expect(again.length).toBe(29);
    const second = await s.run(again);
    expect(second.batchItemFailures).toEqual([]);
    const counts = s.firehose.idCounts();
    expect(counts.size).toBe(30);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
  });

  test('DynamoDB errors on claims are reported and retried by redelivery without loss or doubles', async () => {
    let failing = true;
    const s = await setup({ failStatement: (st) => failing && st.Statement.startsWith('INSERT') && st.Parameters[0].S === 'd-7' });
    const records = Array.from({ length: 12 }, (_, i) => kinesisRecord(event(`d-${i}`), i));
    const first = await s.run(records);
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: records[7].kinesis.sequenceNumber }]);
    expect(s.metrics.get(METRIC.claimFailures)).toBe(1);
    failing = false;
    const left = await runUntilDone(s.run, redelivery(records, first.batchItemFailures));
    expect(left).toEqual([]);
    expect([...s.firehose.idCounts().values()]).toEqual(Array(12).fill(1));
  });

  test('a mixed batch with random Firehose failures converges: no loss, no doubles', async () => {
    // Deterministic pseudo-random failures on a third of the entries, for the first 3 calls.
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const firehose = new FakeFirehose({ throttleCalls: [2], failEntry: (call) => call <= 4 && rand() < 0.34 });
    const s = await setup({ firehose });
    const types = ['account', 'lesson', 'payment'];
    const records = Array.from({ length: 400 }, (_, i) => kinesisRecord(event(`m-${i % 300}`, types[i % 3], i % 2 ? 'a' : 'b'), i));
    const left = await runUntilDone(s.run, records);
    expect(left).toEqual([]);
    const counts = s.firehose.idCounts();
    expect(counts.size).toBe(300);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
  });
});

describe('malformed records are quarantined, counted, and never block the batch', () => {
  test('not JSON, no id, no type, bad type, no time, binary: each quarantined with its reason', async () => {
    const s = await setup();
    const records = [
      kinesisRecord(event('ok-1'), 1),
      kinesisRecord('this is not json', 2),
      kinesisRecord({ event_type: 'account', event_time: '2026-01-31T10:00:00Z' }, 3),
      kinesisRecord({ event_id: 'x', event_time: '2026-01-31T10:00:00Z' }, 4),
      kinesisRecord(event('y', 'bad/type'), 5),
      kinesisRecord({ event_id: 'z', event_type: 'account' }, 6),
      kinesisRecord(Buffer.from([0xff, 0xfe, 0x00, 0x01]), 7),
      kinesisRecord('[1,2,3]', 8),
      kinesisRecord(event('ok-2'), 9),
    ];
    const response = await s.run(records);
    expect(response.batchItemFailures).toEqual([]);
    expect([...s.firehose.idCounts().keys()].sort()).toEqual(['ok-1', 'ok-2']);
    expect(s.metrics.get(METRIC.quarantined)).toBe(7);

    const lines = s.s3.lines();
    expect(lines).toHaveLength(7);
    expect([...s.s3.objects.keys()][0]).toMatch(/^raw\/_quarantine\/events\/year=\d{4}\/month=\d{2}\/day=\d{2}\/shardId-000000000000-\d+\.jsonl$/);
    const reasons = lines.map((l) => l.reason);
    expect(reasons[0]).toMatch(/^not JSON/);
    expect(reasons[1]).toMatch(/missing event id "event_id"/);
    expect(reasons[2]).toMatch(/missing event type "event_type"/);
    expect(reasons[3]).toMatch(/not a partition value/);
    expect(reasons[4]).toMatch(/missing event time "event_time"/);
    expect(reasons[6]).toBe('not a JSON object');
    expect(lines[0]).toMatchObject({ data: 'this is not json', dataEncoding: 'utf8', sequenceNumber: records[1].kinesis.sequenceNumber });
    expect(lines[5]).toMatchObject({ dataEncoding: 'base64', data: Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString('base64') });
  });

  test('when the quarantine cannot be written, only the malformed records are retried', async () => {
    const s = await setup({ s3: new FakeS3(3) });
    const records = [kinesisRecord(event('ok'), 1), kinesisRecord('{broken', 2)];
    const response = await s.run(records);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[1].kinesis.sequenceNumber }]);
    expect([...s.firehose.idCounts().keys()]).toEqual(['ok']);
    expect(s.metrics.get(METRIC.quarantined)).toBe(0);
    // Redelivery of the malformed record (S3 works again) quarantines it.
    const again = await s.run(redelivery(records, response.batchItemFailures));
    expect(again.batchItemFailures).toEqual([]);
    expect(s.s3.lines()).toHaveLength(1);
  });
});

describe('forwarding packs events into Firehose records within its limits', () => {
  test('events are grouped by partition and packed as JSON lines, at most 500 a record', async () => {
    const s = await setup();
    const types = ['account', 'lesson', 'payment'];
    const records = Array.from({ length: 1200 }, (_, i) => kinesisRecord(event(`k-${i}`, types[i % 3], 'x', `2026-01-${i % 2 ? '30' : '31'}T00:00:00Z`), i));
    await s.run(records);
    expect(s.firehose.calls).toBe(1);
    // 6 partitions of 200 events: one Firehose record each.
    expect(s.firehose.accepted).toHaveLength(6);
    for (const data of s.firehose.accepted) {
      const lines = data.toString().trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.length).toBe(200);
      expect(new Set(lines.map((l) => `${l.event_type}/${l.event_time.slice(0, 10)}`)).size).toBe(1);
    }
  });

  test('pack and batches stay within 500 events, 1,000 KiB a record, 500 records and 4 MiB a call', () => {
    const big = 'x'.repeat(100 * 1024);
    const parsed = Array.from({ length: 1500 }, (_, i) => parseRecord(kinesisRecord(event(`b-${i}`, 'a', 'b', '2026-01-01T00:00:00Z', i < 100 ? { big } : {}), i), config()))
      .map((p) => {
        if ('reason' in p) throw new Error(p.reason);
        return p;
      });
    const packed = pack(parsed);
    expect(packed.every((p) => p.seqs.length <= 500 && p.data.length <= FIREHOSE_MAX_RECORD_BYTES)).toBe(true);
    expect(packed.reduce((n, p) => n + p.seqs.length, 0)).toBe(1500);
    const calls = batches(packed);
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.every((c) => c.length <= 500 && c.reduce((n, r) => n + r.data.length, 0) <= FIREHOSE_MAX_BATCH_BYTES)).toBe(true);

    const many = Array.from({ length: 1200 }, (_, i) => ({ seqs: [String(i)], data: Buffer.from('{}\n') }));
    expect(batches(many).map((c) => c.length)).toEqual([500, 500, 200]);
  });

  test('line breaks inside an event become spaces; the event stays byte-for-byte otherwise', () => {
    const raw = '{\n  "event_id": "n-1",\r\n  "event_type": "account", "event_time": "2026-01-31T00:00:00Z", "big": 12345678901234567890\n}';
    const parsed = parseRecord(kinesisRecord(raw, 1), config());
    if ('reason' in parsed) throw new Error(parsed.reason);
    expect(parsed.line).toBe('{   "event_id": "n-1",   "event_type": "account", "event_time": "2026-01-31T00:00:00Z", "big": 12345678901234567890 }');
    expect(parsed.partition).toBe('account/none/2026-01-31');
  });
});

describe('replay envelopes', () => {
  test('a replay forwards the original line once per replay id, even when run twice', async () => {
    const s = await setup();
    const original = JSON.stringify(event('r-1'));
    await s.run([kinesisRecord(original, 1)]);
    const replayed = (i: number, id: string) => kinesisRecord(replayEnvelope(id, original), i);
    await s.run([replayed(2, 'replay-A')]);
    await s.run([replayed(3, 'replay-A')]);
    await s.run([replayed(4, 'replay-B')]);
    expect(s.firehose.events().map((e) => JSON.stringify(e))).toEqual([original, original, original]);
    expect(s.metrics.get(METRIC.duplicate)).toBe(1);
  });

  test('the embedded envelope forwards the event byte for byte (a number above 2^53, spacing); the older string form is still read', async () => {
    const s = await setup();
    const original = '{"event_id": 9007199254740993,  "event_type": "account", "event_time": "2026-01-31T10:00:00Z", "n": 1.50}';
    await s.run([
      kinesisRecord(replayEnvelope('A', original), 1),
      kinesisRecord({ [REPLAY_FIELD]: 'B', line: original }, 2),
      kinesisRecord(`${replayEnvelope('C', original)} `, 3), // not what the replay function writes
    ]);
    expect(s.firehose.lines()).toEqual([original, original]);
    expect(s.s3.lines().map((l) => l.reason)).toEqual(['a replay envelope not in the form the replay function writes']);
  });
});

describe('classes of input real sources produce (issue 14)', () => {
  test('numbers beyond 2^53: two numeric ids that JSON.parse rounds to one value stay two claims', async () => {
    const s = await setup();
    const line = (id: string, extra = '') => `{"event_id": ${id}, "event_type": "account", "event_time": "2026-01-31T10:00:00Z"${extra}}`;
    // 2^53 + 1 and 2^53 are one float64; 1e400 is Infinity after JSON.parse.
    expect(JSON.parse(line('9007199254740993')).event_id).toBe(JSON.parse(line('9007199254740992')).event_id);
    const records = [
      kinesisRecord(line('9007199254740993'), 1),
      kinesisRecord(line('9007199254740992'), 2),
      kinesisRecord(line('9007199254740993', ', "again": true'), 3),
      kinesisRecord(line('1e400'), 4),
      kinesisRecord(line('123456789012345678901234567890'), 5),
    ];
    const response = await s.run(records);
    expect(response.batchItemFailures).toEqual([]);
    expect(s.firehose.idCounts()).toEqual(new Map([
      ['9007199254740993', 1], ['9007199254740992', 1], ['1e400', 1], ['123456789012345678901234567890', 1],
    ]));
    expect(s.metrics.get(METRIC.duplicate)).toBe(1);
    // The claim key is the literal text.
    const item = await ddb.client().send(new GetItemCommand({ TableName: s.tableName, Key: { pk: { S: '9007199254740993' } } }));
    expect(item.Item?.seq.S).toBe(records[0].kinesis.sequenceNumber);
  });

  test('an id longer than a DynamoDB key (2,048 bytes) is quarantined with the reason; the batch goes on', async () => {
    const s = await setup();
    const longest = 'é'.repeat(1024); // 2,048 bytes of UTF-8: the largest key DynamoDB takes
    const tooLong = `${longest}x`;
    const records = [
      kinesisRecord(event('before'), 1),
      kinesisRecord(event(tooLong), 2),
      kinesisRecord(event(longest), 3),
      // A replay envelope adds "replay#<id>#" to the claim key: an id that fits alone may not.
      kinesisRecord({ [REPLAY_FIELD]: 'r1', line: JSON.stringify(event(longest)) }, 4),
      kinesisRecord(event('after'), 5),
    ];
    const response = await s.run(records);
    expect(response.batchItemFailures).toEqual([]);
    expect([...s.firehose.idCounts().keys()].sort()).toEqual(['after', 'before', longest].sort());
    expect(s.metrics.get(METRIC.quarantined)).toBe(2);
    const reasons = s.s3.lines().map((l) => l.reason);
    expect(reasons[0]).toMatch(/is 2049 bytes as a claim key; a DynamoDB partition key holds at most 2048 bytes/);
    expect(reasons[1]).toMatch(/bytes as a claim key \(with its replay prefix\)/);
  });

  test('an event under Kinesis 1 MiB but over a Firehose record (1,000 KiB) is quarantined; the events after it are forwarded', async () => {
    const firehose = new FakeFirehose();
    const s = await setup({ firehose });
    const base = JSON.stringify(event('big', 'account', 'created', '2026-01-31T10:00:00Z', { pad: '' }));
    // Sized so the JSON line plus its newline is exactly the limit, and one byte over.
    const sized = (id: string, lineBytes: number) => JSON.stringify(event(id, 'account', 'created', '2026-01-31T10:00:00Z', {
      pad: 'x'.repeat(lineBytes - 1 - base.length - (id.length - 3)),
    }));
    const fits = sized('fit', FIREHOSE_MAX_RECORD_BYTES);
    const over = sized('big', FIREHOSE_MAX_RECORD_BYTES + 1);
    expect(Buffer.byteLength(fits) + 1).toBe(FIREHOSE_MAX_RECORD_BYTES);
    expect(Buffer.byteLength(over)).toBeLessThan(1024 * 1024); // Kinesis takes it
    const records = [
      kinesisRecord(event('a'), 1), kinesisRecord(over, 2), kinesisRecord(fits, 3),
      ...Array.from({ length: 20 }, (_, i) => kinesisRecord(event(`n-${i}`), 4 + i)),
    ];
    const response = await s.run(records);
    expect(response.batchItemFailures).toEqual([]);
    expect(firehose.rejected).toEqual([]);
    expect(s.firehose.idCounts().size).toBe(22);
    expect(s.firehose.idCounts().has('big')).toBe(false);
    expect(s.metrics.get(METRIC.quarantined)).toBe(1);
    const [quarantined] = s.s3.lines();
    expect(quarantined.reason).toMatch(/event is 1024001 bytes as a JSON line; a Firehose record holds at most 1024000 bytes/);
    expect(quarantined.data).toBe(over); // the event itself, whole, in the quarantine object
  });

  test('the Firehose fake refuses what real Firehose refuses (a 1,000 KiB + 1 record, 501 records, over 4 MiB)', async () => {
    const f = new FakeFirehose();
    const call = (records: Buffer[]) => f.send(new PutRecordBatchCommand({ DeliveryStreamName: 'x', Records: records.map((Data) => ({ Data })) }));
    await expect(call([Buffer.alloc(FIREHOSE_MAX_RECORD_BYTES + 1)])).rejects.toThrow(/record of 1024001 bytes/);
    await expect(call(Array.from({ length: 501 }, () => Buffer.from('{}\n')))).rejects.toThrow(/Records: 501/);
    await expect(call(Array.from({ length: 5 }, () => Buffer.alloc(FIREHOSE_MAX_RECORD_BYTES)))).rejects.toThrow(/request of 5120000 bytes/);
    await expect(call([Buffer.alloc(FIREHOSE_MAX_RECORD_BYTES)])).resolves.toMatchObject({ FailedPutCount: 0 });
  });

  test('sustained throttling of the "forwarded" mark: the doubled events are exactly the ones counted', async () => {
    let healthy = false;
    // The first record's Firehose entry keeps failing, and every mark is throttled, past every retry.
    const firehose = new FakeFirehose({ failEntry: (_c, _i, data) => !healthy && data.toString().includes('"payment"') });
    const s = await setup({ firehose, failStatement: (st) => !healthy && st.Statement.includes('SET fwd') });
    const records = Array.from({ length: 50 }, (_, i) => kinesisRecord(event(`s-${i}`, i === 0 ? 'payment' : 'account'), i));
    const first = await s.run(records);
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: records[0].kinesis.sequenceNumber }]);
    expect(s.metrics.get(METRIC.forwardedUnmarked)).toBe(49);
    healthy = true;
    await runUntilDone(s.run, redelivery(records, first.batchItemFailures));
    const counts = s.firehose.idCounts();
    const doubled = [...counts.values()].filter((c) => c === 2).length;
    expect(counts.size).toBe(50);
    expect(doubled).toBe(s.metrics.get(METRIC.forwardedUnmarked));
  });

  test('throttling of the mark that clears within its retries doubles nothing (the 49-of-50 run of the issue)', async () => {
    let healthy = false;
    let markCalls = 0;
    const firehose = new FakeFirehose({ failEntry: (_c, _i, data) => !healthy && data.toString().includes('"payment"') });
    // Every mark statement is throttled on its first 5 tries (the SDK's own retries were spent on each).
    const s = await setup({ firehose, failStatement: (st) => st.Statement.includes('SET fwd') && ++markCalls <= 49 * 5 });
    const records = Array.from({ length: 50 }, (_, i) => kinesisRecord(event(`u-${i}`, i === 0 ? 'payment' : 'account'), i));
    const first = await s.run(records);
    expect(s.metrics.get(METRIC.forwardedUnmarked)).toBe(0);
    healthy = true;
    await runUntilDone(s.run, redelivery(records, first.batchItemFailures));
    expect([...s.firehose.idCounts().values()]).toEqual(Array(50).fill(1));
  });
});
