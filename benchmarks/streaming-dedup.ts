/**
 * Benchmark: the StreamingDedupIngestion handler against a naive handler (GetItem, then PutItem,
 * one record at a time, one Firehose record per event), side by side in one run, both against
 * the same DynamoDB Local (started here, loopback only) with an in-memory Firehose.
 *
 * Batches of 1,000 Kinesis records with 10 % duplicates. Prints records per second, p50/p99
 * batch latency, DynamoDB requests per record, Firehose calls and records per 500 new events,
 * and the ratio. Two scenarios: DynamoDB Local on loopback as is (bound by its own CPU on this
 * machine), and with a modelled in-region round trip added to every DynamoDB request (what a
 * Lambda sees against DynamoDB: latency-bound, where one-at-a-time requests are slow).
 * Run: `npx ts-node --project test/tsconfig.json benchmarks/streaming-dedup.ts [batches] [ms,ms]`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { processBatch } from '../src/ingestion/streaming/dedup-core';
import { DynamoDbLocal } from '../test/support/dynamodb-local';
import { config, CountingSender, event, FakeFirehose, FakeS3, kinesisRecord, RecordingMetrics } from '../test/support/streaming-fakes';

const BATCHES = Number(process.argv[2] ?? '5');
/** Added per DynamoDB request, to model the network: 0 = loopback as is; 4 ms ~ an in-region round trip. */
const LATENCIES = (process.argv[3] ?? '0,4').split(',').map(Number);
const BATCH_SIZE = 1000;
const DUPLICATE_SHARE = 0.1;
const TYPES = ['account', 'lesson', 'payment'];
const SUBTYPES = ['created', 'started', 'order'];

/** Batches of 1,000 records, 10 % of them repeating an id seen earlier in the run. */
function makeBatches(): KinesisStreamRecord[][] {
  const batches: KinesisStreamRecord[][] = [];
  let seq = 0;
  let nextId = 0;
  for (let b = 0; b < BATCHES; b++) {
    const records: KinesisStreamRecord[] = [];
    for (let i = 0; i < BATCH_SIZE; i++) {
      const duplicate = nextId > 0 && (i % Math.round(1 / DUPLICATE_SHARE)) === 0;
      const id = duplicate ? (nextId * 7919 + i) % nextId : nextId++;
      const t = id % TYPES.length;
      records.push(kinesisRecord(event(`bench-${id}`, TYPES[t], SUBTYPES[Math.floor(id / 4) % 3], '2026-01-31T10:00:00Z', {
        user: `u-${id % 5000}`, device: id % 2 ? 'mobile' : 'desktop', padding: 'x'.repeat(900),
      }), seq++));
    }
    batches.push(records);
  }
  return batches;
}

/** The seed 002 design: for each record, GetItem; if absent, PutItem; one Firehose record per event. */
async function naiveHandler(ev: KinesisStreamEvent, tableName: string, dynamodb: CountingSender, firehose: FakeFirehose): Promise<void> {
  const fresh: Buffer[] = [];
  for (const record of ev.Records) {
    const body = JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
    const existing = await dynamodb.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: String(body.event_id) } } }));
    if (existing.Item) continue;
    await dynamodb.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: String(body.event_id) }, expiresAt: { N: '0' } } }));
    fresh.push(Buffer.from(`${JSON.stringify(body)}\n`));
  }
  for (let i = 0; i < fresh.length; i += 500) {
    await firehose.send(new PutRecordBatchCommand({ DeliveryStreamName: 'naive', Records: fresh.slice(i, i + 500).map((Data) => ({ Data })) }));
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

interface Result {
  name: string;
  records: number;
  newEvents: number;
  seconds: number;
  recordsPerSecond: number;
  p50Millis: number;
  p99Millis: number;
  dynamodbRequestsPerRecord: number;
  firehoseCallsPer500New: number;
  firehoseRecordsPer500New: number;
}

function summarize(name: string, latencies: number[], records: number, dynamodb: CountingSender, firehose: FakeFirehose): Result {
  const seconds = latencies.reduce((a, b) => a + b, 0) / 1000;
  const newEvents = firehose.events().length;
  const firehoseRecords = firehose.callSizes.reduce((n, c) => n + c.records, 0);
  return {
    name,
    records,
    newEvents,
    seconds,
    recordsPerSecond: records / seconds,
    p50Millis: percentile(latencies, 50),
    p99Millis: percentile(latencies, 99),
    dynamodbRequestsPerRecord: dynamodb.total() / records,
    firehoseCallsPer500New: (firehose.calls / newEvents) * 500,
    firehoseRecordsPer500New: (firehoseRecords / newEvents) * 500,
  };
}

/** Adds a fixed delay before each request (a modelled network round trip). */
class Delayed {
  constructor(private readonly inner: { send(c: any): Promise<any> }, private readonly millis: number) {}
  public async send(command: any): Promise<any> {
    if (this.millis > 0) await new Promise((r) => setTimeout(r, this.millis));
    return this.inner.send(command);
  }
}

async function main() {
  const ddb = await DynamoDbLocal.start();
  const all: Record<string, unknown>[] = [];
  try {
    // Warm DynamoDB Local's JVM and both code paths on a throwaway table.
    await ddb.createDedupTable('bench_warm');
    for (const [i, batch] of makeBatches().slice(0, 2).entries()) {
      await processBatch({ Records: batch }, config({ tableName: 'bench_warm' }), { dynamodb: ddb.client(), firehose: new FakeFirehose(), s3: new FakeS3(), metrics: new RecordingMetrics() });
      if (i === 0) await naiveHandler({ Records: batch.slice(0, 200) }, 'bench_warm', new CountingSender(ddb.client()), new FakeFirehose());
    }
    for (const latency of LATENCIES) all.push(await scenario(ddb, latency));
  } finally {
    ddb.stop();
  }
  const out = path.join(__dirname, 'out');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'streaming-dedup.json'), JSON.stringify(all, null, 2));
}

async function scenario(ddb: DynamoDbLocal, latency: number): Promise<Record<string, unknown>> {
  {
    await ddb.createDedupTable(`bench_dedup_${latency}`);
    await ddb.createDedupTable(`bench_naive_${latency}`);
    const batches = makeBatches();
    const records = batches.length * BATCH_SIZE;

    const dedupDynamo = new CountingSender(new Delayed(ddb.client({ maxAttempts: 5 }), latency));
    const dedupFirehose = new FakeFirehose();
    const dedupLatencies: number[] = [];
    const naiveDynamo = new CountingSender(new Delayed(ddb.client({ maxAttempts: 5 }), latency));
    const naiveFirehose = new FakeFirehose();
    const naiveLatencies: number[] = [];
    const cfg = config({ tableName: `bench_dedup_${latency}` });
    const deps = { dynamodb: dedupDynamo, firehose: dedupFirehose, s3: new FakeS3(), metrics: new RecordingMetrics() };

    // Interleaved, so both see the same machine load.
    for (const batch of batches) {
      let start = process.hrtime.bigint();
      const response = await processBatch({ Records: batch }, cfg, deps);
      dedupLatencies.push(Number(process.hrtime.bigint() - start) / 1e6);
      if (response.batchItemFailures.length > 0) throw new Error('the benchmark batch reported failures');

      start = process.hrtime.bigint();
      await naiveHandler({ Records: batch }, `bench_naive_${latency}`, naiveDynamo, naiveFirehose);
      naiveLatencies.push(Number(process.hrtime.bigint() - start) / 1e6);
    }

    const dedup = summarize('StreamingDedupIngestion handler', dedupLatencies, records, dedupDynamo, dedupFirehose);
    const naive = summarize('naive GetItem + PutItem handler', naiveLatencies, records, naiveDynamo, naiveFirehose);
    if (dedup.newEvents !== naive.newEvents) throw new Error(`the handlers disagree on new events: ${dedup.newEvents} vs ${naive.newEvents}`);

    const f = (n: number, d = 1) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
    console.log(`\n${BATCHES} batches x ${BATCH_SIZE} records, ${DUPLICATE_SHARE * 100} % duplicates, DynamoDB Local ${ddb.endpoint}, `
      + `${latency ? `+${latency} ms modelled round trip per DynamoDB request` : 'loopback, no added latency'}\n`);
    console.log('handler                              records/s   p50 batch ms   p99 batch ms   DDB req/record   Firehose calls/500 new   Firehose records/500 new');
    for (const r of [dedup, naive]) {
      console.log(`${r.name.padEnd(36)} ${f(r.recordsPerSecond, 0).padStart(9)}   ${f(r.p50Millis).padStart(12)}   ${f(r.p99Millis).padStart(12)}   ${f(r.dynamodbRequestsPerRecord, 3).padStart(14)}   ${f(r.firehoseCallsPer500New, 3).padStart(22)}   ${f(r.firehoseRecordsPer500New, 1).padStart(24)}`);
    }
    const ratio = dedup.recordsPerSecond / naive.recordsPerSecond;
    console.log(`\nthroughput ratio (dedup / naive): ${f(ratio, 1)}x   target >= 10x: ${ratio >= 10 ? 'met' : 'NOT met'}`);
    console.log(`DynamoDB requests per record: ${f(dedup.dynamodbRequestsPerRecord, 3)}   target <= 1: ${dedup.dynamodbRequestsPerRecord <= 1 ? 'met' : 'NOT met'}`);
    console.log(`new events: ${dedup.newEvents} of ${records} records (both handlers agree)\n`);
    return { latencyMillis: latency, batches: BATCHES, batchSize: BATCH_SIZE, dedup, naive, ratio };
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
