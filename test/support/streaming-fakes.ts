/**
 * Fakes for the streaming handler tests and benchmark: Kinesis records, a Firehose client that
 * injects throttling and partial failures, an in-memory S3, a metrics recorder, and a counter
 * around a real (DynamoDB Local) client.
 */
import { PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { DedupConfig, MetricsSink, numberTextAt, SdkSender } from '../../src/ingestion/streaming/dedup-core';

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

/**
 * Firehose's PutRecordBatch limits as its API reference states them ("up to 500 records. Each
 * record ... as large as 1,000 KB (before base64 encoding), up to a limit of 4 MB for the entire
 * request. These limits cannot be changed."): a call over any of them fails as a whole.
 */
export const FIREHOSE_LIMITS = { records: 500, recordBytes: 1000 * 1024, requestBytes: 4 * 1024 * 1024 };

/** A Firehose that enforces the real PutRecordBatch limits, records what it accepted, and fails on demand. */
export class FakeFirehose implements SdkSender {
  /** Accepted Firehose records (each a packed JSON-lines buffer). */
  public readonly accepted: Buffer[] = [];
  /** Records per call, in call order. */
  public readonly callSizes: { records: number; bytes: number }[] = [];
  public calls = 0;
  /** Calls refused for breaking a limit (why). */
  public readonly rejected: string[] = [];

  constructor(private readonly behaviour: {
    /** Throw a throttling error on these call numbers (1-based). */
    throttleCalls?: number[];
    /** Throw a throttling error when this returns true (call number, 1-based). */
    throttle?: (call: number) => boolean;
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
    const sizes = records.map((r) => (r.Data as Uint8Array).length);
    const limitError = records.length === 0 || records.length > FIREHOSE_LIMITS.records
      ? `Records: ${records.length} (1 to ${FIREHOSE_LIMITS.records})`
      : sizes.some((n) => n > FIREHOSE_LIMITS.recordBytes)
        ? `a record of ${Math.max(...sizes)} bytes (at most ${FIREHOSE_LIMITS.recordBytes})`
        : sizes.reduce((a, b) => a + b, 0) > FIREHOSE_LIMITS.requestBytes
          ? `a request of ${sizes.reduce((a, b) => a + b, 0)} bytes (at most ${FIREHOSE_LIMITS.requestBytes})` : undefined;
    if (limitError) {
      this.rejected.push(limitError);
      const error = new Error(`1 validation error detected: ${limitError}`);
      error.name = 'ValidationException';
      throw error;
    }
    if (this.behaviour.throttleCalls?.includes(call) || this.behaviour.throttle?.(call)) {
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

  /** Every accepted JSON line, as sent. */
  public lines(): string[] {
    return this.accepted.flatMap((b) => b.toString('utf8').split('\n').filter((l) => l.length > 0));
  }

  /** How often each event id was accepted (numbers by their literal text, so ids above 2^53 stay apart). */
  public idCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const line of this.lines()) {
      const id = literalId(line);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }
}

/** The `event_id` of a JSON line as its source text (string value, or a number's literal). */
export function literalId(line: string): string {
  const parsed = JSON.parse(line);
  if (typeof parsed.event_id === 'string') return parsed.event_id;
  return numberTextAt(line, ['event_id']) ?? String(parsed.event_id);
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

/**
 * Counts the requests sent through a client, by command name, and can fail chosen ones: a whole
 * request (`fail`, as the SDK throws after its retries) or single PartiQL statements of a
 * `BatchExecuteStatement` (`failStatement`, answered with the per-statement `ProvisionedThroughputExceeded`
 * error DynamoDB returns, the others sent on to the real table).
 */
export class CountingSender implements SdkSender {
  public readonly counts: Record<string, number> = {};
  /** Claims (INSERT statements) and marks (UPDATE ... SET fwd) sent, successful or not. */
  public statements = 0;
  constructor(
    private readonly inner: SdkSender,
    private readonly fail?: (command: any) => boolean,
    private readonly failStatement?: (statement: { Statement: string; Parameters: any[] }) => boolean,
  ) {}
  public async send(command: any): Promise<any> {
    const name = command.constructor.name;
    this.counts[name] = (this.counts[name] ?? 0) + 1;
    if (this.fail?.(command)) {
      const error = new Error('Throughput exceeds the current capacity of your table');
      error.name = 'ProvisionedThroughputExceededException';
      throw error;
    }
    if (name === 'BatchExecuteStatementCommand') {
      const statements: { Statement: string; Parameters: any[] }[] = command.input.Statements;
      this.statements += statements.length;
      if (this.failStatement) {
        const failing = statements.map((st) => this.failStatement!(st));
        const passed = statements.filter((_, i) => !failing[i]);
        const inner = passed.length > 0
          ? await this.inner.send(new command.constructor({ ...command.input, Statements: passed }))
          : { Responses: [] };
        let j = 0;
        return {
          ...inner,
          Responses: statements.map((_, i) => (failing[i]
            ? { Error: { Code: 'ProvisionedThroughputExceeded', Message: 'Throughput exceeds the current capacity of your table' } }
            : inner.Responses[j++])),
        };
      }
    }
    return this.inner.send(command);
  }
  public total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
}
