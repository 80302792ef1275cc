/**
 * The API puller's parsing of what hostile or sloppy APIs send (generative, fast-check, fixed seed):
 * `Retry-After` read per RFC 9110 section 10.2.3 (delay-seconds or an HTTP-date in its three forms;
 * a decimal rounded up; anything else ignored), and numeric cursors carried as their exact text.
 */
import * as fc from 'fast-check';
import { parseHttpDate, parseRetryAfter } from '../src/ingestion/api-pull/runtime/http';
import { JsonScanner } from '../src/ingestion/api-pull/runtime/json-scan';

const SEED = 1405;
const NOW = new Date(Date.UTC(2026, 11, 1, 12, 0, 0));
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');

/** The three HTTP-date forms RFC 9110 section 5.6.7 defines (recipients must accept all three). */
function formats(d: Date): string[] {
  const time = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  return [
    d.toUTCString(), // IMF-fixdate
    `${LONG_DAYS[d.getUTCDay()]}, ${p2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${p2(d.getUTCFullYear() % 100)} ${time} GMT`,
    `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`,
  ];
}

describe('Retry-After (RFC 9110)', () => {
  test('Retry-After: 1.5 (decimal seconds) waits 2 s, not 0 (it used to be read as a date in 2001)', () => {
    expect(Date.parse('1.5')).not.toBeNaN(); // what the old parser fell into
    expect(parseRetryAfter('1.5', NOW)).toBe(2);
    expect(parseRetryAfter('0.1', NOW)).toBe(1);
    expect(parseRetryAfter(' 7 ', NOW)).toBe(7);
    expect(parseRetryAfter('-1', NOW)).toBeUndefined();
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter('Tue, 01 Dec 2026 12:00:30 GMT', NOW)).toBe(30);
  });

  test('delay-seconds: any run of digits is that many seconds', () => {
    fc.assert(fc.property(fc.nat({ max: 10 ** 9 }), fc.constantFrom('', ' ', '\t'), (n, pad) => {
      expect(parseRetryAfter(`${pad}${n}${pad}`, NOW)).toBe(n);
    }), { seed: SEED, numRuns: 500 });
  });

  test('a decimal is rounded up to whole seconds: the wait is never shorter than asked', () => {
    fc.assert(fc.property(fc.nat({ max: 100000 }), fc.nat({ max: 999 }), (whole, frac) => {
      const text = `${whole}.${String(frac).padStart(3, '0')}`;
      const wait = parseRetryAfter(text, NOW)!;
      expect(Number.isInteger(wait)).toBe(true);
      expect(wait).toBeGreaterThanOrEqual(Number(text));
      expect(wait - Number(text)).toBeLessThan(1);
    }), { seed: SEED, numRuns: 500 });
  });

  test('an HTTP-date in each of its three forms gives the seconds until it (0 when past)', () => {
    // Whole seconds, within 49 years of now (the RFC 850 form carries a two-digit year).
    fc.assert(fc.property(fc.integer({ min: -49 * 365 * 86400, max: 49 * 365 * 86400 }), (offset) => {
      const date = new Date(NOW.getTime() + offset * 1000);
      for (const text of formats(date)) {
        expect([text, parseHttpDate(text, NOW)]).toEqual([text, date.getTime()]);
        expect([text, parseRetryAfter(text, NOW)]).toEqual([text, Math.max(0, offset)]);
      }
    }), { seed: SEED, numRuns: 500 });
  });

  test('anything else is no Retry-After at all (the caller backs off): never NaN, never negative', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (text) => {
      const wait = parseRetryAfter(text, NOW);
      if (wait !== undefined) {
        expect(Number.isInteger(wait) && wait >= 0).toBe(true);
        expect(/^\s*(\d+|\d*\.\d+|\d+\.)\s*$/.test(text) || parseHttpDate(text.trim(), NOW) !== undefined).toBe(true);
      }
    }), { seed: SEED, numRuns: 2000 });
    // Dates Date.parse would take but RFC 9110 does not, and impossible ones.
    for (const text of ['2026-12-01T12:00:30Z', 'Tue, 31 Feb 2026 12:00:00 GMT', 'Wed, 01 Dec 2026 12:00:30 GMT', 'Tue, 01 Dec 2026 24:00:00 GMT', '1.5.2026']) {
      expect([text, parseRetryAfter(text, NOW)]).toEqual([text, undefined]);
    }
  });
});

describe('numeric cursors are carried as the exact text the API sent', () => {
  const scan = (text: string, chunk: number) => {
    const scanner = new JsonScanner({ recordsPath: '$.data', cursorPath: '$.meta.next' });
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i += chunk) scanner.write(bytes.subarray(i, i + chunk));
    return scanner.finish();
  };

  test('a numeric cursor above 2^53 comes back unrounded', () => {
    const text = '{"data":[1],"meta":{"next":9007199254740993}}';
    expect(String(JSON.parse(text).meta.next)).toBe('9007199254740992'); // what rounding made of it
    expect(scan(text, 7).cursor).toBe('9007199254740993');
  });

  test('any number literal at the cursor path, split anywhere across chunks, is the cursor text', () => {
    const literal = fc.oneof(
      fc.bigInt({ min: -(10n ** 60n), max: 10n ** 60n }).map(String),
      fc.integer({ min: -64, max: 64 }).map((d) => String(2n ** 53n + BigInt(d))),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
      fc.constantFrom('1e400', '1.0', '-0', '1E+2', '12345678901234567890.123456789e-7', '7'.repeat(300)),
    );
    fc.assert(fc.property(literal, fc.integer({ min: 1, max: 16 }), fc.constantFrom('', ' ', '\n'), (n, chunk, w) => {
      expect(scan(`{"data":[],"meta":{${w}"next"${w}:${w}${n}${w}}}`, chunk).cursor).toBe(n);
    }), { seed: SEED, numRuns: 1000 });
  });
});
