/**
 * ApiPullIngestion puller: peak memory and wall time pulling one page of 1, 10 and 100 MiB from a
 * local HTTP server into S3 (moto's server on 127.0.0.1), side by side with a version that
 * buffers the whole body (read it all, JSON.parse it, PutObject it) — the usual naive handler.
 *
 * Each measurement runs in a fresh child process, so its peak RSS is its own. Expected: the
 * streaming puller's peak stays flat as pages grow (about one 8 MiB upload part plus the runtime);
 * the buffering one grows with the page.
 *
 * Run: `npx ts-node --project test/tsconfig.json benchmarks/api-pull-stream.ts` (needs Python's
 * `moto[server]`, see test/python/api-pull/requirements.txt). Only loopback traffic.
 */
import { spawn } from 'child_process';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PullerConfig } from '../src/ingestion/api-pull/runtime/config';
import { Puller } from '../src/ingestion/api-pull/runtime/puller';
import { WatermarkStore } from '../src/ingestion/api-pull/runtime/watermark';
import { Moto } from '../test/api-pull-local';

const SIZES_MIB = (process.env.API_PULL_BENCH_SIZES ?? '1,10,100').split(',').map(Number);
const MODES = ['streaming', 'buffering'] as const;
const BUCKET = 'bench-raw';
const MiB = 1024 * 1024;

interface Result { mode: string; sizeMiB: number; bytes: number; records: number; wallMs: number; baseRssMiB: number; maxRssMiB: number }

// ---- the page server: a JSON page of the asked size, generated as it is sent ----------------
function startPageServer(): Promise<http.Server> {
  const record = JSON.stringify({ id: 'r-0000000000', amount: 12.5, customer: { name: 'x'.repeat(900), city: 'Lyon' } });
  const server = http.createServer((req, res) => {
    const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('bytes'));
    const head = '{"data":[';
    const tail = ']}';
    const count = Math.max(1, Math.floor((size - head.length - tail.length + 1) / (record.length + 1)));
    const length = head.length + tail.length + count * record.length + (count - 1);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': length });
    res.write(head);
    let i = 0;
    const pump = () => {
      while (i < count) {
        const chunk: string[] = [];
        for (let j = 0; j < 256 && i < count; j++, i++) chunk.push((i === 0 ? '' : ',') + record);
        if (!res.write(chunk.join(''))) return void res.once('drain', pump);
      }
      res.end(tail);
    };
    pump();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---- the two handlers, each run in a child process ------------------------------------------
async function streaming(s3: S3Client, url: string): Promise<{ bytes: number; records: number }> {
  const noWatermarks: WatermarkStore = { get: async () => undefined, advance: async () => true };
  const config: PullerConfig = {
    pipelineName: 'bench',
    bucket: BUCKET,
    watermarkTable: 'unused',
    metricsNamespace: 'Bench',
    endpoints: {
      page: {
        name: 'page',
        url,
        query: {},
        headers: {},
        auth: { kind: 'none' },
        pagination: { kind: 'none' },
        maxPages: 1,
        recordsPath: '$.data',
        rawPrefix: 'bench/page/',
        quarantinePrefix: '_quarantine/bench/page/',
        requestTimeoutMs: 60_000,
        maxAttempts: 1,
        maxRetryAfterSeconds: 1,
      },
    },
  };
  const puller = new Puller(config, { s3, watermarks: noWatermarks, getSecret: async () => undefined, log: () => undefined });
  const result = await puller.pull({ endpoint: 'page', windowEnd: new Date().toISOString() });
  return { bytes: result.bytes, records: result.records };
}

async function buffering(s3: S3Client, url: string): Promise<{ bytes: number; records: number }> {
  const body = await new Promise<Buffer>((resolve, reject) => {
    http.get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    }).on('error', reject);
  });
  const records = (JSON.parse(body.toString('utf8')) as { data: unknown[] }).data.length;
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'bench/buffered/page-000001.json', Body: body, ContentType: 'application/json' }));
  return { bytes: body.length, records };
}

async function child(mode: string, sizeMiB: number, pageUrl: string, s3Endpoint: string) {
  const s3 = new S3Client({ endpoint: s3Endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'b', secretAccessKey: 'b' } });
  const url = `${pageUrl}/page?bytes=${sizeMiB * MiB}`;
  const baseRssMiB = process.memoryUsage().rss / MiB;
  const start = performance.now();
  const out = mode === 'streaming' ? await streaming(s3, url) : await buffering(s3, url);
  const wallMs = performance.now() - start;
  const result: Result = { mode, sizeMiB, ...out, wallMs, baseRssMiB, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  s3.destroy();
}

function runChild(mode: string, sizeMiB: number, pageUrl: string, s3Endpoint: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', __filename, '--child', mode, String(sizeMiB), pageUrl, s3Endpoint], {
      env: { ...process.env, TS_NODE_PROJECT: path.join(__dirname, '..', 'test', 'tsconfig.json') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) reject(new Error(`${mode} ${sizeMiB} MiB failed (exit ${code}): ${out}`));
      else resolve(JSON.parse(line.slice('RESULT '.length)));
    });
  });
}

async function main() {
  const moto = new Moto();
  await moto.start();
  const server = await startPageServer();
  try {
    await moto.reset(BUCKET, 'unused');
    const pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const results: Result[] = [];
    for (const size of SIZES_MIB) {
      for (const mode of MODES) {
        const r = await runChild(mode, size, pageUrl, moto.endpoint);
        results.push(r);
        console.log(`${mode.padEnd(9)} ${String(size).padStart(4)} MiB page: ${(r.wallMs / 1000).toFixed(2).padStart(7)} s, `
          + `peak RSS ${r.maxRssMiB.toFixed(0).padStart(5)} MiB (process at start ${r.baseRssMiB.toFixed(0)} MiB), ${r.records} records`);
      }
    }
    console.log('\n| page | streaming: wall | streaming: peak RSS | buffering: wall | buffering: peak RSS |');
    console.log('| ---: | ---: | ---: | ---: | ---: |');
    for (const size of SIZES_MIB) {
      const s = results.find((r) => r.mode === 'streaming' && r.sizeMiB === size)!;
      const b = results.find((r) => r.mode === 'buffering' && r.sizeMiB === size)!;
      console.log(`| ${size} MiB | ${(s.wallMs / 1000).toFixed(2)} s | ${s.maxRssMiB.toFixed(0)} MiB | ${(b.wallMs / 1000).toFixed(2)} s | ${b.maxRssMiB.toFixed(0)} MiB |`);
    }
    const stream = results.filter((r) => r.mode === 'streaming').map((r) => r.maxRssMiB);
    console.log(`\nstreaming peak RSS spread across sizes: ${(Math.max(...stream) - Math.min(...stream)).toFixed(0)} MiB`);
  } finally {
    server.close();
    await moto.stop();
  }
}

if (process.argv[2] === '--child') {
  child(process.argv[3], Number(process.argv[4]), process.argv[5], process.argv[6]).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
