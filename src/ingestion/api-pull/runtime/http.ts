import * as http from 'http';
import * as https from 'https';

/** A response whose body has not been read yet. */
export interface OpenResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: http.IncomingMessage;
}

/** Thrown when no byte moved on the socket for the idle timeout. */
export class RequestTimeoutError extends Error {
  constructor(url: string, timeoutMs: number) {
    super(`no data from ${url} for ${timeoutMs} ms`);
    this.name = 'RequestTimeoutError';
  }
}

/**
 * HTTP GET with an idle timeout: the request fails when no byte arrives for `timeoutMs`, while
 * the headers are awaited and while the body streams, so a slow-but-moving 100 MiB body is fine
 * and a stalled one is not. Resolves with the unread body; the caller streams it.
 *
 * @param redactedUrl the URL as it may appear in errors and logs (secrets removed)
 */
export function httpGet(url: URL, headers: Record<string, string>, timeoutMs: number, redactedUrl: string): Promise<OpenResponse> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: 'GET', headers }, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new RequestTimeoutError(redactedUrl, timeoutMs)));
    req.on('error', reject);
    req.end();
  });
}

/** Reads at most `limit` bytes of a body (for an error message) and discards the rest. */
export async function readSnippet(body: http.IncomingMessage, limit = 512): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      if (size < limit) {
        chunks.push(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
    }
  } catch {
    // a broken error body still gives the status; the snippet is a courtesy
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/**
 * Seconds to wait from a `Retry-After` header (delay-seconds or an HTTP date), or undefined when
 * absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: Date): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim());
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now.getTime()) / 1000));
}

/** The `rel="next"` target of a `Link` header, resolved against the current URL. */
export function nextLink(value: string | string[] | undefined, current: URL): URL | undefined {
  const text = Array.isArray(value) ? value.join(',') : value;
  if (!text) return undefined;
  for (const part of text.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!match) continue;
    const rels = /;\s*rel\s*=\s*"?([^";]+)"?/i.exec(match[2]);
    if (rels && rels[1].split(/\s+/).map((r) => r.toLowerCase()).includes('next')) {
      return new URL(match[1], current);
    }
  }
  return undefined;
}
