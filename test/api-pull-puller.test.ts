/**
 * The puller against a real HTTP server on 127.0.0.1 and moto's S3 / DynamoDB / Secrets Manager
 * on 127.0.0.1. Waits are recorded through an injected sleep, so nothing here depends on timing.
 */
import * as http from 'http';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ApiServer, json, Moto } from './api-pull-local';
import { EndpointConfig, PullerConfig } from '../src/ingestion/api-pull/runtime/config';
import { ERROR_NAMES } from '../src/ingestion/api-pull/runtime/errors';
import { Puller, PullResult } from '../src/ingestion/api-pull/runtime/puller';
import { DynamoWatermarkStore } from '../src/ingestion/api-pull/runtime/watermark';

jest.setTimeout(60_000);

const BUCKET = 'raw-zone';
const TABLE = 'watermarks';
const api = new ApiServer();
const moto = new Moto();

beforeAll(async () => {
  await Promise.all([api.start(), moto.start()]);
});
afterAll(async () => {
  await Promise.all([api.stop(), moto.stop()]);
});
beforeEach(async () => {
  await moto.reset(BUCKET, TABLE);
});

function endpoint(overrides: Partial<EndpointConfig> = {}): EndpointConfig {
  return {
    name: 'orders',
    url: `${api.baseUrl}/orders`,
    query: { region: 'eu' },
    headers: { 'x-client': 'lake' },
    auth: { kind: 'none' },
    pagination: { kind: 'none' },
    maxPages: 100,
    recordsPath: '$.data',
    rawPrefix: 'shop/orders/',
    quarantinePrefix: '_quarantine/shop/orders/',
    requestTimeoutMs: 2000,
    maxAttempts: 4,
    maxRetryAfterSeconds: 60,
    ...overrides,
  };
}

interface Harness {
  puller: Puller;
  waits: number[];
  logs: string[];
  store: DynamoWatermarkStore;
}

function harness(ep: EndpointConfig, extra: { partSize?: number; more?: EndpointConfig[] } = {}): Harness {
  const endpoints = Object.fromEntries([ep, ...(extra.more ?? [])].map((e) => [e.name, e]));
  const config: PullerConfig = { pipelineName: 'shop', bucket: BUCKET, watermarkTable: TABLE, metricsNamespace: 'Test', endpoints, uploadsPrefix: 'shop/_uploads/' };
  const waits: number[] = [];
  const logs: string[] = [];
  const store = new DynamoWatermarkStore(moto.dynamo, TABLE, 'shop');
  const puller = new Puller(config, {
    s3: moto.s3,
    watermarks: store,
    getSecret: (arn) => moto.getSecret(arn),
    sleep: async (ms) => {
      waits.push(ms);
    },
    random: () => 0.5,
    now: () => new Date('2024-05-01T12:00:30.123Z'),
    log: (line) => logs.push(line),
    partSize: extra.partSize,
  });
  return { puller, waits, logs, store };
}

async function manifest(result: PullResult) {
  return JSON.parse((await moto.object(BUCKET, result.manifestKey)).body.toString());
}

/** Pages of `size` records each, `pages` pages, served by page number. */
function pagedOrders(pages: number, size: number) {
  return (_req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    const page = Number(url.searchParams.get('page') ?? '1');
    const data = page <= pages ? Array.from({ length: size }, (_, i) => ({ id: `${page}-${i}`, amount: i })) : [];
    json(res, { data, page });
  };
}

describe('pagination', () => {
  test('page number: every page lands unchanged, with metadata, then a manifest', async () => {
    api.reset(pagedOrders(3, 2));
    const h = harness(endpoint({ pagination: { kind: 'pageNumber', parameter: 'page', startAt: 1, pageSizeParameter: 'per_page', pageSize: 2 } }));
    const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });

    // 3 full pages, then an empty 4th page ends the run.
    expect(api.requests.map((r) => r.url.searchParams.get('page'))).toEqual(['1', '2', '3', '4']);
    expect(api.requests[0].url.searchParams.get('per_page')).toBe('2');
    expect(api.requests[0].url.searchParams.get('region')).toBe('eu');
    expect(api.requests[0].headers['x-client']).toBe('lake');
    expect(result).toMatchObject({ pages: 4, records: 6, runId: '20240501T120000Z-20240501T120000Z' });
    const keys = await moto.keys(BUCKET, 'shop/orders/');
    expect(keys).toEqual([
      'shop/orders/window=20240501T120000Z-20240501T120000Z/_manifest.json',
      ...[1, 2, 3, 4].map((n) => `shop/orders/window=20240501T120000Z-20240501T120000Z/page-00000${n}.json`),
    ]);
    const page2 = await moto.object(BUCKET, keys[2]);
    expect(page2.body.toString()).toBe(JSON.stringify({ data: [{ id: '2-0', amount: 0 }, { id: '2-1', amount: 1 }], page: 2 }));
    expect(page2.metadata).toMatchObject({ 'http-status': '200', 'page': '2', 'run-id': result.runId, 'endpoint': 'orders' });
    expect(page2.metadata['source-url']).toContain('page=2');
    const m = await manifest(result);
    expect(m.pageList.map((p: { records: number }) => p.records)).toEqual([2, 2, 2, 0]);
    expect(m.records).toBe(6);
    expect(h.logs.some((l) => l.includes('"PagesPulled":1'))).toBe(true);
  });

  test('offset pagination stops at a short page', async () => {
    api.reset((_req, res, url) => {
      const offset = Number(url.searchParams.get('offset'));
      const all = Array.from({ length: 7 }, (_, i) => ({ id: i }));
      json(res, { data: all.slice(offset, offset + 3) });
    });
    const h = harness(endpoint({ pagination: { kind: 'offset', offsetParameter: 'offset', limitParameter: 'limit', limit: 3 } }));
    const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(api.requests.map((r) => r.url.searchParams.get('offset'))).toEqual(['0', '3', '6']);
    expect(result.records).toBe(7);
  });

  test('cursor from a JSON path, ending when the cursor is null', async () => {
    const next: Record<string, string | null> = { '': 'c1', 'c1': 'c2', 'c2': null };
    api.reset((_req, res, url) => {
      const cursor = url.searchParams.get('after') ?? '';
      json(res, { items: [{ id: cursor || 'first' }], meta: { next: next[cursor] } });
    });
    const h = harness(endpoint({ recordsPath: '$.items', pagination: { kind: 'cursor', cursorPath: '$.meta.next', parameter: 'after' } }));
    const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(api.requests.map((r) => r.url.searchParams.get('after'))).toEqual([null, 'c1', 'c2']);
    expect(result.pages).toBe(3);
  });

  test('Link header, followed on the same origin only', async () => {
    api.reset((_req, res, url) => {
      const page = Number(url.searchParams.get('p') ?? '1');
      const headers: Record<string, string> = page < 3 ? { link: `<${api.baseUrl}/orders?p=${page + 1}>; rel="next", <${api.baseUrl}/orders?p=1>; rel="first"` } : {};
      json(res, [{ id: page }], 200, headers);
    });
    const h = harness(endpoint({ recordsPath: '$', query: {}, pagination: { kind: 'linkHeader' } }));
    const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(api.requests.map((r) => r.url.search)).toEqual(['', '?p=2', '?p=3']);
    expect(result.records).toBe(3);

    api.reset((_req, res) => json(res, [{ id: 1 }], 200, { link: '<http://127.0.0.2:9/steal>; rel="next"' }));
    await expect(h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T13:00:00Z' })).rejects.toThrow(/another origin/);
  });

  test('numbers beyond 2^53: a numeric cursor is sent back as the exact text the API sent', async () => {
    // Written by hand: JSON.stringify cannot write these numbers.
    const next: Record<string, string> = { '': '9007199254740993', '9007199254740993': '12345678901234567890123', '12345678901234567890123': 'null' };
    api.reset((_req, res, url) => {
      const cursor = url.searchParams.get('after') ?? '';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"items":[{"id":1}],"meta":{"next":${next[cursor] ?? 'null'}}}`);
    });
    const h = harness(endpoint({ recordsPath: '$.items', pagination: { kind: 'cursor', cursorPath: '$.meta.next', parameter: 'after' } }));
    const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(api.requests.map((r) => r.url.searchParams.get('after'))).toEqual([null, '9007199254740993', '12345678901234567890123']);
    expect(result.pages).toBe(3);
  });

  test('a cursor that repeats stops the run with a clear error; landed pages are kept', async () => {
    api.reset((_req, res) => json(res, { items: [{ id: 1 }], meta: { next: 'same' } }));
    const h = harness(endpoint({ recordsPath: '$.items', pagination: { kind: 'cursor', cursorPath: '$.meta.next', parameter: 'after' } }));
    await expect(h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' }))
      .rejects.toMatchObject({ name: ERROR_NAMES.badInput, message: expect.stringMatching(/cursor "same" which an earlier page/) });
    expect(api.requests).toHaveLength(2);
    const keys = await moto.keys(BUCKET, 'shop/orders/');
    expect(keys).toHaveLength(2); // both pages kept, no manifest
    expect(keys.some((k) => k.endsWith('_manifest.json'))).toBe(false);
  });

  test('the max-pages guard fails a run that has more pages', async () => {
    api.reset(pagedOrders(10, 1));
    const h = harness(endpoint({ maxPages: 3, pagination: { kind: 'pageNumber', parameter: 'page', startAt: 1 } }));
    await expect(h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' }))
      .rejects.toMatchObject({ name: ERROR_NAMES.maxPages, message: expect.stringMatching(/3 pages landed and the API still has more/) });
    expect(api.requests).toHaveLength(3);
  });
});

describe('retries', () => {
  test('429 waits for Retry-After, then succeeds', async () => {
    let calls = 0;
    api.reset((_req, res) => {
      calls += 1;
      if (calls <= 2) {
        res.writeHead(429, { 'retry-after': '7' });
        res.end('slow down');
        return;
      }
      json(res, { data: [{ id: 1 }] });
    });
    const h = harness(endpoint());
    const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(result.records).toBe(1);
    expect(h.waits).toEqual([7000, 7000]);
  });

  test('Retry-After: 1.5 (decimal seconds) waits 2 s, not 0', async () => {
    let calls = 0;
    api.reset((_req, res) => {
      calls += 1;
      if (calls === 1) {
        res.writeHead(429, { 'retry-after': '1.5' });
        res.end('slow down');
        return;
      }
      json(res, { data: [{ id: 1 }] });
    });
    const h = harness(endpoint());
    const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(result.records).toBe(1);
    expect(h.waits).toEqual([2000]);
  });

  test('a Retry-After longer than allowed fails the run instead of waiting', async () => {
    api.reset((_req, res) => {
      res.writeHead(429, { 'retry-after': '3600' });
      res.end();
    });
    const h = harness(endpoint());
    await expect(h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' }))
      .rejects.toMatchObject({ name: ERROR_NAMES.transient, message: expect.stringMatching(/retry after 3600 s/) });
    expect(h.waits).toEqual([]);
  });

  test('5xx is retried with jittered exponential backoff', async () => {
    let calls = 0;
    api.reset((_req, res) => {
      calls += 1;
      if (calls <= 3) {
        res.writeHead(503);
        res.end('unavailable');
        return;
      }
      json(res, { data: [{ id: 1 }] });
    });
    const h = harness(endpoint());
    await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    // random() = 0.5 of 1 s, 2 s, 4 s
    expect(h.waits).toEqual([500, 1000, 2000]);
  });

  test('5xx that never ends fails after maxAttempts', async () => {
    api.reset((_req, res) => {
      res.writeHead(500);
      res.end('boom');
    });
    const h = harness(endpoint({ maxAttempts: 3 }));
    await expect(h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' }))
      .rejects.toMatchObject({ name: ERROR_NAMES.transient, message: expect.stringMatching(/failed 3 times; last problem: HTTP 500: boom/) });
    expect(api.requests).toHaveLength(3);
  });

  test('other 4xx fail fast, without a retry', async () => {
    api.reset((_req, res) => json(res, { error: 'no such resource' }, 404));
    const h = harness(endpoint());
    await expect(h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' }))
      .rejects.toMatchObject({ name: ERROR_NAMES.client, message: expect.stringMatching(/HTTP 404; not retried/) });
    expect(api.requests).toHaveLength(1);
    expect(h.waits).toEqual([]);
  });

  test('a slow response times out and is retried', async () => {
    let calls = 0;
    api.reset((_req, res) => {
      calls += 1;
      if (calls === 1) {
        setTimeout(() => json(res, { data: [{ id: 'late' }] }), 1500).unref();
        return;
      }
      json(res, { data: [{ id: 1 }] });
    });
    const h = harness(endpoint({ requestTimeoutMs: 300 }));
    const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(calls).toBe(2);
    expect(h.waits).toHaveLength(1);
    expect((await moto.object(BUCKET, `${result.runPrefix}page-000001.json`)).body.toString()).toBe('{"data":[{"id":1}]}');
  });

  test('a truncated body is retried and the complete body lands', async () => {
    let calls = 0;
    const full = JSON.stringify({ data: Array.from({ length: 50 }, (_, i) => ({ id: i })) });
    api.reset((req, res) => {
      calls += 1;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(full) });
      if (calls === 1) {
        res.write(full.slice(0, 40));
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      res.end(full);
    });
    const h = harness(endpoint());
    const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(calls).toBe(2);
    expect(result.records).toBe(50);
    expect((await moto.object(BUCKET, `${result.runPrefix}page-000001.json`)).body.toString()).toBe(full);
  });
});

describe('bad input goes to quarantine with a reason; the watermark does not move', () => {
  const incremental = { sinceParameter: 'since', initialWatermark: '2024-01-01T00:00:00Z', format: 'iso8601' as const };

  test.each([
    ['a body that is not JSON', 'application/json', 'this is not json', /not valid JSON/],
    ['an HTML error page served with 200', 'text/html; charset=utf-8', '<html><body>Maintenance</body></html>', /content type is "text\/html/],
    ['an empty page', 'application/json', '', /body is empty/],
    ['JSON without the records array', 'application/json', '{"error":"quota exceeded"}', /no records array at "\$.data"/],
    ['JSON cut short', 'application/json', '{"data":[{"id":1},', /not valid JSON/],
  ])('%s', async (_name, contentType, body, reason) => {
    api.reset((_req, res) => {
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    const h = harness(endpoint({ incremental }));
    await expect(h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' }))
      .rejects.toMatchObject({ name: ERROR_NAMES.badInput, message: expect.stringMatching(reason) });

    const q = await moto.keys(BUCKET, '_quarantine/shop/orders/');
    expect(q).toEqual([
      '_quarantine/shop/orders/window=20240101T000000Z-20240501T120000Z/page-000001.json',
      '_quarantine/shop/orders/window=20240101T000000Z-20240501T120000Z/page-000001.reason.json',
    ]);
    expect((await moto.object(BUCKET, q[0])).body.toString()).toBe(body);
    const why = JSON.parse((await moto.object(BUCKET, q[1])).body.toString());
    expect(why.reason).toMatch(reason);
    expect(why).toMatchObject({ status: 200, page: 1, endpoint: 'orders' });
    expect(await moto.keys(BUCKET, 'shop/')).toEqual([]);
    expect(await h.store.get('orders')).toBeUndefined();
    expect(h.logs.some((l) => l.includes('"PagesQuarantined":1'))).toBe(true);
  });

  test('a secret missing a field: clear error before any request', async () => {
    const arn = await moto.createSecret('api/orders', JSON.stringify({ user: 'svc' }));
    api.reset((_req, res) => json(res, { data: [] }));
    const h = harness(endpoint({ auth: { kind: 'basic', secretArn: arn, usernameField: 'user', passwordField: 'password' }, incremental }));
    await expect(h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' }))
      .rejects.toMatchObject({ name: ERROR_NAMES.config, message: expect.stringMatching(/has no non-empty string field "password".*fields present: user/) });
    expect(api.requests).toHaveLength(0);
    expect(await h.store.get('orders')).toBeUndefined();
  });
});

describe('auth', () => {
  test.each([
    ['bearer', { token: 't0ken' }, (ep: string) => ({ kind: 'bearer' as const, secretArn: ep, tokenField: 'token' }), (r: { url: URL; headers: http.IncomingHttpHeaders }) => r.headers.authorization === 'Bearer t0ken'],
    ['basic', { u: 'svc', p: 'pw' }, (ep: string) => ({ kind: 'basic' as const, secretArn: ep, usernameField: 'u', passwordField: 'p' }), (r: { url: URL; headers: http.IncomingHttpHeaders }) => r.headers.authorization === `Basic ${Buffer.from('svc:pw').toString('base64')}`],
    ['api key header', { key: 'k3y' }, (ep: string) => ({ kind: 'apiKeyHeader' as const, secretArn: ep, headerName: 'X-Api-Key', field: 'key' }), (r: { url: URL; headers: http.IncomingHttpHeaders }) => r.headers['x-api-key'] === 'k3y'],
    ['api key query', { key: 'k3y' }, (ep: string) => ({ kind: 'apiKeyQuery' as const, secretArn: ep, parameterName: 'api_key', field: 'key' }), (r: { url: URL; headers: http.IncomingHttpHeaders }) => r.url.searchParams.get('api_key') === 'k3y'],
  ])('%s: sent to the API, never written to the lake', async (_name, secret, auth, check) => {
    const arn = await moto.createSecret(`api/${_name}`, JSON.stringify(secret));
    api.reset(pagedOrders(2, 1));
    const h = harness(endpoint({ auth: auth(arn), pagination: { kind: 'pageNumber', parameter: 'page', startAt: 1, pageSize: 1, pageSizeParameter: 'n' } }));
    const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(api.requests.every(check)).toBe(true);
    const secretValues = Object.values(secret).filter((v) => v.length > 2);
    const written = [
      ...await Promise.all((await moto.keys(BUCKET)).map(async (k) => {
        const o = await moto.object(BUCKET, k);
        return JSON.stringify(o.metadata) + o.body.toString();
      })),
      JSON.stringify(result),
      ...h.logs,
    ].join('\n');
    for (const value of [...secretValues, Buffer.from('svc:pw').toString('base64')]) expect(written).not.toContain(value);
    if (_name === 'api key query') expect(written).toContain('api_key=REDACTED');
  });
});

describe('watermark and re-runs', () => {
  const incremental = { sinceParameter: 'since', untilParameter: 'until', initialWatermark: '2024-01-01T00:00:00Z', format: 'iso8601' as const };

  test('moves only when committed after a landed run; a failed run leaves it; the next run resumes from it', async () => {
    let fail = false;
    api.reset((_req, res) => (fail ? json(res, { message: 'oops' }, 400) : json(res, { data: [{ id: 1 }] })));
    const h = harness(endpoint({ incremental }));

    const first = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(api.requests[0].url.searchParams.get('since')).toBe('2024-01-01T00:00:00Z');
    expect(api.requests[0].url.searchParams.get('until')).toBe('2024-05-01T12:00:00Z');
    // Landed but not committed yet: the watermark has not moved.
    expect(await h.store.get('orders')).toBeUndefined();
    await expect(h.puller.commit({ endpoint: 'orders', runId: first.runId, windowEnd: first.windowEnd })).resolves.toEqual({ advanced: true, watermark: '2024-05-01T12:00:00Z' });
    expect((await h.store.get('orders'))?.watermark).toBe('2024-05-01T12:00:00Z');

    fail = true;
    await expect(h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T13:00:00Z' })).rejects.toThrow(/HTTP 400/);
    expect((await h.store.get('orders'))?.watermark).toBe('2024-05-01T12:00:00Z');

    fail = false;
    api.reset((_req, res) => json(res, { data: [{ id: 2 }] }));
    const third = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T14:00:00Z' });
    // The failed hour is not a gap: this window starts at the last committed watermark.
    expect(api.requests[0].url.searchParams.get('since')).toBe('2024-05-01T12:00:00Z');
    expect(third.windowStart).toBe('2024-05-01T12:00:00Z');
  });

  test('a re-run of the same window writes the same keys and the same manifest; a second commit is a no-op', async () => {
    api.reset(pagedOrders(2, 2));
    const ep = endpoint({ incremental, pagination: { kind: 'pageNumber', parameter: 'page', startAt: 1, pageSize: 2 } });
    const h = harness(ep);
    const first = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    const keysAfterFirst = await moto.keys(BUCKET);
    const firstManifest = await manifest(first);

    const again = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
    expect(again).toEqual(first);
    expect(await moto.keys(BUCKET)).toEqual(keysAfterFirst);
    expect(await manifest(again)).toEqual(firstManifest);

    await h.puller.commit({ endpoint: 'orders', runId: first.runId, windowEnd: first.windowEnd });
    await expect(h.puller.commit({ endpoint: 'orders', runId: first.runId, windowEnd: first.windowEnd })).resolves.toMatchObject({ advanced: false });
    // After the commit, the same window needs an explicit start to be pulled again.
    await expect(h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' })).rejects.toThrow(/already committed/);
    const rerun = await h.puller.pull({ endpoint: 'orders', windowStart: first.windowStart, windowEnd: first.windowEnd });
    expect(rerun.runId).toBe(first.runId);
  });
});

test('a page larger than one upload part streams through a multipart upload unchanged', async () => {
  // 5 MiB parts (the S3 minimum), a ~12 MiB body: three parts, never the whole body in one buffer.
  const record = JSON.stringify({ id: 'x', payload: 'y'.repeat(1000) });
  const count = 12 * 1024;
  api.reset((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }); // chunked, no length
    res.write('{"data":[');
    let i = 0;
    const pump = () => {
      while (i < count) {
        const ok = res.write((i === 0 ? '' : ',') + record);
        i += 1;
        if (!ok) return res.once('drain', pump);
      }
      res.end(']}');
      return undefined;
    };
    pump();
  });
  const h = harness(endpoint(), { partSize: 5 * 1024 * 1024 });
  const result = await h.puller.pull({ endpoint: 'orders', scheduledTime: '2024-05-01T12:00:00Z' });
  expect(result.records).toBe(count);
  const landed = await moto.object(BUCKET, `${result.runPrefix}page-000001.json`);
  expect(landed.body.length).toBe(result.bytes);
  expect(landed.body.length).toBe(9 + count * record.length + (count - 1) + 2);
  expect(landed.body.subarray(-2).toString()).toBe(']}');
});

describe('upload drop', () => {
  test('lists waiting files of every endpoint (not those already done) and moves a handled one to _done/', async () => {
    const h = harness(endpoint(), { more: [endpoint({ name: 'customers', tableName: 'customers_v1', recordIdField: 'customer.id', recordsPath: '$' })] });
    for (const key of ['shop/_uploads/orders/fix.csv', 'shop/_uploads/orders/_done/old.csv', 'shop/_uploads/customers/all.json', 'shop/orders/window=x/page-000001.json']) {
      await moto.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'id\n1\n' }));
    }
    const { uploads } = await h.puller.listUploads();
    expect(uploads.map((u) => u.key).sort()).toEqual(['shop/_uploads/customers/all.json', 'shop/_uploads/orders/fix.csv']);
    expect(uploads.find((u) => u.endpoint === 'customers')).toEqual({
      endpoint: 'customers',
      key: 'shop/_uploads/customers/all.json',
      uploadUrl: `s3://${BUCKET}/shop/_uploads/customers/all.json`,
      recordsPath: '$',
      recordIdField: 'customer.id',
      tableName: 'customers_v1',
    });

    await expect(h.puller.finishUpload({ endpoint: 'orders', key: 'shop/_uploads/orders/fix.csv' })).resolves.toEqual({ doneKey: 'shop/_uploads/orders/_done/fix.csv' });
    expect(await moto.keys(BUCKET, 'shop/_uploads/orders/')).toEqual(['shop/_uploads/orders/_done/fix.csv', 'shop/_uploads/orders/_done/old.csv']);
    expect((await h.puller.listUploads()).uploads.map((u) => u.key)).toEqual(['shop/_uploads/customers/all.json']);
    // Only files of the endpoint's own drop can be moved.
    await expect(h.puller.finishUpload({ endpoint: 'orders', key: 'shop/orders/window=x/page-000001.json' })).rejects.toThrow(/not a file of the upload drop/);
  });
});
