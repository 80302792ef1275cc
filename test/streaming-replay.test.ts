/** The replay function's logic: range filtering, envelopes, limits and continuation, retries. */
import { gzipSync } from 'zlib';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { FIREHOSE_MAX_RECORD_BYTES, REPLAY_FIELD } from '../src/ingestion/streaming/dedup-core';
import { dayOf, replay, ReplayConfig } from '../src/ingestion/streaming/replay-core';

class RawBucket {
  public readonly objects = new Map<string, Buffer>();
  public async send(command: any): Promise<any> {
    if (command instanceof ListObjectsV2Command) {
      const keys = [...this.objects.keys()].filter((k) => k.startsWith(command.input.Prefix!)).sort()
        .filter((k) => !command.input.StartAfter || k > command.input.StartAfter);
      // Two keys a page, to exercise continuation.
      const start = command.input.ContinuationToken ? Number(command.input.ContinuationToken) : 0;
      const page = keys.slice(start, start + 2);
      const more = start + 2 < keys.length;
      return { Contents: page.map((Key) => ({ Key })), IsTruncated: more, NextContinuationToken: more ? String(start + 2) : undefined };
    }
    if (command instanceof GetObjectCommand) {
      const body = this.objects.get(command.input.Key!)!;
      return { Body: { transformToByteArray: async () => new Uint8Array(body) } };
    }
    throw new Error('unexpected command');
  }
}

class Stream {
  public readonly records: { data: string; partitionKey: string }[] = [];
  public calls = 0;
  constructor(private readonly failFirstCall = false) {}
  public async send(command: any): Promise<any> {
    if (!(command instanceof PutRecordsCommand)) throw new Error('unexpected command');
    this.calls++;
    const records = command.input.Records!;
    if (this.failFirstCall && this.calls === 1) {
      // The first record fails (throttled), the rest go through.
      records.slice(1).forEach((r: any) => this.records.push({ data: Buffer.from(r.Data).toString(), partitionKey: r.PartitionKey }));
      return { FailedRecordCount: 1, Records: records.map((_: unknown, i: number) => (i === 0 ? { ErrorCode: 'ProvisionedThroughputExceededException' } : { SequenceNumber: '1' })) };
    }
    records.forEach((r: any) => this.records.push({ data: Buffer.from(r.Data).toString(), partitionKey: r.PartitionKey }));
    return { FailedRecordCount: 0, Records: records.map(() => ({ SequenceNumber: '1' })) };
  }
}

const line = (id: string) => JSON.stringify({ event_id: id, event_type: 'payment', event_time: '2026-01-30T10:00:00Z' });
const key = (day: string, name: string) => `events/event_type=payment/event_subtype=order/year=2026/month=01/day=${day}/${name}.json.gz`;
const config: ReplayConfig = { bucket: 'raw', prefix: 'events/', streamName: 'events', maxEvents: 1000, envelope: true };

function rawBucket(): RawBucket {
  const bucket = new RawBucket();
  bucket.objects.set(key('29', 'a'), gzipSync(`${line('p-0')}\n`));
  bucket.objects.set(key('30', 'a'), gzipSync(`${line('p-1')}\n${line('p-2')}\n`));
  bucket.objects.set(key('30', 'b'), Buffer.from(`${line('p-3')}\n\n`)); // plain, with an empty line
  bucket.objects.set(key('31', 'a'), gzipSync(`${line('p-4')}\n${line('p-5')}\n${line('p-6')}\n`));
  bucket.objects.set('events/event_type=account/event_subtype=x/year=2026/month=01/day=30/a.json.gz', gzipSync(`${line('other')}\n`));
  return bucket;
}

test('replays the events of one type in the day range, in replay envelopes with a stable id', async () => {
  const stream = new Stream();
  const result = await replay({ eventType: 'payment', from: '2026-01-30', to: '2026-01-31' }, config, { s3: rawBucket(), kinesis: stream, sleep: async () => {} });
  expect(result).toEqual({ replayId: 'payment:2026-01-30:2026-01-31', objects: 3, events: 6 });
  const sent = stream.records.map((r) => JSON.parse(r.data));
  expect(sent.every((r) => r[REPLAY_FIELD] === 'payment:2026-01-30:2026-01-31')).toBe(true);
  expect(sent.map((r) => r.event.event_id)).toEqual(['p-1', 'p-2', 'p-3', 'p-4', 'p-5', 'p-6']);
  expect(stream.records[0].data).toBe(`{"${REPLAY_FIELD}":"payment:2026-01-30:2026-01-31","event":${line('p-1')}}`);
});

test('without the dedup Lambda, events go back as they are', async () => {
  const stream = new Stream();
  await replay({ eventType: 'payment', from: '2026-01-29', to: '2026-01-29' }, { ...config, envelope: false }, { s3: rawBucket(), kinesis: stream });
  expect(stream.records.map((r) => r.data)).toEqual([line('p-0')]);
});

test('stops at the limit between objects and says where to continue; continuing finishes the range once', async () => {
  const bucket = rawBucket();
  const stream = new Stream();
  const first = await replay({ eventType: 'payment', from: '2026-01-29', to: '2026-01-31', maxEvents: 4 }, config, { s3: bucket, kinesis: stream });
  expect(first).toEqual({ replayId: 'payment:2026-01-29:2026-01-31', objects: 3, events: 4, continueAfter: key('30', 'b') });
  const second = await replay({ eventType: 'payment', from: '2026-01-29', to: '2026-01-31', startAfter: first.continueAfter }, config, { s3: bucket, kinesis: stream });
  expect(second).toEqual({ replayId: 'payment:2026-01-29:2026-01-31', objects: 1, events: 3 });
  expect(stream.records.map((r) => JSON.parse(r.data).event.event_id)).toEqual(['p-0', 'p-1', 'p-2', 'p-3', 'p-4', 'p-5', 'p-6']);
});

test('failed PutRecords entries are resent, nothing lost or doubled', async () => {
  const stream = new Stream(true);
  const result = await replay({ eventType: 'payment', from: '2026-01-30', to: '2026-01-30' }, config, { s3: rawBucket(), kinesis: stream, sleep: async () => {} });
  expect(result.events).toBe(3);
  expect(stream.records.map((r) => JSON.parse(r.data).event.event_id).sort()).toEqual(['p-1', 'p-2', 'p-3']);
});

test('an event at Firehose\'s record limit, full of characters JSON escapes, still fits one Kinesis record (1 MiB) once enveloped', async () => {
  const quoted = JSON.stringify({ event_id: 'q', event_type: 'payment', event_time: '2026-01-30T10:00:00Z', pad: '' });
  const big = JSON.stringify({ event_id: 'q', event_type: 'payment', event_time: '2026-01-30T10:00:00Z', pad: '"'.repeat(Math.floor((FIREHOSE_MAX_RECORD_BYTES - 1 - quoted.length) / 2)) });
  expect(Buffer.byteLength(big) + 1).toBeLessThanOrEqual(FIREHOSE_MAX_RECORD_BYTES);
  expect(Buffer.byteLength(JSON.stringify({ [REPLAY_FIELD]: 'x', line: big }))).toBeGreaterThan(1024 * 1024); // the old envelope did not fit
  const bucket = new RawBucket();
  bucket.objects.set(key('30', 'big'), gzipSync(`${big}\n`));
  const stream = new Stream();
  await replay({ eventType: 'payment', from: '2026-01-30', to: '2026-01-30' }, config, { s3: bucket, kinesis: stream });
  const [sent] = stream.records;
  expect(Buffer.byteLength(sent.data) + Buffer.byteLength(sent.partitionKey)).toBeLessThanOrEqual(1024 * 1024);
  expect(JSON.parse(sent.data).event.pad).toHaveLength(Math.floor((FIREHOSE_MAX_RECORD_BYTES - 1 - quoted.length) / 2));
});

test('rejects a bad type or range', async () => {
  const deps = { s3: rawBucket(), kinesis: new Stream() };
  await expect(replay({ eventType: 'a/b', from: '2026-01-01', to: '2026-01-02' }, config, deps)).rejects.toThrow(/eventType/);
  await expect(replay({ eventType: 'a', from: '2026-01-03', to: '2026-01-02' }, config, deps)).rejects.toThrow(/from and to/);
  await expect(replay({ eventType: 'a', from: '2026-01-01', to: '2026-01-02', replayId: 'r'.repeat(257) }, config, deps)).rejects.toThrow(/replayId/);
  expect(dayOf('x/year=2026/month=02/day=03/y.gz')).toBe('2026-02-03');
  expect(dayOf('x/y.gz')).toBeUndefined();
});
