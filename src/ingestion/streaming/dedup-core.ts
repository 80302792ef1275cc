/**
 * The dedup handler's logic, free of Lambda wiring so tests and benchmarks drive it with real
 * DynamoDB (Local) and a fake Firehose. `dedup.lambda.ts` wires it to the AWS SDK clients.
 *
 * Guarantees (each one has a test in test/streaming-handler.test.ts or test/streaming-faults.test.ts):
 * - one conditional DynamoDB write per record decides new or duplicate. Claims travel as PartiQL
 *   `INSERT` statements, 25 to a `BatchExecuteStatement` request; an `INSERT` fails on its own
 *   (`DuplicateItem`) when the key exists, which is exactly a taken claim. Only ids that already
 *   have a claim are read back (one consistent `BatchGetItem` per 100) to tell a duplicate from the
 *   same record redelivered (the claim holds the claiming record's sequence number) or from an
 *   expired claim (taken over with a conditional `UPDATE`);
 * - the event id is the exact text the source sent: a string's value, or a number's literal text
 *   (never a float64: two ids above 2^53 stay two claims);
 * - new events go to Firehose packed as JSON lines (many events per Firehose record, grouped by
 *   partition), in PutRecordBatch calls of at most 500 records and 4 MiB; failed entries are
 *   retried with exponential backoff; what still fails is reported as a batch item failure;
 * - malformed records, and valid records that a service downstream cannot take (an id longer than
 *   a DynamoDB key, an event larger than a Firehose record), are quarantined (S3, with the
 *   reason), counted, and never block the batch.
 */
// Runtime code bundled into the Lambda asset by esbuild: the SDK is a devDependency on purpose.
/* eslint-disable import/no-extraneous-dependencies */
import { AttributeValue, BatchExecuteStatementCommand, BatchGetItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutRecordBatchCommand, PutRecordBatchCommandOutput } from '@aws-sdk/client-firehose';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

/** Firehose PutRecordBatch limits: 500 records and 4 MiB a call. */
export const FIREHOSE_MAX_BATCH_RECORDS = 500;
export const FIREHOSE_MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Firehose's record size limit (1,000 KiB before base64) and its JSON de-aggregation cap (500 objects a record). */
export const FIREHOSE_MAX_RECORD_BYTES = 1000 * 1024;
export const FIREHOSE_MAX_EVENTS_PER_RECORD = 500;
/** DynamoDB: a partition key value holds at most 2,048 bytes (UTF-8). */
export const DYNAMODB_MAX_PARTITION_KEY_BYTES = 2048;
/** DynamoDB: 25 statements a `BatchExecuteStatement`, 100 keys a `BatchGetItem`. */
export const DYNAMODB_MAX_BATCH_STATEMENTS = 25;
export const DYNAMODB_MAX_BATCH_GET_KEYS = 100;

/**
 * The key of a replay envelope: `{"cdk_lakehouse_replay":"<replay id>","event":<raw event>}`. The raw
 * event is embedded as JSON, not as an escaped string, so the envelope adds a few dozen bytes
 * whatever the event holds (an escaped event near Firehose's 1,000 KiB could pass Kinesis's 1 MiB),
 * and the handler forwards the embedded bytes unchanged. The older form `{"cdk_lakehouse_replay":
 * "<id>","line":"<raw event as a string>"}` is still read.
 */
export const REPLAY_FIELD = 'cdk_lakehouse_replay';

/** The replay envelope of one raw event line (a JSON object). */
export function replayEnvelope(replayId: string, line: string): string {
  return `${replayPrefix(replayId)}${line}}`;
}

function replayPrefix(replayId: string): string {
  return `{"${REPLAY_FIELD}":${JSON.stringify(replayId)},"event":`;
}

/** Partition values must be safe S3 path segments. */
const PARTITION_VALUE = /^[A-Za-z0-9_.-]{1,128}$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})/;

/** Per-statement error codes of `BatchExecuteStatement` that a later attempt may clear. */
const RETRYABLE_STATEMENT_ERRORS = new Set(['ProvisionedThroughputExceeded', 'ThrottlingError', 'RequestLimitExceeded', 'InternalServerError', 'TransactionConflict']);

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
  /** Attempts per DynamoDB statement or key after throttling (first try included). @default 6 */
  readonly claimAttempts?: number;
  /** Attempts per "forwarded" mark (first try included); marks are only written on the failure path. @default 10 */
  readonly markAttempts?: number;
  /** Base of the exponential backoff between Firehose and DynamoDB attempts. @default 100 */
  readonly backoffBaseMillis?: number;
  /** DynamoDB requests in flight at once (each carries up to 25 claims). @default 64 */
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
  /**
   * Records forwarded in an invocation that reported an earlier record of the batch as failed, and
   * whose "forwarded" mark could not be written: Kinesis redelivers them and they are forwarded
   * again. The exact count of events raw may hold twice on this path.
   */
  forwardedUnmarked: 'RecordsForwardedUnmarked',
} as const;

export interface Parsed {
  readonly record: KinesisStreamRecord;
  readonly seq: string;
  /** The event as one JSON line, bytes unchanged except line breaks between tokens. */
  readonly line: string;
  /** The claim key: the event id's exact source text (prefixed for replays). */
  readonly claimKey: string;
  readonly partition: string;
}

export interface Quarantined {
  readonly record: KinesisStreamRecord;
  readonly reason: string;
  readonly data: Buffer;
}

/** How a source redelivers after a failure, and records its adapter already refused. */
export interface BatchOptions {
  /**
   * `from-lowest` (Kinesis with `ReportBatchItemFailures`): the source redelivers from the lowest
   * failed sequence number on, so forwarded records after it are marked. `whole-batch` (the Kafka
   * event source, which retries a failed batch whole): every forwarded record is marked.
   * @default 'from-lowest'
   */
  readonly redelivery?: 'from-lowest' | 'whole-batch';
  /** Records a source adapter refused before parsing (quarantined with their reason, counted as received). */
  readonly rejected?: Quarantined[];
}

/** Processes one Kinesis batch; returns the records Kinesis must redeliver. */
export async function processBatch(
  event: KinesisStreamEvent, config: DedupConfig, deps: DedupDeps, options: BatchOptions = {},
): Promise<KinesisStreamBatchResponse> {
  const now = deps.now ?? Date.now;
  const records = event.Records ?? [];
  const rejected = options.rejected ?? [];
  deps.metrics.count(METRIC.received, records.length + rejected.length);

  // 1. Parse and validate. Malformed and oversized records are set aside with their reason.
  const valid: Parsed[] = [];
  const bad: Quarantined[] = [...rejected];
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

  // 3. One conditional write per distinct id: new, duplicate, or failed (redelivered later). A
  //    batch repeating an id claims it once (its first record, the lowest sequence number); the
  //    repeats share that outcome (a failed claim's repeats are redelivered with it anyway).
  const first = new Map<string, Parsed>();
  for (const p of valid) if (!first.has(p.claimKey)) first.set(p.claimKey, p);
  const outcomes = await claimAll([...first.values()], config, deps, now());
  const fresh: Parsed[] = [];
  let duplicates = 0;
  let claimFailures = 0;
  for (const p of valid) {
    const owner = first.get(p.claimKey)!;
    const outcome = outcomes.get(owner) ?? 'failed';
    if (owner !== p) {
      if (outcome === 'failed') { claimFailures++; failed.add(p.seq); } else { duplicates++; }
    } else if (outcome === 'new') {fresh.push(p);} else if (outcome === 'duplicate') {duplicates++;} else { claimFailures++; failed.add(p.seq); }
  }
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
  //    A source that redelivers the whole batch (Kafka) gets every forwarded record marked.
  let forwardedAfter: Parsed[];
  if (options.redelivery === 'whole-batch') {
    forwardedAfter = fresh.filter((p) => !failed.has(p.seq));
  } else {
    const lowest = [...failed].reduce((a, b) => (BigInt(a) < BigInt(b) ? a : b));
    forwardedAfter = fresh.filter((p) => !failed.has(p.seq) && BigInt(p.seq) > BigInt(lowest));
  }
  const unmarked = await markForwarded(forwardedAfter, config, deps);
  deps.metrics.count(METRIC.forwardedUnmarked, unmarked.length);
  if (unmarked.length > 0) {
    deps.log?.('error', 'could not mark forwarded records: their redelivery forwards them again (raw holds them twice; the curated MERGE keeps one)',
      { count: unmarked.length, seqs: unmarked.map((p) => p.seq) });
  }

  return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
}

/** Parses a Kinesis record into an event ready to claim, or the reason it is malformed or too large. */
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
  if (isObject(body) && typeof body[REPLAY_FIELD] === 'string' && isObject(body.event)) {
    // A replayed event, embedded: forwarded as the exact bytes between the envelope's prefix and its last brace.
    const prefix = replayPrefix(body[REPLAY_FIELD]);
    if (!text.startsWith(prefix) || !text.endsWith('}')) return fail('a replay envelope not in the form the replay function writes');
    claimPrefix = `replay#${body[REPLAY_FIELD]}#`;
    text = text.slice(prefix.length, -1);
    body = body.event;
  } else if (isObject(body) && typeof body[REPLAY_FIELD] === 'string' && typeof body.line === 'string') {
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
  let idText: string | undefined;
  if (typeof id === 'string' && id.length > 0) idText = id;
  // A number is claimed by its literal text: JSON.parse rounds integers above 2^53 (two ids
  // would become one claim) and turns 1e400 into Infinity.
  else if (typeof id === 'number') idText = numberTextAt(text, config.idField.split('.'));
  if (idText === undefined) return fail(`missing event id "${config.idField}" (a non-empty string or a number)`);
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

  const claimKey = `${claimPrefix}${idText}`;
  const keyBytes = Buffer.byteLength(claimKey, 'utf8');
  if (keyBytes > DYNAMODB_MAX_PARTITION_KEY_BYTES) {
    return fail(`event id "${config.idField}" is ${keyBytes} bytes as a claim key${claimPrefix ? ' (with its replay prefix)' : ''}; `
      + `a DynamoDB partition key holds at most ${DYNAMODB_MAX_PARTITION_KEY_BYTES} bytes: shorten the id at the producer`);
  }
  // JSON allows a line break only between tokens, so turning them into spaces keeps the value.
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  const maxRecordBytes = Math.min(config.maxRecordBytes ?? FIREHOSE_MAX_RECORD_BYTES, FIREHOSE_MAX_RECORD_BYTES);
  const lineBytes = Buffer.byteLength(line, 'utf8') + 1;
  if (lineBytes > maxRecordBytes) {
    return fail(`event is ${lineBytes} bytes as a JSON line; a Firehose record holds at most ${maxRecordBytes} bytes (1,000 KiB): `
      + 'split the event at the producer, or load it from this quarantine object');
  }
  return { record, seq: record.kinesis.sequenceNumber, line, claimKey, partition: `${type}/${subtype}/${date[1]}-${date[2]}-${date[3]}` };
}

/**
 * The literal text of the number at `keys` in a JSON text that JSON.parse accepted, or undefined
 * when the value there is not a number. Repeated keys: the last one wins, as in JSON.parse.
 *
 * A small scanner rather than a JSON library: the text is already validated, so it only has to
 * find token boundaries. It walks down the path and skips every other value without recursion
 * (string bodies by `indexOf`), so a 1 MiB event or deep nesting costs one linear pass. Node 20
 * has no `context.source` in JSON.parse revivers, and `@streamparser/json`'s tokenizer measured
 * 0.7 ms for a 1 KB event here (this scanner: a few microseconds).
 */
export function numberTextAt(text: string, keys: string[]): string | undefined {
  const n = text.length;
  let i = 0;
  let found: string | undefined;
  const ws = () => {
    for (let c = text.charCodeAt(i); c === 32 || c === 9 || c === 10 || c === 13; c = text.charCodeAt(++i));
  };
  /** At an opening quote: moves past the string, returns its bounds (quotes included). */
  const str = (): [number, number] => {
    const start = i;
    let j = i + 1;
    for (;;) {
      const q = text.indexOf('"', j);
      if (q < 0) throw new Error('unterminated string');
      let k = q - 1;
      while (text.charCodeAt(k) === 92) k--;
      if ((q - 1 - k) % 2 === 0) {
        i = q + 1;
        return [start, q + 1];
      }
      j = q + 1;
    }
  };
  const literal = (): string => {
    const start = i;
    // Up to the next ',' '}' ']' or white space.
    const end = (c: number) => c === 44 || c === 125 || c === 93 || c === 32 || c === 9 || c === 10 || c === 13;
    while (i < n && !end(text.charCodeAt(i))) i++;
    return text.slice(start, i);
  };
  /** Skips one value of any depth, iteratively. */
  const skip = () => {
    ws();
    const c = text.charCodeAt(i);
    if (c === 34) { str(); return; }
    if (c !== 123 && c !== 91) { literal(); return; }
    let depth = 0;
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d === 34) { str(); continue; }
      if (d === 123 || d === 91) {depth++;} else if (d === 125 || d === 93) {
        depth--;
        if (depth === 0) { i++; return; }
      }
      i++;
    }
  };
  /** A value whose path is `keys[0..depth)`. */
  const onPath = (depth: number): void => {
    ws();
    const c = text.charCodeAt(i);
    const atTarget = depth === keys.length;
    if (atTarget) {
      if (c === 34 || c === 123 || c === 91) { found = undefined; skip(); return; }
      const value = literal();
      found = /^-?[0-9]/.test(value) ? value : undefined;
      return;
    }
    if (c === 123) {
      i++;
      ws();
      if (text.charCodeAt(i) === 125) { i++; return; }
      for (;;) {
        ws();
        const [s, e] = str();
        const raw = text.slice(s + 1, e - 1);
        const key = raw.includes('\\') ? JSON.parse(text.slice(s, e)) as string : raw;
        ws();
        i++; // ':'
        if (key === keys[depth]) onPath(depth + 1);
        else skip();
        ws();
        if (text.charCodeAt(i++) === 125) return; // '}', else ','
      }
    }
    if (c === 91) {
      i++;
      ws();
      if (text.charCodeAt(i) === 93) { i++; return; }
      for (let index = 0; ; index++) {
        if (String(index) === keys[depth]) onPath(depth + 1);
        else skip();
        ws();
        if (text.charCodeAt(i++) === 93) return; // ']', else ','
      }
    }
    skip(); // a string or literal where the path needs a container
  };
  onPath(0);
  return found;
}

type ClaimOutcome = 'new' | 'duplicate' | 'failed';

interface ClaimState {
  readonly p: Parsed;
  /** Position in the batch: each round sends its keys in batch order, whatever order answers came in. */
  readonly order: number;
  /** insert: INSERT the claim; read: read the existing claim; swap: take over an expired claim. */
  stage: 'insert' | 'read' | 'swap';
  /** The expired claim's values, for the compare-and-swap. */
  old?: { seq: string; expiresAt: string };
  tries: number;
}

/**
 * Claims each (distinct) key with one conditional write. INSERT statements, 25 a request; a
 * `DuplicateItem` answer sends the key to a consistent read of its claim: the same record again
 * (its sequence number, not marked forwarded) is new, an expired claim is taken over by a
 * conditional UPDATE, anything else is a duplicate. Throttled statements are retried with backoff.
 */
async function claimAll(items: Parsed[], config: DedupConfig, deps: DedupDeps, nowMillis: number): Promise<Map<Parsed, ClaimOutcome>> {
  const outcomes = new Map<Parsed, ClaimOutcome>();
  if (items.length === 0) return outcomes;
  const sleep = deps.sleep ?? defaultSleep;
  const attempts = config.claimAttempts ?? 6;
  const base = config.backoffBaseMillis ?? 100;
  const limit = config.claimConcurrency ?? 64;
  const nowSeconds = Math.floor(nowMillis / 1000);
  const expiresAt = String(nowSeconds + config.ttlSeconds);
  const table = config.tableName.replace(/"/g, '""');
  let pending: ClaimState[] = items.map((p, order) => ({ p, order, stage: 'insert', tries: 0 }));

  const settle = (s: ClaimState, outcome: ClaimOutcome) => outcomes.set(s.p, outcome);
  const fail = (s: ClaimState, why: string) => {
    deps.log?.('error', 'claim failed', { seq: s.p.seq, error: why });
    settle(s, 'failed');
  };
  // Moves on after a retryable problem, or gives up after the attempts.
  const retry = (s: ClaimState, why: string, next: ClaimState[]) => {
    s.tries++;
    if (s.tries >= attempts) fail(s, why);
    else next.push(s);
  };

  // Stage changes do not count as attempts, but a key can only bounce (insert → read → insert when
  // TTL deleted the item in between) a bounded number of times.
  for (let round = 0; pending.length > 0; round++) {
    if (round >= attempts * 4) {
      pending.forEach((s) => fail(s, 'too many claim rounds'));
      break;
    }
    const next: ClaimState[] = [];
    let throttled = false;
    const retryLater = (s: ClaimState, why: string) => { throttled = true; retry(s, why, next); };
    const inserts = pending.filter((s) => s.stage === 'insert');
    const reads = pending.filter((s) => s.stage === 'read');
    const swaps = pending.filter((s) => s.stage === 'swap');

    const statementChunks: { stage: 'insert' | 'swap'; states: ClaimState[] }[] = [
      ...chunk(inserts, DYNAMODB_MAX_BATCH_STATEMENTS).map((states) => ({ stage: 'insert' as const, states })),
      ...chunk(swaps, DYNAMODB_MAX_BATCH_STATEMENTS).map((states) => ({ stage: 'swap' as const, states })),
    ];
    const readChunks = chunk(reads, DYNAMODB_MAX_BATCH_GET_KEYS);
    type Job = { kind: 'statements'; stage: 'insert' | 'swap'; states: ClaimState[] } | { kind: 'read'; states: ClaimState[] };
    const jobs: Job[] = [
      ...statementChunks.map((c) => ({ kind: 'statements' as const, ...c })),
      ...readChunks.map((states) => ({ kind: 'read' as const, states })),
    ];

    await mapLimit(jobs, limit, async (job) => {
      if (job.kind === 'read') {
        let response: any;
        try {
          response = await deps.dynamodb.send(new BatchGetItemCommand({
            RequestItems: { [config.tableName]: { Keys: job.states.map((s) => ({ pk: { S: s.p.claimKey } })), ConsistentRead: true } },
          }));
        } catch (e) {
          job.states.forEach((s) => retryLater(s, `BatchGetItem: ${(e as Error).name}: ${(e as Error).message}`));
          return;
        }
        const items2 = new Map<string, Record<string, AttributeValue>>();
        for (const item of response.Responses?.[config.tableName] ?? []) items2.set(item.pk.S, item);
        const unprocessed = new Set<string>((response.UnprocessedKeys?.[config.tableName]?.Keys ?? []).map((k: any) => k.pk.S));
        for (const s of job.states) {
          if (unprocessed.has(s.p.claimKey)) { retryLater(s, 'BatchGetItem left the key unprocessed'); continue; }
          const item = items2.get(s.p.claimKey);
          if (!item) { s.stage = 'insert'; next.push(s); continue; } // TTL deleted it since: claim again
          const seq = item.seq?.S;
          const expires = item.expiresAt?.N;
          if (seq === s.p.seq && item.fwd === undefined) {
            settle(s, 'new'); // this very record again, not known forwarded
          } else if (expires !== undefined && seq !== undefined && Number(expires) < nowSeconds) {
            s.stage = 'swap';
            s.old = { seq, expiresAt: expires };
            next.push(s);
          } else {
            settle(s, 'duplicate');
          }
        }
        return;
      }
      const statements = job.states.map((s) => (job.stage === 'insert'
        ? {
          Statement: `INSERT INTO "${table}" VALUE {'pk': ?, 'seq': ?, 'expiresAt': ?}`,
          Parameters: [{ S: s.p.claimKey }, { S: s.p.seq }, { N: expiresAt }],
        }
        : {
          // Compare-and-swap on the expired claim as read: a concurrent taker wins, we see a duplicate.
          Statement: `UPDATE "${table}" SET seq = ? SET expiresAt = ? REMOVE fwd WHERE pk = ? AND seq = ? AND expiresAt = ?`,
          Parameters: [{ S: s.p.seq }, { N: expiresAt }, { S: s.p.claimKey }, { S: s.old!.seq }, { N: s.old!.expiresAt }],
        }));
      let response: any;
      try {
        response = await deps.dynamodb.send(new BatchExecuteStatementCommand({ Statements: statements }));
      } catch (e) {
        job.states.forEach((s) => retryLater(s, `BatchExecuteStatement: ${(e as Error).name}: ${(e as Error).message}`));
        return;
      }
      const responses: any[] = response.Responses ?? [];
      job.states.forEach((s, i) => {
        const r = responses[i];
        if (!r) { retryLater(s, 'no response for the statement'); return; }
        const code: string | undefined = r.Error?.Code;
        if (!r.Error) {
          settle(s, 'new');
        } else if (code === 'DuplicateItem' || code === 'ConditionalCheckFailed') {
          s.stage = 'read'; // read what holds the key
          next.push(s);
        } else if (code && RETRYABLE_STATEMENT_ERRORS.has(code)) {
          retryLater(s, `${code}: ${r.Error.Message ?? ''}`);
        } else {
          fail(s, `${code}: ${r.Error.Message ?? ''}`);
        }
      });
    });

    pending = next.sort((a, b) => a.order - b.order);
    if (throttled && pending.length > 0) {
      const tries = Math.max(...pending.map((s) => s.tries));
      await sleep(Math.random() * Math.min(5000, base * 2 ** tries));
    }
  }
  return outcomes;
}

/**
 * Marks claims as forwarded (`fwd = true`, only while the claim still holds this record's sequence
 * number), 25 a request, retrying throttled statements with backoff. Returns the records it could
 * not mark.
 */
async function markForwarded(items: Parsed[], config: DedupConfig, deps: DedupDeps): Promise<Parsed[]> {
  const sleep = deps.sleep ?? defaultSleep;
  const attempts = config.markAttempts ?? 10;
  const base = config.backoffBaseMillis ?? 100;
  const table = config.tableName.replace(/"/g, '""');
  const order = new Map(items.map((p, i) => [p, i]));
  let pending = items;
  const unmarked: Parsed[] = [];
  for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
    if (attempt > 1) await sleep(Math.random() * Math.min(5000, base * 2 ** (attempt - 1)));
    const next: Parsed[] = [];
    await mapLimit(chunk(pending, DYNAMODB_MAX_BATCH_STATEMENTS), config.claimConcurrency ?? 64, async (group) => {
      let response: any;
      try {
        response = await deps.dynamodb.send(new BatchExecuteStatementCommand({
          Statements: group.map((p) => ({
            Statement: `UPDATE "${table}" SET fwd = ? WHERE pk = ? AND seq = ?`,
            Parameters: [{ BOOL: true }, { S: p.claimKey }, { S: p.seq }],
          })),
        }));
      } catch (e) {
        deps.log?.('warn', 'marking forwarded records failed', { attempt, records: group.length, error: (e as Error).name });
        next.push(...group);
        return;
      }
      group.forEach((p, i) => {
        const code: string | undefined = response.Responses?.[i]?.Error?.Code;
        if (!response.Responses?.[i]) next.push(p);
        else if (code === undefined || code === 'ConditionalCheckFailed') return; // marked, or the claim moved on (no longer ours to mark)
        else if (RETRYABLE_STATEMENT_ERRORS.has(code)) next.push(p);
        else unmarked.push(p);
      });
    });
    pending = next.sort((a, b) => order.get(a)! - order.get(b)!);
  }
  return [...unmarked, ...pending];
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
  const sleep = deps.sleep ?? defaultSleep;
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
      // A Kafka record's coordinates, key and headers, as the event source mapping sent them.
      ...((b.record as { kafka?: unknown }).kafka ? { kafka: (b.record as { kafka?: unknown }).kafka } : {}),
      dataEncoding: isText ? 'utf8' : 'base64',
      data: isText ? utf8 : b.record.kinesis.data,
    });
  }).join('\n') + '\n';
  const d = new Date(nowMillis);
  const day = `year=${d.getUTCFullYear()}/month=${pad(d.getUTCMonth() + 1)}/day=${pad(d.getUTCDate())}`;
  const first = bad[0].record;
  const shard = (first.eventID?.split(':')[0] ?? 'shard').replace(/[^A-Za-z0-9_-]/g, '_');
  // Named by shard and first sequence number: a redelivered batch overwrites its own object.
  const key = `${config.quarantinePrefix}${day}/${shard}-${first.kinesis.sequenceNumber.replace(/[^A-Za-z0-9_-]/g, '_')}.jsonl`;
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

function defaultSleep(millis: number): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, millis));
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
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
