/**
 * The dedup handler's Kafka adapter: turns a batch of Lambda's Kafka event source mapping (Amazon
 * MSK, `eventSource: "aws:kafka"`, or self-managed Kafka, `"SelfManagedKafka"`) into the records
 * `dedup-core.ts` claims, forwards and quarantines, so Kafka and Kinesis share one code path.
 *
 * The event shape is the one the Lambda developer guide documents (with-msk.html, with-kafka.html):
 * `records` maps `"<topic>-<partition>"` to records `{ topic, partition, offset, timestamp,
 * timestampType, key (base64), value (base64), headers: [{ "<name>": [byte, ...] }] }`.
 *
 * - A record's claim holds its Kafka coordinates `<topic>:<partition>:<offset>` where a Kinesis
 *   record's holds its sequence number: a redelivered record is recognised as itself (forwarded
 *   again if it never reached Firehose, dropped if it did), a copy at other coordinates is a duplicate.
 * - The event id, type, subtype or time may come from the record key or a header: the adapter puts
 *   that value into the JSON event (a top-level field) so raw, Firehose partitioning and the curated
 *   merge all read it from the event as they do for Kinesis. A value that already holds the field
 *   with another value is quarantined (two sources disagree), never silently overwritten.
 * - The Kafka event source retries a failed batch whole (Lambda developer guide, "Amazon MSK" /
 *   "self-managed Apache Kafka": "If your function returns an error for any of the messages in a
 *   batch, Lambda retries the whole batch of messages until processing succeeds or the messages
 *   expire"). So after a failure every forwarded record is marked forwarded and the invocation throws.
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import { DedupConfig, DedupDeps, processBatch, Quarantined } from './dedup-core';

/** The event source names Lambda's Kafka mappings put in `eventSource`. */
export const KAFKA_EVENT_SOURCES = ['aws:kafka', 'SelfManagedKafka'] as const;

/** One Kafka record as the event source mapping delivers it. */
export interface KafkaRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp?: number;
  readonly timestampType?: string;
  /** Base64; absent for a record without a key. */
  readonly key?: string | null;
  /** Base64; absent or null for a tombstone. */
  readonly value?: string | null;
  /** Each entry maps one header name to its value's bytes. */
  readonly headers?: Record<string, number[]>[];
}

/** A batch of Lambda's Kafka event source mapping. */
export interface KafkaEvent {
  readonly eventSource: string;
  /** The MSK cluster ARN (absent for self-managed Kafka). */
  readonly eventSourceArn?: string;
  readonly bootstrapServers?: string;
  readonly records: Record<string, KafkaRecord[]>;
}

/**
 * Where the event's id, type, subtype and time come from when not from the JSON value: `key` (the
 * record key, UTF-8) or `header:<name>` (the first header of that name, UTF-8).
 */
export interface KafkaFieldSources {
  readonly id?: string;
  readonly type?: string;
  readonly subtype?: string;
  readonly time?: string;
}

export function isKafkaEvent(event: unknown): event is KafkaEvent {
  const source = (event as { eventSource?: unknown } | null)?.eventSource;
  return typeof source === 'string' && (KAFKA_EVENT_SOURCES as readonly string[]).includes(source)
    && typeof (event as { records?: unknown }).records === 'object';
}

/** The claim's record identity: Kafka coordinates (topic names hold no ':'). */
export function kafkaCoordinates(r: Pick<KafkaRecord, 'topic' | 'partition' | 'offset'>): string {
  return `${r.topic}:${r.partition}:${r.offset}`;
}

/** The records of a Kafka batch, ready for `processBatch`, and those refused with their reason. */
export function kafkaToRecords(
  event: KafkaEvent, config: DedupConfig, sources: KafkaFieldSources = {},
): { records: KinesisStreamRecord[]; rejected: Quarantined[] } {
  const records: KinesisStreamRecord[] = [];
  const rejected: Quarantined[] = [];
  const roles: [keyof KafkaFieldSources, string][] = [['id', config.idField], ['type', config.typeField], ['subtype', config.subtypeField], ['time', config.timeField]];
  // Partitions in the order Lambda listed them, records by offset (as sent).
  for (const list of Object.values(event.records ?? {})) {
    for (const r of list) {
      const value = r.value ? Buffer.from(r.value, 'base64') : Buffer.alloc(0);
      const record = synthetic(event, r, value);
      const refuse = (reason: string) => rejected.push({ record, reason, data: value });
      if (!r.value) { refuse('a Kafka record without a value (a tombstone): nothing to land'); continue; }
      let text = value.toString('utf8');
      const given = roles.filter(([role]) => sources[role] !== undefined);
      if (given.length > 0) {
        let body: unknown;
        try { body = JSON.parse(text); } catch { body = undefined; }
        // Not a JSON object: left as it is, the core quarantines it with its own reason.
        if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
          const obj = body as Record<string, unknown>;
          const additions: string[] = [];
          let refused: string | undefined;
          for (const [role, field] of given) {
            const source = sources[role]!;
            const found = sourceValue(r, source);
            if (found === undefined || found === '') {
              // A missing subtype is allowed (it partitions as `none`), as in the value.
              if (role === 'subtype') continue;
              refused = `missing ${describe(source)} for the event ${role}`;
              break;
            }
            if (field in obj) {
              if (obj[field] !== found) {
                refused = `the value's "${field}" (${JSON.stringify(obj[field])?.slice(0, 200)}) and the ${describe(source)} (${JSON.stringify(found.slice(0, 200))}) disagree`;
                break;
              }
              continue;
            }
            additions.push(`${JSON.stringify(field)}:${JSON.stringify(found)}`);
          }
          if (refused) { refuse(refused); continue; }
          if (additions.length > 0) {
            const trimmed = text.trimEnd();
            const members = Object.keys(obj).length > 0;
            text = `${trimmed.slice(0, -1)}${members ? ',' : ''}${additions.join(',')}}`;
          }
        }
      }
      record.kinesis.data = Buffer.from(text, 'utf8').toString('base64');
      records.push(record);
    }
  }
  return { records, rejected };
}

/**
 * Processes one Kafka batch. Returns normally when every record is forwarded, a duplicate or
 * quarantined; throws when any record must be retried, after marking the forwarded ones so the
 * whole-batch retry forwards each event once.
 */
export async function processKafkaBatch(event: KafkaEvent, config: DedupConfig, deps: DedupDeps, sources: KafkaFieldSources = {}): Promise<void> {
  const { records, rejected } = kafkaToRecords(event, config, sources);
  const response = await processBatch({ Records: records }, config, deps, { redelivery: 'whole-batch', rejected });
  if (response.batchItemFailures.length > 0) {
    const ids = response.batchItemFailures.map((f) => f.itemIdentifier);
    throw new KafkaBatchRetryError(ids);
  }
}

/** Thrown so Lambda retries the batch: names the records (Kafka coordinates) that could not be claimed, forwarded or quarantined. */
export class KafkaBatchRetryError extends Error {
  constructor(public readonly failedRecords: string[]) {
    super(`${failedRecords.length} record(s) could not be processed (first: ${failedRecords.slice(0, 5).join(', ')}); `
      + 'the Kafka event source retries the whole batch, and forwarded records of it count as duplicates then');
    this.name = 'KafkaBatchRetryError';
  }
}

/** Reads `KAFKA_<ROLE>_FROM` settings (`key` or `header:<name>`) from an environment. */
export function kafkaSourcesFromEnv(env: Record<string, string | undefined>): KafkaFieldSources {
  return {
    id: env.KAFKA_ID_FROM || undefined,
    type: env.KAFKA_TYPE_FROM || undefined,
    subtype: env.KAFKA_SUBTYPE_FROM || undefined,
    time: env.KAFKA_TIME_FROM || undefined,
  };
}

function describe(source: string): string {
  return source === 'key' ? 'Kafka record key' : `Kafka header "${source.slice('header:'.length)}"`;
}

function sourceValue(r: KafkaRecord, source: string): string | undefined {
  if (source === 'key') return r.key ? Buffer.from(r.key, 'base64').toString('utf8') : undefined;
  const name = source.slice('header:'.length);
  for (const h of r.headers ?? []) {
    const bytes = h[name];
    if (Array.isArray(bytes)) return headerBytes(bytes).toString('utf8');
  }
  return undefined;
}

/** A Kinesis-shaped record carrying the Kafka record, so the core's claims and quarantine apply unchanged. */
function synthetic(event: KafkaEvent, r: KafkaRecord, value: Buffer): KinesisStreamRecord & { kafka: unknown } {
  const coordinates = kafkaCoordinates(r);
  return {
    eventID: `${r.topic}-${r.partition}:${r.offset}`,
    eventName: 'aws:kafka:record',
    eventSource: event.eventSource,
    eventSourceARN: event.eventSourceArn ?? event.bootstrapServers ?? '',
    eventVersion: '1.0',
    invokeIdentityArn: '',
    awsRegion: '',
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: r.key ?? '',
      sequenceNumber: coordinates,
      approximateArrivalTimestamp: (r.timestamp ?? 0) / 1000,
      data: value.toString('base64'),
    },
    kafka: {
      topic: r.topic,
      partition: r.partition,
      offset: r.offset,
      timestamp: r.timestamp,
      timestampType: r.timestampType,
      key: r.key ?? null,
      // Header values as base64 (Lambda sends them as byte arrays).
      headers: (r.headers ?? []).map((h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, headerBytes(v).toString('base64')]))),
    },
  };
}

/** A header value's bytes (Java sends signed bytes, -128..127, as JSON numbers). */
function headerBytes(values: number[]): Buffer {
  return Buffer.from(values.map((b) => ((b % 256) + 256) % 256));
}
