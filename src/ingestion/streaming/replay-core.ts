/**
 * Replay of raw events: re-reads the raw objects of one event type over a date range and sends
 * their events back into the Kinesis stream, bounded in size. Each event travels in a replay
 * envelope (`{"cdk_lakehouse_replay":"<id>","event":<raw event>}`) that the dedup handler
 * claims once per replay id, so running the same replay twice forwards each event once; the
 * curated MERGE by event id keeps the curated table at one row per event in every case.
 */
import { createHash } from 'crypto';
import { gunzipSync } from 'zlib';
// Runtime code bundled into the Lambda asset by esbuild: the SDK is a devDependency on purpose.
/* eslint-disable import/no-extraneous-dependencies */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { replayEnvelope, SdkSender } from './dedup-core';

/** What an operator passes to the replay function. */
export interface ReplayRequest {
  /** Event type to replay (the `event_type` partition). */
  readonly eventType: string;
  /** First day to replay, `YYYY-MM-DD` (inclusive). */
  readonly from: string;
  /** Last day to replay, `YYYY-MM-DD` (inclusive). */
  readonly to: string;
  /** Replay id: the same id twice forwards each event once. Default: derived from the range. */
  readonly replayId?: string;
  /** Stop after this many events (the answer says where to continue). Default: the function's limit. */
  readonly maxEvents?: number;
  /** Continue after this S3 key (from a previous answer's `continueAfter`). */
  readonly startAfter?: string;
}

export interface ReplayResult {
  readonly replayId: string;
  readonly objects: number;
  readonly events: number;
  /** Set when the limit stopped the replay: pass it as `startAfter` to go on. */
  readonly continueAfter?: string;
}

export interface ReplayConfig {
  readonly bucket: string;
  /** Raw data prefix (ends with `/`). */
  readonly prefix: string;
  readonly streamName: string;
  /** Hard upper bound per invocation. */
  readonly maxEvents: number;
  /** Wrap events in a replay envelope (true when the dedup Lambda reads the stream). */
  readonly envelope: boolean;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const TYPE = /^[A-Za-z0-9_.-]{1,128}$/;
const KINESIS_MAX_RECORDS = 500;
const KINESIS_MAX_BYTES = 5 * 1024 * 1024;

export interface ReplayDeps {
  readonly s3: SdkSender;
  readonly kinesis: SdkSender;
  readonly sleep?: (ms: number) => Promise<void>;
}

export async function replay(request: ReplayRequest, config: ReplayConfig, deps: ReplayDeps): Promise<ReplayResult> {
  if (!TYPE.test(request.eventType ?? '')) throw new Error('eventType must be a partition value (letters, digits, _ . -)');
  if (!DAY.test(request.from ?? '') || !DAY.test(request.to ?? '') || request.from > request.to) {
    throw new Error('from and to must be days YYYY-MM-DD with from <= to');
  }
  const limit = Math.min(request.maxEvents ?? config.maxEvents, config.maxEvents);
  const replayId = request.replayId ?? `${request.eventType}:${request.from}:${request.to}`;
  if (replayId.length === 0 || replayId.length > 256) throw new Error('replayId must be 1 to 256 characters (it prefixes each claim key)');
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const typePrefix = `${config.prefix}event_type=${request.eventType}/`;

  let events = 0;
  let objects = 0;
  let token: string | undefined;
  let lastKey: string | undefined;
  let startAfter = request.startAfter;
  do {
    const page = await deps.s3.send(new ListObjectsV2Command({
      Bucket: config.bucket, Prefix: typePrefix, ContinuationToken: token, StartAfter: token ? undefined : startAfter,
    }));
    for (const object of page.Contents ?? []) {
      const key: string = object.Key;
      const day = dayOf(key);
      if (!day || day < request.from || day > request.to) continue;
      const lines = await readLines(deps.s3, config.bucket, key);
      if (events > 0 && events + lines.length > limit) {
        return { replayId, objects, events, continueAfter: lastKey };
      }
      // The event embedded as JSON: a few dozen bytes more, so an event Firehose took fits a Kinesis record again.
      const payloads = lines.map((line) => (config.envelope ? replayEnvelope(replayId, line) : line));
      await send(payloads, config.streamName, deps.kinesis, sleep);
      events += lines.length;
      objects++;
      lastKey = key;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
    startAfter = undefined;
  } while (token);
  return { replayId, objects, events };
}

/** `YYYY-MM-DD` from a key with `year=/month=/day=` segments. */
export function dayOf(key: string): string | undefined {
  const m = /year=(\d{4})\/month=(\d{2})\/day=(\d{2})\//.exec(key);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : undefined;
}

async function readLines(s3: SdkSender, bucket: string, key: string): Promise<string[]> {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  let body = Buffer.from(await response.Body.transformToByteArray());
  if (body.length > 2 && body[0] === 0x1f && body[1] === 0x8b) body = gunzipSync(body);
  return body.toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
}

async function send(lines: string[], streamName: string, kinesis: SdkSender, sleep: (ms: number) => Promise<void>): Promise<void> {
  let batch: { Data: Buffer; PartitionKey: string }[] = [];
  let bytes = 0;
  const flush = async () => {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 8) throw new Error(`PutRecords still failing for ${pending.length} records after 8 attempts`);
      if (attempt > 1) await sleep(Math.random() * Math.min(5000, 100 * 2 ** attempt));
      try {
        const response = await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: pending }));
        if (!response.FailedRecordCount) break;
        pending = pending.filter((_, i) => response.Records?.[i]?.ErrorCode !== undefined);
      } catch (e) {
        if (attempt >= 8) throw e;
      }
    }
    batch = [];
    bytes = 0;
  };
  for (const line of lines) {
    const data = Buffer.from(line, 'utf8');
    const entry = { Data: data, PartitionKey: partitionKeyOf(line) };
    if (batch.length >= KINESIS_MAX_RECORDS || bytes + data.length + 256 > KINESIS_MAX_BYTES) await flush();
    batch.push(entry);
    bytes += data.length + entry.PartitionKey.length;
  }
  if (batch.length > 0) await flush();
}

function partitionKeyOf(line: string): string {
  // Spread replayed events over shards; the hash of the line is stable across runs.
  return `replay-${createHash('sha1').update(line).digest('hex').slice(0, 16)}`;
}
