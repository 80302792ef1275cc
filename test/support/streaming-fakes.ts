/**
 * Fakes for the streaming handler tests and benchmark: Kinesis records, a Firehose client that
 * injects throttling and partial failures, an in-memory S3, a metrics recorder, and a counter
 * around a real (DynamoDB Local) client.
 */
import { PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { DedupConfig, MetricsSink, SdkSender } from '../../src/ingestion/streaming/dedup-core';

const SEQ_BASE = BigInt('49650000000000000000000000000000000000000000000000000000');

/** A Kinesis record with a given payload (object → JSON, string/Buffer as is) and sequence index. */
export function kinesisRecord(payload: unknown, index: number, shard = 'shardId-000000000000'): KinesisStreamRecord {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
  const seq = (SEQ_BASE + BigInt(index)).toString();
  return {
    eventID: `${shard}:${seq}`,
    eventName: 'aws:kinesis:record',
    eventSource: 'aws:kinesis',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/events',
    eventVersion: '1.0',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/dedup',
    awsRegion: 'us-east-1',
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: `pk-${index}`,
      sequenceNumber: seq,
      approximateArrivalTimestamp: 1767225600 + index / 1000,
      data: data.toString('base64'),
    },
  };
}

export function kinesisEvent(records: KinesisStreamRecord[]): KinesisStreamEvent {
  return { Records: records };
}

/** What Kinesis redelivers after a partial batch response: from the lowest failed sequence number on. */
export function redelivery(records: KinesisStreamRecord[], failures: { itemIdentifier: string }[]): KinesisStreamRecord[] {
  if (failures.length === 0) return [];
  const lowest = failures.map((f) => BigInt(f.itemIdentifier)).reduce((a, b) => (a < b ? a : b));
  return records.filter((r) => BigInt(r.kinesis.sequenceNumber) >= lowest);
}

export function event(id: string | number, type = 'account', subtype: string | undefined = 'created', time = '2026-01-31T10:00:00Z', extra: Record<string, unknown> = {}) {
  return { event_id: id, event_type: type, ...(subtype === undefined ? {} : { event_subtype: subtype }), event_time: time, ...extra };
}

export function config(overrides: Partial<DedupConfig> = {}): DedupConfig {
  return {
    idField: 'event_id',
    typeField: 'event_type',
    subtypeField: 'event_subtype',
    timeField: 'event_time',
    tableName: 'dedup',
    ttlSeconds: 86400,
    deliveryStreamName: 'events',
    quarantineBucket: 'raw',
    quarantinePrefix: '_quarantine/events/',
    backoffBaseMillis: 1,
    ...overrides,
  };
}

/** A Firehose that records what it accepted and fails on demand. */
export class FakeFirehose implements SdkSender {
  /** Accepted Firehose records (each a packed JSON-lines buffer). */
  public readonly accepted: Buffer[] = [];
  /** Records per call, in call order. */
  public readonly callSizes: { records: number; bytes: number }[] = [];
  public calls = 0;

  constructor(private readonly behaviour: {
    /** Throw a throttling error on these call numbers (1-based). */
    throttleCalls?: number[];
    /** Fail one entry (ErrorCode) when this returns true. */
    failEntry?: (call: number, index: number, data: Buffer) => boolean;
    /** Simulated latency per call, ms. */
    latencyMillis?: number;
  } = {}) {}

  public async send(command: any): Promise<any> {
    if (!(command instanceof PutRecordBatchCommand)) throw new Error(`unexpected command ${command.constructor.name}`);
    const call = ++this.calls;
    const records = command.input.Records ?? [];
    this.callSizes.push({ records: records.length, bytes: records.reduce((n, r) => n + (r.Data as Uint8Array).length, 0) });
    if (this.behaviour.latencyMillis) await new Promise((r) => setTimeout(r, this.behaviour.latencyMillis));
    if (this.behaviour.throttleCalls?.includes(call)) {
      const error = new Error('Slow down.');
      error.name = 'ServiceUnavailableException';
      throw error;
    }
    let failed = 0;
    const responses = records.map((r, i) => {
      const data = Buffer.from(r.Data as Uint8Array);
      if (this.behaviour.failEntry?.(call, i, data)) {
        failed++;
        return { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'Slow down.' };
      }
      this.accepted.push(data);
      return { RecordId: `rec-${call}-${i}` };
    });
    return { FailedPutCount: failed, Encrypted: true, RequestResponses: responses };
  }

  /** Every event Firehose accepted, parsed from the JSON lines. */
  public events(): Record<string, any>[] {
    return this.accepted.flatMap((b) => b.toString('utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l)));
  }

  /** How often each event id was accepted. */
  public idCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const e of this.events()) counts.set(String(e.event_id), (counts.get(String(e.event_id)) ?? 0) + 1);
    return counts;
  }
}

export class FakeS3 implements SdkSender {
  public readonly objects = new Map<string, string>();
  private failed = 0;
  constructor(private readonly failPuts = 0) {}
  public async send(command: any): Promise<any> {
    if (!(command instanceof PutObjectCommand)) throw new Error(`unexpected command ${command.constructor.name}`);
    if (this.failed < this.failPuts) {
      this.failed++;
      throw new Error('S3 is down');
    }
    this.objects.set(`${command.input.Bucket}/${command.input.Key}`, String(command.input.Body));
    return {};
  }
  public lines(): Record<string, any>[] {
    return [...this.objects.values()].flatMap((body) => body.split('\n').filter((l) => l).map((l) => JSON.parse(l)));
  }
}

export class RecordingMetrics implements MetricsSink {
  public readonly totals: Record<string, number> = {};
  public count(name: string, value: number): void {
    this.totals[name] = (this.totals[name] ?? 0) + value;
  }
  public get(name: string): number {
    return this.totals[name] ?? 0;
  }
}

/** Counts the requests sent through a client, by command name, and can fail chosen ones. */
export class CountingSender implements SdkSender {
  public readonly counts: Record<string, number> = {};
  constructor(private readonly inner: SdkSender, private readonly fail?: (command: any) => boolean) {}
  public async send(command: any): Promise<any> {
    const name = command.constructor.name;
    this.counts[name] = (this.counts[name] ?? 0) + 1;
    if (this.fail?.(command)) {
      const error = new Error('Throughput exceeds the current capacity of your table');
      error.name = 'ProvisionedThroughputExceededException';
      throw error;
    }
    return this.inner.send(command);
  }
  public total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
}
