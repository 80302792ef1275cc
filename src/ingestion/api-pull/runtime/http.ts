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

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850_DATE = /^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * An HTTP-date (RFC 9110 section 5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms a
 * recipient must accept) as epoch milliseconds, or undefined. Only these three forms: `Date.parse`
 * takes almost anything (it reads "1.5" as a date in 2001).
 */
export function parseHttpDate(text: string, now: Date): number | undefined {
  const num = (v: string) => Number(v.trim());
  let parts: { weekday: string; day: number; month: number; year: number; time: string[] };
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    parts = { weekday: match[1], day: num(match[2]), month: MONTHS.indexOf(match[3]), year: num(match[4]), time: match.slice(5, 8) };
  } else if ((match = RFC850_DATE.exec(text))) {
    // A two-digit year more than 50 years in the future is the most recent past year with those digits.
    const thisYear = now.getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + num(match[4]);
    if (year > thisYear + 50) year -= 100;
    parts = { weekday: DAYS[LONG_DAYS.indexOf(match[1])], day: num(match[2]), month: MONTHS.indexOf(match[3]), year, time: match.slice(5, 8) };
  } else if ((match = ASCTIME_DATE.exec(text))) {
    parts = { weekday: match[1], day: num(match[3]), month: MONTHS.indexOf(match[2]), year: num(match[7]), time: match.slice(4, 7) };
  } else {
    return undefined;
  }
  const { weekday, day, month, year } = parts;
  const [h, m, s] = parts.time.map(num);
  if (h > 23 || m > 59 || s > 60) return undefined;
  const millis = Date.UTC(year, month, day, h, m, Math.min(s, 59));
  const date = new Date(millis);
  // Reject 31 Feb and friends (Date.UTC rolls them over) and a weekday that does not match.
  if (date.getUTCDate() !== day || date.getUTCMonth() !== month || DAYS[date.getUTCDay()] !== weekday) return undefined;
  return millis + (s === 60 ? 1000 : 0);
}

/**
 * Seconds to wait from a `Retry-After` header (RFC 9110 section 10.2.3: `HTTP-date /
 * delay-seconds`, delay-seconds being `1*DIGIT`), or undefined when absent or unreadable (the
 * caller then backs off on its own). A decimal such as `1.5` is not valid delay-seconds, but its
 * meaning is plain, so it is rounded up to whole seconds (`2`): never earlier than asked. A date in
 * the past means retry now (0).
 */
export function parseRetryAfter(value: string | string[] | undefined, now: Date): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  const text = raw?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  if (/^\d*\.\d+$|^\d+\.$/.test(text)) return Math.ceil(Number(text));
  const date = parseHttpDate(text, now);
  if (date === undefined) return undefined;
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
