/**
 * Benchmark: the StreamingDedupIngestion handler's claim path, side by side in one run.
 *
 * Default scenario, a fixed-delay DynamoDB endpoint: a fake DynamoDB (its JSON protocol: PutItem,
 * UpdateItem, GetItem, BatchGetItem, BatchExecuteStatement with the handler's statements) in a
 * child process that answers every request after a fixed delay, called through the real SDK v3
 * client (signing, HTTP, parsing, retries), so the figures are what one invocation spends and
 * waits against a service with that latency. It models DynamoDB better than DynamoDB Local on two
 * shared cores (whose own CPU is the bottleneck). Compared, on the same batches, interleaved:
 * - "PutItem per record (before)": today's path until issue 14, one conditional PutItem per
 *   record, 64 in flight, then the same packing and forwarding;
 * - "PartiQL INSERT x25 (now)": `processBatch` as deployed (BatchExecuteStatement, 25 INSERTs a
 *   request, a consistent BatchGetItem for ids that already have a claim).
 * Prints records/s (wall), CPU ms per record (this process: handler + SDK), p50/p99 batch time,
 * DynamoDB requests per record, and the ratios (the machine is shared: compare ratios).
 *
 * `--local` runs the earlier scenario instead: DynamoDB Local with an added per-request delay, the
 * handler against a naive GetItem + PutItem handler.
 *
 * Run: `npx ts-node --project test/tsconfig.json benchmarks/streaming-dedup.ts [batches] [ms,ms] [--local]`.
 */
import { ChildProcess, fork } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { batches as firehoseBatches, DedupConfig, pack, Parsed, parseRecord, processBatch } from '../src/ingestion/streaming/dedup-core';
import { DynamoDbLocal } from '../test/support/dynamodb-local';
import { config, CountingSender, event, FakeFirehose, FakeS3, kinesisRecord, RecordingMetrics } from '../test/support/streaming-fakes';

const ARGS = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const LOCAL = process.argv.includes('--local');
const BATCHES = Number(ARGS[0] ?? '5');
/** Per DynamoDB request: the fake endpoint's fixed delay, or the delay added in front of DynamoDB Local. */
const LATENCIES = (ARGS[1] ?? (LOCAL ? '0,4' : '5,10')).split(',').map(Number);
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

async function mainLocal() {
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

// ---------------------------------------------------------------------------------------------
// Fixed-delay DynamoDB endpoint (runs in a child process, so its CPU is not the handler's).

type Item = Record<string, any>;

class StatementError extends Error {
  constructor(public readonly code: string) {
    super(code);
  }
}

/** One request of the handler's DynamoDB vocabulary against an in-memory table. */
function fakeDynamoDb(items: Map<string, Item>, target: string, body: any): any {
  const fail = (type: string) => { throw Object.assign(new Error('The conditional request failed'), { type }); };
  switch (target) {
    case 'PutItem': {
      // The pre-issue-14 claim: attribute_not_exists(pk) OR expiresAt < :now OR (seq = :seq AND attribute_not_exists(fwd)).
      const pk = body.Item.pk.S;
      const old = items.get(pk);
      const v = body.ExpressionAttributeValues ?? {};
      if (body.ConditionExpression && old && !(Number(old.expiresAt.N) < Number(v[':now']?.N ?? 0) || (old.seq?.S === v[':seq']?.S && !old.fwd))) {
        fail('ConditionalCheckFailedException');
      }
      items.set(pk, body.Item);
      return {};
    }
    case 'UpdateItem': {
      const old = items.get(body.Key.pk.S);
      if (!old || old.seq.S !== body.ExpressionAttributeValues[':seq'].S) fail('ConditionalCheckFailedException');
      old!.fwd = { BOOL: true };
      return {};
    }
    case 'GetItem': {
      const item = items.get(body.Key.pk.S);
      return item ? { Item: item } : {};
    }
    case 'BatchGetItem': {
      const [table, request] = Object.entries<any>(body.RequestItems)[0];
      return { Responses: { [table]: request.Keys.map((k: Item) => items.get(k.pk.S)).filter((i: Item | undefined) => i) }, UnprocessedKeys: {} };
    }
    case 'BatchExecuteStatement':
      return {
        Responses: body.Statements.map((st: { Statement: string; Parameters: Item[] }) => {
          try {
            const p = st.Parameters;
            if (st.Statement.startsWith('INSERT')) {
              if (items.has(p[0].S)) throw new StatementError('DuplicateItem');
              items.set(p[0].S, { pk: p[0], seq: p[1], expiresAt: p[2] });
            } else if (st.Statement.includes('SET fwd')) {
              const old = items.get(p[1].S);
              if (!old || old.seq.S !== p[2].S) throw new StatementError('ConditionalCheckFailed');
              old.fwd = p[0];
            } else {
              const old = items.get(p[2].S);
              if (!old || old.seq.S !== p[3].S || old.expiresAt.N !== p[4].N) throw new StatementError('ConditionalCheckFailed');
              items.set(p[2].S, { pk: p[2], seq: p[0], expiresAt: p[1] });
            }
            return {};
          } catch (e) {
            if (e instanceof StatementError) return { Error: { Code: e.code, Message: e.code } };
            throw e;
          }
        }),
      };
    default:
      throw new Error(`the fake does not speak ${target}`);
  }
}

function serveFakeDynamoDb(delayMillis: number) {
  const items = new Map<string, Item>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let status = 200;
      let out: any;
      try {
        out = fakeDynamoDb(items, String(req.headers['x-amz-target']).split('.')[1], JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        status = 400;
        out = { __type: `com.amazonaws.dynamodb.v20120810#${(e as any).type ?? 'ValidationException'}`, message: (e as Error).message };
      }
      setTimeout(() => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(out));
      }, delayMillis);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as any).port }));
}

async function startFakeDynamoDb(delayMillis: number): Promise<{ endpoint: string; child: ChildProcess }> {
  const child = fork(__filename, ['--serve-fake-dynamodb', String(delayMillis)], { execArgv: process.execArgv });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: any) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`the fake DynamoDB exited (${code})`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, child };
}

/** The claim path before issue 14: one conditional PutItem per record, 64 in flight; same parsing, packing and forwarding. */
async function putItemPath(records: KinesisStreamRecord[], cfg: DedupConfig, dynamodb: CountingSender, firehose: FakeFirehose): Promise<void> {
  const valid = records.map((r) => parseRecord(r, cfg)).filter((p): p is Parsed => !('reason' in p));
  const fresh: Parsed[] = [];
  const nowSeconds = Math.floor(Date.now() / 1000);
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < valid.length) {
      const p = valid[next++];
      try {
        await dynamodb.send(new PutItemCommand({
          TableName: cfg.tableName,
          Item: { pk: { S: p.claimKey }, seq: { S: p.seq }, expiresAt: { N: String(nowSeconds + cfg.ttlSeconds) } },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR (seq = :seq AND attribute_not_exists(fwd))',
          ExpressionAttributeValues: { ':now': { N: String(nowSeconds) }, ':seq': { S: p.seq } },
        }));
        fresh.push(p);
      } catch (e) {
        if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
      }
    }
  }));
  for (const call of firehoseBatches(pack(fresh))) {
    await firehose.send(new PutRecordBatchCommand({ DeliveryStreamName: cfg.deliveryStreamName, Records: call.map((r) => ({ Data: r.data })) }));
  }
}

interface PathResult {
  name: string;
  recordsPerSecond: number;
  cpuMillisPerRecord: number;
  p50Millis: number;
  p99Millis: number;
  requestsPerRecord: number;
  newEvents: number;
}

async function fixedDelayScenario(latency: number): Promise<Record<string, unknown>> {
  const fake = await startFakeDynamoDb(latency);
  try {
    const client = () => new DynamoDBClient({
      endpoint: fake.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' }, maxAttempts: 5, retryMode: 'adaptive',
    });
    const batchesOf = makeBatches();
    const records = batchesOf.length * BATCH_SIZE;
    const paths = [
      { name: 'PutItem per record (before)', table: `before_${latency}`, run: putItemPath },
      {
        name: 'PartiQL INSERT x25 (now)',
        table: `now_${latency}`,
        run: async (rs: KinesisStreamRecord[], cfg: DedupConfig, dynamodb: CountingSender, firehose: FakeFirehose) => {
          const response = await processBatch({ Records: rs }, cfg, { dynamodb, firehose, s3: new FakeS3(), metrics: new RecordingMetrics() });
          if (response.batchItemFailures.length > 0) throw new Error('the benchmark batch reported failures');
        },
      },
    ].map((p) => ({ ...p, dynamodb: new CountingSender(client()), firehose: new FakeFirehose(), wall: [] as number[], cpu: 0 }));

    // Warm both paths (JIT, sockets) on a batch of their own.
    for (const p of paths) await p.run(makeBatches()[0].slice(0, 300), config({ tableName: `warm_${p.table}` }), new CountingSender(client()), new FakeFirehose());

    for (const batch of batchesOf) {
      for (const p of paths) { // interleaved: both see the same machine load
        const cpu = process.cpuUsage();
        const start = process.hrtime.bigint();
        await p.run(batch, config({ tableName: p.table }), p.dynamodb, p.firehose);
        p.wall.push(Number(process.hrtime.bigint() - start) / 1e6);
        const used = process.cpuUsage(cpu);
        p.cpu += (used.user + used.system) / 1000;
      }
    }
    const results: PathResult[] = paths.map((p) => ({
      name: p.name,
      recordsPerSecond: records / (p.wall.reduce((a, b) => a + b, 0) / 1000),
      cpuMillisPerRecord: p.cpu / records,
      p50Millis: percentile(p.wall, 50),
      p99Millis: percentile(p.wall, 99),
      requestsPerRecord: p.dynamodb.total() / records,
      newEvents: p.firehose.events().length,
    }));
    const [before, now] = results;
    if (before.newEvents !== now.newEvents) throw new Error(`the paths disagree on new events: ${before.newEvents} vs ${now.newEvents}`);
    const f = (n: number, d = 1) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
    console.log(`\n${BATCHES} batches x ${BATCH_SIZE} records, ${DUPLICATE_SHARE * 100} % duplicates, fake DynamoDB answering after ${latency} ms, real SDK v3 client\n`);
    console.log('claim path                        records/s   CPU ms/record   p50 batch ms   p99 batch ms   DDB requests/record');
    for (const r of results) {
      console.log(`${r.name.padEnd(32)} ${f(r.recordsPerSecond, 0).padStart(9)}   ${f(r.cpuMillisPerRecord, 3).padStart(13)}   ${f(r.p50Millis).padStart(12)}   `
        + `${f(r.p99Millis).padStart(12)}   ${f(r.requestsPerRecord, 3).padStart(19)}`);
    }
    console.log(`\nratios (now / before): throughput ${f(now.recordsPerSecond / before.recordsPerSecond, 1)}x, CPU per record `
      + `${f(now.cpuMillisPerRecord / before.cpuMillisPerRecord, 2)}x, requests per record ${f(now.requestsPerRecord / before.requestsPerRecord, 3)}x`);
    console.log(`goal >= 2,000 records/s: ${now.recordsPerSecond >= 2000 ? 'met' : 'NOT met'}; goal <= 0.2 ms CPU/record: ${now.cpuMillisPerRecord <= 0.2 ? 'met' : 'NOT met'}`);
    console.log(`new events: ${now.newEvents} of ${records} records (both paths agree)\n`);
    return { scenario: 'fixed-delay', latencyMillis: latency, batches: BATCHES, batchSize: BATCH_SIZE, before, now };
  } finally {
    fake.child.kill();
  }
}

async function mainFixedDelay() {
  const all: Record<string, unknown>[] = [];
  for (const latency of LATENCIES) all.push(await fixedDelayScenario(latency));
  const out = path.join(__dirname, 'out');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'streaming-dedup-fixed-delay.json'), JSON.stringify(all, null, 2));
}

if (process.argv[2] === '--serve-fake-dynamodb') {
  serveFakeDynamoDb(Number(process.argv[3]));
} else {
  (LOCAL ? mainLocal() : mainFixedDelay()).catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
