/**
 * The dedup handler's logic, free of Lambda wiring so tests and benchmarks drive it with real
 * DynamoDB (Local) and a fake Firehose. `dedup.lambda.ts` wires it to the AWS SDK clients.
 *
 * Guarantees (each one has a test in test/streaming-handler.test.ts):
 * - one conditional DynamoDB write per record decides new or duplicate; the claim stores the
 *   claiming record's sequence number, so the same record redelivered (after a failed forward or
 *   a crash between claim and forward) is let through, never taken for a duplicate of itself;
 * - new events go to Firehose packed as JSON lines (many events per Firehose record, grouped by
 *   partition), in PutRecordBatch calls of at most 500 records and 4 MiB; failed entries are
 *   retried with exponential backoff; what still fails is reported as a batch item failure;
 * - malformed records are quarantined (S3, with the reason), counted, and never block the batch.
 */
// Runtime code bundled into the Lambda asset by esbuild: the SDK is a devDependency on purpose.
/* eslint-disable import/no-extraneous-dependencies */
import { ConditionalCheckFailedException, DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordBatchCommand, PutRecordBatchCommandOutput } from '@aws-sdk/client-firehose';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

/** Firehose PutRecordBatch limits. */
export const FIREHOSE_MAX_BATCH_RECORDS = 500;
export const FIREHOSE_MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Firehose's record size limit (1,000 KiB) and its JSON de-aggregation cap (500 objects a record). */
export const FIREHOSE_MAX_RECORD_BYTES = 1000 * 1024;
export const FIREHOSE_MAX_EVENTS_PER_RECORD = 500;

/** The key of a replay envelope: `{"cdk_lakehouse_replay": "<replay id>", "line": "<raw event>"}`. */
export const REPLAY_FIELD = 'cdk_lakehouse_replay';

/** Partition values must be safe S3 path segments. */
const PARTITION_VALUE = /^[A-Za-z0-9_.-]{1,128}$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})/;

export interface DedupConfig {
  /** JSON path (dots for nesting) of the event id. */
  readonly idField: string;
  /** JSON path of the event type. */
  readonly typeField: string;
  /** JSON path of the event subtype (missing subtype partitions as `none`). */
  readonly subtypeField: string;
  /** JSON path of the event time (ISO-8601 string); its date is the date partition. */
  readonly timeField: string;
  /** The DynamoDB dedup table. */
  readonly tableName: string;
  /** Dedup window: how long a claim blocks the same event id. */
  readonly ttlSeconds: number;
  /** The Firehose delivery stream. */
  readonly deliveryStreamName: string;
  /** Bucket and prefix of the quarantine. */
  readonly quarantineBucket: string;
  readonly quarantinePrefix: string;
  /** Attempts per Firehose entry (first try included). @default 6 */
  readonly forwardAttempts?: number;
  /** Base of the exponential backoff between Firehose attempts. @default 100 */
  readonly backoffBaseMillis?: number;
  /** Claims in flight at once. @default 64 */
  readonly claimConcurrency?: number;
  /** Events packed into one Firehose record at most. @default 500 */
  readonly maxEventsPerRecord?: number;
  /** Bytes in one Firehose record at most. @default 1,000 KiB */
  readonly maxRecordBytes?: number;
}

/** Where counts go (Powertools Metrics in Lambda, a recorder in tests). */
export interface MetricsSink {
  count(name: string, value: number): void;
}

/** The subset of an AWS SDK v3 client the handler calls: `send(command)`. */
export interface SdkSender {
  send(command: any): Promise<any>;
}

export interface DedupDeps {
  readonly dynamodb: DynamoDBClient | SdkSender;
  readonly firehose: SdkSender;
  readonly s3: SdkSender;
  readonly metrics: MetricsSink;
  /** Injected for tests. @default setTimeout */
  readonly sleep?: (millis: number) => Promise<void>;
  /** Injected for tests. @default Date.now */
  readonly now?: () => number;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, details?: Record<string, unknown>) => void;
}

/** Metric names the handler emits (the construct builds CloudWatch metrics with the same names). */
export const METRIC = {
  received: 'RecordsReceived',
  new: 'RecordsNew',
  duplicate: 'RecordsDuplicate',
  quarantined: 'RecordsQuarantined',
  forwardFailures: 'ForwardFailures',
  claimFailures: 'ClaimFailures',
  firehoseCalls: 'FirehoseCalls',
  firehoseRetries: 'FirehoseRetries',
} as const;

interface Parsed {
  readonly record: KinesisStreamRecord;
  readonly seq: string;
  /** The event as one JSON line, bytes unchanged except line breaks between tokens. */
  readonly line: string;
  readonly claimKey: string;
  readonly partition: string;
}

interface Quarantined {
  readonly record: KinesisStreamRecord;
  readonly reason: string;
  readonly data: Buffer;
}

/** Processes one Kinesis batch; returns the records Kinesis must redeliver. */
export async function processBatch(event: KinesisStreamEvent, config: DedupConfig, deps: DedupDeps): Promise<KinesisStreamBatchResponse> {
  const now = deps.now ?? Date.now;
  const records = event.Records ?? [];
  deps.metrics.count(METRIC.received, records.length);

  // 1. Parse and validate. Malformed records are set aside with their reason.
  const valid: Parsed[] = [];
  const bad: Quarantined[] = [];
  for (const record of records) {
    const result = parseRecord(record, config);
    if ('reason' in result) bad.push(result);
    else valid.push(result);
  }

  const failed = new Set<string>();

  // 2. Quarantine (in parallel with the claims: neither waits for the other).
  const quarantine = quarantineRecords(bad, config, deps, now()).then((ok) => {
    if (ok) deps.metrics.count(METRIC.quarantined, bad.length);
    else bad.forEach((b) => failed.add(b.record.kinesis.sequenceNumber));
  });

  // 3. One conditional write per record: new, duplicate, or failed (redelivered later).
  const fresh: Parsed[] = [];
  let duplicates = 0;
  let claimFailures = 0;
  await mapLimit(valid, config.claimConcurrency ?? 64, async (p) => {
    const outcome = await claim(p, config, deps, now());
    if (outcome === 'new') {fresh.push(p);} else if (outcome === 'duplicate') {duplicates++;} else { claimFailures++; failed.add(p.seq); }
  });
  deps.metrics.count(METRIC.duplicate, duplicates);
  deps.metrics.count(METRIC.claimFailures, claimFailures);

  // 4. Forward the new events, packed by partition.
  const forwardFailed = await forward(fresh, config, deps);
  forwardFailed.forEach((seq) => failed.add(seq));
  deps.metrics.count(METRIC.new, fresh.length - forwardFailed.size);
  deps.metrics.count(METRIC.forwardFailures, forwardFailed.size);

  await quarantine;

  if (failed.size === 0) return { batchItemFailures: [] };

  // 5. Kinesis redelivers from the lowest failed sequence number on. Records after it that did
  //    reach Firehose are marked forwarded, so their redelivery counts as a duplicate. This
  //    write happens only on this failure path; the common path stays at one write a record.
  const lowest = [...failed].reduce((a, b) => (BigInt(a) < BigInt(b) ? a : b));
  const forwardedAfter = fresh.filter((p) => !failed.has(p.seq) && BigInt(p.seq) > BigInt(lowest));
  await mapLimit(forwardedAfter, config.claimConcurrency ?? 64, (p) => markForwarded(p, config, deps));

  return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
}

/** Parses a Kinesis record into an event ready to claim, or the reason it is malformed. */
export function parseRecord(record: KinesisStreamRecord, config: DedupConfig): Parsed | Quarantined {
  const data = Buffer.from(record.kinesis.data, 'base64');
  const fail = (reason: string): Quarantined => ({ record, reason, data });
  let text = data.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    return fail(`not JSON: ${(e as Error).message}`);
  }
  let claimPrefix = '';
  if (isObject(body) && typeof body[REPLAY_FIELD] === 'string' && typeof body.line === 'string') {
    // A replayed event: claimed once per replay id, so a replay run twice forwards it once.
    claimPrefix = `replay#${body[REPLAY_FIELD]}#`;
    text = body.line;
    try {
      body = JSON.parse(text);
    } catch (e) {
      return fail(`replayed line is not JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(body)) return fail('not a JSON object');

  const id = pick(body, config.idField);
  if (!((typeof id === 'string' && id.length > 0) || (typeof id === 'number' && Number.isFinite(id)))) {
    return fail(`missing event id "${config.idField}" (a non-empty string or a number)`);
  }
  const type = pick(body, config.typeField);
  if (typeof type !== 'string' || type.length === 0) return fail(`missing event type "${config.typeField}"`);
  if (!PARTITION_VALUE.test(type)) return fail(`event type "${type.slice(0, 200)}" is not a partition value (letters, digits, _ . -, up to 128)`);
  const subtypeValue = pick(body, config.subtypeField);
  let subtype = 'none';
  if (subtypeValue !== undefined && subtypeValue !== null && subtypeValue !== '') {
    if (typeof subtypeValue !== 'string' || !PARTITION_VALUE.test(subtypeValue)) {
      return fail(`event subtype "${String(subtypeValue).slice(0, 200)}" is not a partition value (letters, digits, _ . -, up to 128)`);
    }
    subtype = subtypeValue;
  }
  const time = pick(body, config.timeField);
  const date = typeof time === 'string' ? ISO_DATE.exec(time) : null;
  if (!date) return fail(`missing event time "${config.timeField}" (an ISO-8601 string, e.g. 2026-01-31T12:00:00Z)`);

  return {
    record,
    seq: record.kinesis.sequenceNumber,
    // JSON allows a line break only between tokens, so turning them into spaces keeps the value.
    line: text.replace(/[\r\n]+/g, ' ').trim(),
    claimKey: `${claimPrefix}${String(id)}`,
    partition: `${type}/${subtype}/${date[1]}-${date[2]}-${date[3]}`,
  };
}

type ClaimOutcome = 'new' | 'duplicate' | 'failed';

async function claim(p: Parsed, config: DedupConfig, deps: DedupDeps, nowMillis: number): Promise<ClaimOutcome> {
  const nowSeconds = Math.floor(nowMillis / 1000);
  try {
    await deps.dynamodb.send(new PutItemCommand({
      TableName: config.tableName,
      Item: {
        pk: { S: p.claimKey },
        seq: { S: p.seq },
        expiresAt: { N: String(nowSeconds + config.ttlSeconds) },
      },
      // New id, an expired claim (TTL deletes lazily), or this very record again before it was
      // known to be forwarded (retry after a failed forward or a crash between claim and forward).
      ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR (seq = :seq AND attribute_not_exists(fwd))',
      ExpressionAttributeValues: { ':now': { N: String(nowSeconds) }, ':seq': { S: p.seq } },
    }));
    return 'new';
  } catch (e) {
    if (e instanceof ConditionalCheckFailedException || (e as Error).name === 'ConditionalCheckFailedException') return 'duplicate';
    deps.log?.('error', 'claim failed', { seq: p.seq, error: (e as Error).message });
    return 'failed';
  }
}

async function markForwarded(p: Parsed, config: DedupConfig, deps: DedupDeps): Promise<void> {
  try {
    await deps.dynamodb.send(new UpdateItemCommand({
      TableName: config.tableName,
      Key: { pk: { S: p.claimKey } },
      UpdateExpression: 'SET fwd = :t',
      ConditionExpression: 'seq = :seq',
      ExpressionAttributeValues: { ':t': { BOOL: true }, ':seq': { S: p.seq } },
    }));
  } catch (e) {
    // Not fatal: the redelivered record is forwarded once more, and the curated MERGE by event
    // id keeps it once.
    deps.log?.('warn', 'could not mark a forwarded record', { seq: p.seq, error: (e as Error).message });
  }
}

interface Packed {
  /** Sequence numbers of the events in this Firehose record. */
  readonly seqs: string[];
  readonly data: Buffer;
}

/** Packs events into Firehose records: one partition each, <= maxEvents and <= maxBytes. */
export function pack(events: Parsed[], maxEvents = FIREHOSE_MAX_EVENTS_PER_RECORD, maxBytes = FIREHOSE_MAX_RECORD_BYTES): Packed[] {
  const byPartition = new Map<string, Parsed[]>();
  for (const e of events) {
    const list = byPartition.get(e.partition);
    if (list) list.push(e);
    else byPartition.set(e.partition, [e]);
  }
  const out: Packed[] = [];
  for (const list of byPartition.values()) {
    let seqs: string[] = [];
    let lines: Buffer[] = [];
    let bytes = 0;
    const flush = () => {
      if (lines.length > 0) out.push({ seqs, data: Buffer.concat(lines) });
      seqs = [];
      lines = [];
      bytes = 0;
    };
    for (const e of list) {
      const line = Buffer.from(`${e.line}\n`, 'utf8');
      if (lines.length >= maxEvents || (lines.length > 0 && bytes + line.length > maxBytes)) flush();
      seqs.push(e.seq);
      lines.push(line);
      bytes += line.length;
    }
    flush();
  }
  return out;
}

/** Splits packed records into PutRecordBatch calls within 500 records and 4 MiB. */
export function batches(records: Packed[], maxRecords = FIREHOSE_MAX_BATCH_RECORDS, maxBytes = FIREHOSE_MAX_BATCH_BYTES): Packed[][] {
  const out: Packed[][] = [];
  let current: Packed[] = [];
  let bytes = 0;
  for (const r of records) {
    if (current.length >= maxRecords || (current.length > 0 && bytes + r.data.length > maxBytes)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += r.data.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Sends the events; returns the sequence numbers that still failed after every retry. */
async function forward(events: Parsed[], config: DedupConfig, deps: DedupDeps): Promise<Set<string>> {
  const failed = new Set<string>();
  if (events.length === 0) return failed;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const attempts = config.forwardAttempts ?? 6;
  const base = config.backoffBaseMillis ?? 100;
  const packed = pack(events, config.maxEventsPerRecord, config.maxRecordBytes);

  await Promise.all(batches(packed).map(async (batch) => {
    let pending = batch;
    for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
      if (attempt > 1) {
        deps.metrics.count(METRIC.firehoseRetries, 1);
        // Exponential backoff with full jitter, capped at 5 s.
        await sleep(Math.random() * Math.min(5000, base * 2 ** (attempt - 1)));
      }
      deps.metrics.count(METRIC.firehoseCalls, 1);
      let response: PutRecordBatchCommandOutput;
      try {
        response = await deps.firehose.send(new PutRecordBatchCommand({
          DeliveryStreamName: config.deliveryStreamName,
          Records: pending.map((r) => ({ Data: r.data })),
        }));
      } catch (e) {
        deps.log?.('warn', 'PutRecordBatch failed', { attempt, records: pending.length, error: (e as Error).name });
        continue; // the whole call failed: retry all of it
      }
      if (!response.FailedPutCount) {
        pending = [];
        break;
      }
      const responses = response.RequestResponses ?? [];
      pending = pending.filter((_, i) => !responses[i] || responses[i].ErrorCode !== undefined || !responses[i].RecordId);
    }
    pending.forEach((r) => r.seqs.forEach((s) => failed.add(s)));
  }));
  return failed;
}

async function quarantineRecords(bad: Quarantined[], config: DedupConfig, deps: DedupDeps, nowMillis: number): Promise<boolean> {
  if (bad.length === 0) return true;
  const body = bad.map((b) => {
    const utf8 = b.data.toString('utf8');
    const isText = Buffer.from(utf8, 'utf8').equals(b.data);
    return JSON.stringify({
      reason: b.reason,
      sequenceNumber: b.record.kinesis.sequenceNumber,
      partitionKey: b.record.kinesis.partitionKey,
      eventSourceARN: b.record.eventSourceARN,
      shard: b.record.eventID?.split(':')[0],
      approximateArrivalTimestamp: b.record.kinesis.approximateArrivalTimestamp,
      dataEncoding: isText ? 'utf8' : 'base64',
      data: isText ? utf8 : b.record.kinesis.data,
    });
  }).join('\n') + '\n';
  const d = new Date(nowMillis);
  const day = `year=${d.getUTCFullYear()}/month=${pad(d.getUTCMonth() + 1)}/day=${pad(d.getUTCDate())}`;
  const first = bad[0].record;
  const shard = (first.eventID?.split(':')[0] ?? 'shard').replace(/[^A-Za-z0-9_-]/g, '_');
  // Named by shard and first sequence number: a redelivered batch overwrites its own object.
  const key = `${config.quarantinePrefix}${day}/${shard}-${first.kinesis.sequenceNumber}.jsonl`;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      await deps.s3.send(new PutObjectCommand({ Bucket: config.quarantineBucket, Key: key, Body: body, ContentType: 'application/x-ndjson' }));
      deps.log?.('warn', 'quarantined malformed records', { count: bad.length, key, reasons: bad.slice(0, 5).map((b) => b.reason) });
      return true;
    } catch (e) {
      deps.log?.('error', 'quarantine write failed', { attempt, error: (e as Error).message });
    }
  }
  return false;
}

function pick(body: Record<string, unknown>, path: string): unknown {
  let value: unknown = body;
  for (const part of path.split('.')) {
    if (!isObject(value)) return undefined;
    value = value[part];
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Runs `fn` over items with at most `limit` in flight. */
async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  });
  await Promise.all(workers);
}
