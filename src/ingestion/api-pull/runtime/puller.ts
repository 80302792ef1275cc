// Runtime code of the puller Lambda: its packages are bundled into the function by esbuild (devDependencies).
/* eslint-disable import/no-extraneous-dependencies */
import { Transform } from 'stream';
import { pipeline } from 'stream/promises';
import * as zlib from 'zlib';
import { CopyObjectCommand, DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { EndpointConfig, PullerConfig, WatermarkFormatConfig } from './config';
import { ERROR_NAMES, PullError } from './errors';
import { httpGet, nextLink, OpenResponse, parseRetryAfter, readSnippet, RequestTimeoutError } from './http';
import { JsonScanner, ScanResult } from './json-scan';
import { emfLine, METRIC_NAMES } from './metrics';
import { WatermarkStore } from './watermark';

/** Input of a pull: which endpoint, and which window (from the schedule or a re-run). */
export interface PullEvent {
  readonly action?: 'pull';
  readonly endpoint: string;
  /** Time the schedule fired (EventBridge Scheduler `<aws.scheduler.scheduled-time>`). */
  readonly scheduledTime?: string;
  /** Start time of the execution, used when the run was started by hand without a window. */
  readonly executionStartTime?: string;
  /** Explicit window start, to re-pull a window that was already committed. */
  readonly windowStart?: string;
  /** Explicit window end (a re-run passes the window of the run it repeats). */
  readonly windowEnd?: string;
}

/** One page in a run's manifest. */
export interface ManifestPage {
  readonly page: number;
  readonly key: string;
  readonly url: string;
  readonly status: number;
  readonly contentType?: string;
  readonly bytes: number;
  readonly records?: number;
  readonly fetchedAt: string;
}

/** What a pull returns (and the state machine passes on to the transform and the commit). */
export interface PullResult {
  readonly endpoint: string;
  readonly runId: string;
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly bucket: string;
  readonly runPrefix: string;
  readonly manifestKey: string;
  readonly manifestUrl: string;
  readonly pages: number;
  readonly records: number;
  readonly bytes: number;
  /** Transform settings of the endpoint (from the function's configuration, not from the input). */
  readonly recordsPath: string;
  readonly recordIdField: string;
  readonly tableName: string;
}

/** Input of a commit: the pull's result. */
export interface CommitEvent {
  readonly action?: 'commit';
  readonly endpoint: string;
  readonly runId: string;
  readonly windowEnd: string;
}

/** A file waiting in the upload drop, with the transform settings of its endpoint. */
export interface UploadItem {
  readonly endpoint: string;
  readonly key: string;
  readonly uploadUrl: string;
  readonly recordsPath: string;
  readonly recordIdField: string;
  readonly tableName: string;
}

/** Most files one upload run takes (the rest wait for the next run). */
export const MAX_UPLOADS_PER_RUN = 100;

/** What the puller needs from the outside world (real clients in Lambda, fakes or local servers in tests). */
export interface PullerDeps {
  readonly s3: S3Client;
  readonly watermarks: WatermarkStore;
  /** Returns the secret's string value. */
  readonly getSecret: (arn: string) => Promise<string | undefined>;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly now?: () => Date;
  /** Receives log lines (JSON) including metric lines; default `console.log`. */
  readonly log?: (line: string) => void;
  /** Multipart part size of page uploads; default 8 MiB (memory use is about 2 parts). */
  readonly partSize?: number;
  /** First backoff step, ms; default 1000. */
  readonly backoffBaseMs?: number;
  /** Largest backoff step, ms; default 30000. */
  readonly backoffMaxMs?: number;
}

const MiB = 1024 * 1024;
const JSON_TYPES = /^(application\/(.+\+)?json|text\/json|application\/x-ndjson)\b/i;

/** `2024-05-01T10:00:00Z` (second precision UTC) from any parseable instant. */
export function normalizeInstant(value: string, what: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new PullError(ERROR_NAMES.config, `${what} "${value}" is not an ISO-8601 instant`);
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** `20240501T100000Z`: the compact form used in keys and run ids. */
function compact(instant: string): string {
  return instant.replace(/[-:]/g, '');
}

function formatWatermark(instant: string, format: WatermarkFormatConfig): string {
  const ms = Date.parse(instant);
  switch (format) {
    case 'epochSeconds': return String(Math.floor(ms / 1000));
    case 'epochMillis': return String(ms);
    default: return instant;
  }
}

/** The puller: pulls one run of one endpoint into the raw zone, and commits watermarks. */
export class Puller {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => Date;
  private readonly log: (line: string) => void;

  constructor(private readonly config: PullerConfig, private readonly deps: PullerDeps) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? (() => new Date());
    this.log = deps.log ?? ((line) => console.log(line));
  }

  /** Pulls every page of one window, lands each unchanged, then writes the run's manifest. */
  public async pull(event: PullEvent): Promise<PullResult> {
    const ep = this.endpoint(event.endpoint);
    const stored = await this.deps.watermarks.get(ep.name);
    if (stored?.committedAt) {
      this.metrics(ep, { [METRIC_NAMES.watermarkAge]: Math.max(0, this.now().getTime() - Date.parse(stored.committedAt)) });
    }
    const end = normalizeInstant(event.windowEnd ?? event.scheduledTime ?? event.executionStartTime ?? this.now().toISOString(), 'windowEnd');
    let start: string;
    if (event.windowStart !== undefined) start = normalizeInstant(event.windowStart, 'windowStart');
    else if (ep.incremental) start = normalizeInstant(stored?.watermark ?? ep.incremental.initialWatermark, 'watermark');
    else start = end;
    if (ep.incremental && start >= end && event.windowStart === undefined) {
      throw new PullError(ERROR_NAMES.config, `endpoint "${ep.name}": the window ending ${end} is already committed (watermark ${start}); `
        + 'to pull it again, start the run with an explicit "windowStart"');
    }

    const runId = `${compact(start)}-${compact(end)}`;
    const runPrefix = `${ep.rawPrefix}window=${runId}/`;
    const auth = await this.resolveAuth(ep);
    const pages: ManifestPage[] = [];
    const seen = new Set<string>();

    let url: URL | undefined = this.firstUrl(ep, start, end, auth.query);
    let pageNumber = 1;
    while (url) {
      const redacted = redact(url, auth.secretQueryParameter);
      const landed = await this.fetchAndLand(ep, url, redacted, auth.headers, runId, runPrefix, pageNumber);
      pages.push(landed.page);
      this.metrics(ep, { [METRIC_NAMES.pages]: 1, [METRIC_NAMES.bytes]: landed.page.bytes, [METRIC_NAMES.records]: landed.page.records ?? 0 });

      const next = this.nextUrl(ep, url, pageNumber, landed, seen, redacted, auth.query);
      if (next && pageNumber >= ep.maxPages) {
        throw new PullError(ERROR_NAMES.maxPages, `endpoint "${ep.name}": ${ep.maxPages} pages landed and the API still has more `
          + `(max-pages guard); raise "maxPages" or narrow the window. Landed pages stay under s3://${this.config.bucket}/${runPrefix}`);
      }
      url = next;
      pageNumber += 1;
    }

    const manifestKey = `${runPrefix}_manifest.json`;
    const totals = {
      pages: pages.length,
      records: pages.reduce((n, p) => n + (p.records ?? 0), 0),
      bytes: pages.reduce((n, p) => n + p.bytes, 0),
    };
    const manifest = {
      version: 1,
      pipeline: this.config.pipelineName,
      endpoint: ep.name,
      runId,
      windowStart: start,
      windowEnd: end,
      recordsPath: ep.recordsPath ?? null,
      completedAt: this.now().toISOString(),
      ...totals,
      pageList: pages,
    };
    await this.deps.s3.send(new PutObjectCommand({
      Bucket: this.config.bucket,
      Key: manifestKey,
      Body: JSON.stringify(manifest, null, 2),
      ContentType: 'application/json',
    }));
    this.metrics(ep, { [METRIC_NAMES.runsLanded]: 1 });
    return {
      endpoint: ep.name,
      runId,
      windowStart: start,
      windowEnd: end,
      bucket: this.config.bucket,
      runPrefix,
      manifestKey,
      manifestUrl: `s3://${this.config.bucket}/${manifestKey}`,
      ...totals,
      recordsPath: ep.recordsPath ?? '$',
      recordIdField: ep.recordIdField ?? 'id',
      tableName: ep.tableName ?? ep.name,
    };
  }

  /** Moves the endpoint's watermark to the end of a landed (and transformed) window; never back. */
  public async commit(event: CommitEvent): Promise<{ advanced: boolean; watermark: string }> {
    const name = endpointName(event.endpoint);
    const watermark = normalizeInstant(event.windowEnd, 'windowEnd');
    const advanced = await this.deps.watermarks.advance(name, { watermark, runId: event.runId, committedAt: this.now().toISOString() });
    this.metrics(name, { [METRIC_NAMES.watermarkAdvanced]: 1, [METRIC_NAMES.watermarkAge]: 0 });
    return { advanced, watermark };
  }

  /**
   * Files waiting in the upload drop (`<pipeline>/_uploads/<endpoint>/<file>`), oldest first,
   * at most MAX_UPLOADS_PER_RUN. Files already handled sit under `_done/` and are skipped.
   */
  public async listUploads(): Promise<{ uploads: UploadItem[] }> {
    const root = this.config.uploadsPrefix;
    if (!root) throw new PullError(ERROR_NAMES.config, 'this pipeline has no upload drop');
    const found: { item: UploadItem; modified: number }[] = [];
    for (const ep of Object.values(this.config.endpoints)) {
      const prefix = `${root}${ep.name}/`;
      let token: string | undefined;
      do {
        const page = await this.deps.s3.send(new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: prefix, ContinuationToken: token }));
        for (const obj of page.Contents ?? []) {
          const key = obj.Key!;
          const rest = key.slice(prefix.length);
          if (!rest || rest.endsWith('/') || rest.startsWith('_done/')) continue;
          found.push({
            modified: obj.LastModified?.getTime() ?? 0,
            item: {
              endpoint: ep.name,
              key,
              uploadUrl: `s3://${this.config.bucket}/${key}`,
              recordsPath: ep.recordsPath ?? '$',
              recordIdField: ep.recordIdField ?? 'id',
              tableName: ep.tableName ?? ep.name,
            },
          });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token && found.length < 10 * MAX_UPLOADS_PER_RUN);
    }
    found.sort((a, b) => a.modified - b.modified || a.item.key.localeCompare(b.item.key));
    return { uploads: found.slice(0, MAX_UPLOADS_PER_RUN).map((f) => f.item) };
  }

  /** Moves a handled upload (merged, or quarantined by the transform) to `_done/` so it is not taken again. */
  public async finishUpload(event: { endpoint: string; key: string }): Promise<{ doneKey: string }> {
    const root = this.config.uploadsPrefix;
    const name = endpointName(event.endpoint);
    const prefix = `${root}${name}/`;
    if (!root || !event.key.startsWith(prefix) || event.key.slice(prefix.length).startsWith('_done/')) {
      throw new PullError(ERROR_NAMES.config, `"${event.key}" is not a file of the upload drop of endpoint "${name}"`);
    }
    const doneKey = `${prefix}_done/${event.key.slice(prefix.length)}`;
    const bucket = this.config.bucket;
    await this.deps.s3.send(new CopyObjectCommand({ Bucket: bucket, Key: doneKey, CopySource: `${bucket}/${encodeURIComponent(event.key).replace(/%2F/g, '/')}` }));
    await this.deps.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: event.key }));
    return { doneKey };
  }

  private endpoint(name: string): EndpointConfig {
    const ep = this.config.endpoints[name];
    if (!ep) {
      throw new PullError(ERROR_NAMES.config, `unknown endpoint "${name}"; configured: ${Object.keys(this.config.endpoints).join(', ')}`);
    }
    return ep;
  }

  private metrics(endpoint: EndpointConfig | string, values: Record<string, number>) {
    const name = typeof endpoint === 'string' ? endpoint : endpoint.name;
    this.log(emfLine(this.config.metricsNamespace, this.config.pipelineName, name, values, this.now()));
  }

  /** Reads the secret once per run and turns it into headers or a query parameter. */
  private async resolveAuth(ep: EndpointConfig): Promise<ResolvedAuth> {
    const auth = ep.auth;
    if (auth.kind === 'none') return { headers: {}, query: {} };
    const raw = await this.deps.getSecret(auth.secretArn);
    let secret: Record<string, unknown>;
    try {
      secret = JSON.parse(raw ?? '');
    } catch {
      throw new PullError(ERROR_NAMES.config, `endpoint "${ep.name}": the secret ${auth.secretArn} is not a JSON object; store it as JSON with the fields the auth names`);
    }
    const field = (name: string): string => {
      const value = secret?.[name];
      if (typeof value !== 'string' || value === '') {
        throw new PullError(ERROR_NAMES.config, `endpoint "${ep.name}": the secret ${auth.secretArn} has no non-empty string field "${name}"; `
          + `add it to the secret's JSON (fields present: ${Object.keys(secret ?? {}).join(', ') || 'none'})`);
      }
      return value;
    };
    switch (auth.kind) {
      case 'bearer': return { headers: { authorization: `Bearer ${field(auth.tokenField)}` }, query: {} };
      case 'apiKeyHeader': return { headers: { [auth.headerName.toLowerCase()]: field(auth.field) }, query: {} };
      case 'apiKeyQuery': return { headers: {}, query: { [auth.parameterName]: field(auth.field) }, secretQueryParameter: auth.parameterName };
      case 'basic': {
        const token = Buffer.from(`${field(auth.usernameField)}:${field(auth.passwordField)}`).toString('base64');
        return { headers: { authorization: `Basic ${token}` }, query: {} };
      }
    }
  }

  private firstUrl(ep: EndpointConfig, start: string, end: string, authQuery: Record<string, string>): URL {
    const url = new URL(ep.url);
    for (const [k, v] of Object.entries(ep.query)) url.searchParams.set(k, v);
    if (ep.incremental) {
      url.searchParams.set(ep.incremental.sinceParameter, formatWatermark(start, ep.incremental.format));
      if (ep.incremental.untilParameter) url.searchParams.set(ep.incremental.untilParameter, formatWatermark(end, ep.incremental.format));
    }
    const p = ep.pagination;
    if (p.kind === 'pageNumber') {
      url.searchParams.set(p.parameter, String(p.startAt));
      if (p.pageSizeParameter && p.pageSize !== undefined) url.searchParams.set(p.pageSizeParameter, String(p.pageSize));
    } else if (p.kind === 'offset') {
      url.searchParams.set(p.offsetParameter, '0');
      url.searchParams.set(p.limitParameter, String(p.limit));
    }
    for (const [k, v] of Object.entries(authQuery)) url.searchParams.set(k, v);
    return url;
  }

  /** The next page's URL, or undefined at the end; throws on a cursor or link that repeats. */
  private nextUrl(ep: EndpointConfig, current: URL, pageNumber: number, landed: Landed, seen: Set<string>, redacted: string,
    authQuery: Record<string, string>): URL | undefined {
    const p = ep.pagination;
    const records = landed.scan.records;
    switch (p.kind) {
      case 'none':
        return undefined;
      case 'pageNumber': {
        if (records === 0 || (p.pageSize !== undefined && records < p.pageSize)) return undefined;
        const next = new URL(current);
        next.searchParams.set(p.parameter, String(p.startAt + pageNumber));
        return next;
      }
      case 'offset': {
        if (records === 0 || records < p.limit) return undefined;
        const next = new URL(current);
        next.searchParams.set(p.offsetParameter, String(pageNumber * p.limit));
        return next;
      }
      case 'cursor': {
        const cursor = landed.scan.cursor;
        if (cursor === undefined) return undefined;
        if (seen.has(cursor)) {
          throw new PullError(ERROR_NAMES.badInput, `endpoint "${ep.name}": page ${pageNumber} (${redacted}) returned cursor "${cursor}" `
            + 'which an earlier page of this run already returned; the API is looping, so the run stops here. Landed pages are kept; the watermark did not move');
        }
        seen.add(cursor);
        const next = new URL(current);
        next.searchParams.set(p.parameter, cursor);
        return next;
      }
      case 'linkHeader': {
        const link = nextLink(landed.linkHeader, current);
        if (!link) return undefined;
        const origin = new URL(ep.url).origin;
        if (link.origin !== origin) {
          throw new PullError(ERROR_NAMES.badInput, `endpoint "${ep.name}": the Link header points to ${link.origin}, another origin than ${origin}; `
            + 'the puller follows links on the endpoint\'s own origin only (credentials are never sent elsewhere)');
        }
        for (const [k, v] of Object.entries(authQuery)) link.searchParams.set(k, v);
        const key = redact(link, Object.keys(authQuery)[0]);
        if (seen.has(key) || key === redacted) {
          throw new PullError(ERROR_NAMES.badInput, `endpoint "${ep.name}": the Link header of page ${pageNumber} points to ${key}, a page this run already pulled; `
            + 'the API is looping, so the run stops here. Landed pages are kept; the watermark did not move');
        }
        seen.add(redacted);
        seen.add(key);
        return link;
      }
    }
  }

  /** One page: request with retries, stream into raw, validate on the way; quarantine if bad. */
  private async fetchAndLand(ep: EndpointConfig, url: URL, redacted: string, authHeaders: Record<string, string>, runId: string,
    runPrefix: string, pageNumber: number): Promise<Landed> {
    const headers = { 'accept': 'application/json', 'accept-encoding': 'identity', 'user-agent': 'cdk-lakehouse-api-pull', ...ep.headers, ...authHeaders };
    const pageName = `page-${String(pageNumber).padStart(6, '0')}.json`;
    const key = `${runPrefix}${pageName}`;
    let lastProblem = '';
    for (let attempt = 1; attempt <= ep.maxAttempts; attempt++) {
      let res: OpenResponse;
      try {
        res = await httpGet(url, headers, ep.requestTimeoutMs, redacted);
      } catch (err) {
        lastProblem = describe(err);
        await this.backoff(attempt, ep);
        continue;
      }
      if (res.status === 429) {
        await readSnippet(res.body);
        const wait = parseRetryAfter(res.headers['retry-after'], this.now());
        lastProblem = `429 Too Many Requests (Retry-After: ${res.headers['retry-after'] ?? 'none'})`;
        if (wait !== undefined && wait > ep.maxRetryAfterSeconds) {
          throw new PullError(ERROR_NAMES.transient, `endpoint "${ep.name}": ${redacted} asked to retry after ${wait} s, more than `
            + `maxRetryAfter (${ep.maxRetryAfterSeconds} s); the run fails and can be re-run for the same window`);
        }
        if (attempt < ep.maxAttempts) {
          if (wait !== undefined) await this.sleep(wait * 1000);
          else await this.backoff(attempt, ep);
        }
        continue;
      }
      if (res.status >= 500) {
        const snippet = await readSnippet(res.body, 200);
        lastProblem = `HTTP ${res.status}: ${snippet}`;
        await this.backoff(attempt, ep);
        continue;
      }
      if (res.status < 200 || res.status >= 300) {
        const snippet = await readSnippet(res.body, 300);
        throw new PullError(ERROR_NAMES.client, `endpoint "${ep.name}": GET ${redacted} answered HTTP ${res.status}; `
          + `not retried (only 429, 5xx and timeouts are). Body starts: ${JSON.stringify(snippet)}`);
      }
      try {
        return await this.land(ep, res, key, redacted, runId, pageNumber, pageName, runPrefix);
      } catch (err) {
        if (err instanceof PullError) throw err;
        lastProblem = `the body broke off while streaming: ${describe(err)}`;
        await this.backoff(attempt, ep);
      }
    }
    throw new PullError(ERROR_NAMES.transient, `endpoint "${ep.name}": GET ${redacted} failed ${ep.maxAttempts} times; last problem: ${lastProblem}. `
      + 'The run fails (watermark unchanged) and can be re-run for the same window');
  }

  private async backoff(attempt: number, ep: EndpointConfig) {
    if (attempt >= ep.maxAttempts) return;
    const base = this.deps.backoffBaseMs ?? 1000;
    const cap = this.deps.backoffMaxMs ?? 30_000;
    // Full jitter: a random wait between 0 and the exponential step, so retries of many runs spread out.
    await this.sleep(Math.floor(this.random() * Math.min(cap, base * 2 ** (attempt - 1))));
  }

  /** Streams a 2xx body into `key` unchanged while scanning it; quarantines it if it is not valid. */
  private async land(ep: EndpointConfig, res: OpenResponse, key: string, redacted: string, runId: string, pageNumber: number,
    pageName: string, runPrefix: string): Promise<Landed> {
    const fetchedAt = this.now().toISOString();
    const contentType = headerValue(res.headers['content-type']);
    const declared = headerValue(res.headers['content-length']);
    const scanner = new JsonScanner({
      recordsPath: ep.recordsPath,
      cursorPath: ep.pagination.kind === 'cursor' ? ep.pagination.cursorPath : undefined,
    });
    let bytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        scanner.write(chunk);
        done(null, chunk);
      },
    });
    const encoding = headerValue(res.headers['content-encoding'])?.toLowerCase();
    const stages: NodeJS.ReadWriteStream[] = [];
    if (encoding === 'gzip' || encoding === 'x-gzip') stages.push(zlib.createGunzip());
    else if (encoding === 'deflate') stages.push(zlib.createInflate());
    else if (encoding === 'br') stages.push(zlib.createBrotliDecompress());

    const upload = new Upload({
      client: this.deps.s3,
      partSize: this.deps.partSize ?? 8 * MiB,
      queueSize: 1,
      leavePartsOnError: false,
      params: {
        Bucket: this.config.bucket,
        Key: key,
        Body: tap,
        ContentType: contentType ?? 'application/octet-stream',
        Metadata: {
          'source-url': asciiMeta(redacted, 1024),
          'http-status': String(res.status),
          'fetched-at': fetchedAt,
          'run-id': runId,
          'page': String(pageNumber),
          'endpoint': ep.name,
        },
      },
    });
    const streamed = pipeline(res.body, ...(stages as [NodeJS.ReadWriteStream]), tap);
    const uploaded = upload.done();
    const [s, u] = await Promise.allSettled([streamed, uploaded]);
    if (s.status === 'rejected') {
      if (u.status === 'fulfilled') await this.deleteQuietly(key);
      throw s.reason;
    }
    if (u.status === 'rejected') throw u.reason;
    if (declared !== undefined && !encoding && Number(declared) !== bytes) {
      await this.deleteQuietly(key);
      throw new Error(`body truncated: ${bytes} of ${declared} bytes`);
    }

    let problem: string | undefined;
    let scan: ScanResult = { records: 0, recordsFound: false };
    if (bytes === 0) problem = 'the body is empty (0 bytes) although the status was ' + res.status;
    else if (contentType && !JSON_TYPES.test(contentType)) problem = `the content type is "${contentType}", not JSON (an error page served with ${res.status}?)`;
    if (!problem) {
      try {
        scan = scanner.finish();
      } catch (err) {
        problem = `the body is not valid JSON: ${(err as Error).message}`;
      }
    }
    if (!problem && ep.recordsPath !== undefined && !scan.recordsFound) {
      problem = `the body has no records array at "${ep.recordsPath}"`;
    }
    const page: ManifestPage = {
      page: pageNumber,
      key,
      url: redacted,
      status: res.status,
      contentType,
      bytes,
      records: ep.recordsPath !== undefined ? scan.records : undefined,
      fetchedAt,
    };
    if (problem) {
      const quarantineKey = `${ep.quarantinePrefix}${runPrefix.slice(ep.rawPrefix.length)}${pageName}`;
      await this.quarantine(key, quarantineKey, { reason: problem, ...page, runId, endpoint: ep.name });
      this.metrics(ep, { [METRIC_NAMES.quarantined]: 1 });
      throw new PullError(ERROR_NAMES.badInput, `endpoint "${ep.name}": page ${pageNumber} (${redacted}): ${problem}. `
        + `The body is kept in quarantine at s3://${this.config.bucket}/${quarantineKey} with its reason; the run stops and the watermark did not move`);
    }
    return { page, scan, linkHeader: headerValue(res.headers.link) };
  }

  /** Moves a landed page to the quarantine prefix and writes its reason beside it. */
  private async quarantine(key: string, quarantineKey: string, reason: Record<string, unknown>) {
    const bucket = this.config.bucket;
    await this.deps.s3.send(new CopyObjectCommand({ Bucket: bucket, Key: quarantineKey, CopySource: `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}` }));
    await this.deps.s3.send(new PutObjectCommand({
      Bucket: bucket,
      Key: quarantineKey.replace(/\.json$/, '.reason.json'),
      Body: JSON.stringify({ ...reason, quarantinedAt: this.now().toISOString() }, null, 2),
      ContentType: 'application/json',
    }));
    await this.deps.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }

  private async deleteQuietly(key: string) {
    try {
      await this.deps.s3.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
    } catch {
      // the retry overwrites the same key anyway
    }
  }
}

interface ResolvedAuth {
  readonly headers: Record<string, string>;
  readonly query: Record<string, string>;
  /** The query parameter holding a secret (redacted in every URL kept). */
  readonly secretQueryParameter?: string;
}

interface Landed {
  readonly page: ManifestPage;
  readonly scan: ScanResult;
  readonly linkHeader?: string;
}

/** An endpoint name as the construct allows it (it becomes part of S3 keys and DynamoDB keys). */
function endpointName(name: string): string {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9_]*$/.test(name)) throw new PullError(ERROR_NAMES.config, `"${name}" is not an endpoint name`);
  return name;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The URL with the value of the secret query parameter (if any) replaced. */
export function redact(url: URL, secretParameter?: string): string {
  if (!secretParameter || !url.searchParams.has(secretParameter)) return url.toString();
  const copy = new URL(url);
  copy.searchParams.set(secretParameter, 'REDACTED');
  return copy.toString();
}

function asciiMeta(value: string, max: number): string {
  return value.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

function describe(err: unknown): string {
  if (err instanceof RequestTimeoutError) return err.message;
  const e = err as NodeJS.ErrnoException;
  return `${e?.code ? `${e.code} ` : ''}${e?.message ?? String(err)}`;
}
