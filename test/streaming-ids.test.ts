/**
 * Event ids are claimed by the exact text the source sent (generative, fast-check, fixed seed):
 * the literal-number scanner against every JSON shape around the id, and parseRecord's claim key
 * for ids of every JSON type and size. No service needed.
 */
import * as fc from 'fast-check';
import { config, kinesisRecord } from './support/streaming-fakes';
import { DYNAMODB_MAX_PARTITION_KEY_BYTES, numberTextAt, parseRecord } from '../src/ingestion/streaming/dedup-core';

const SEED = 1405;

/** A JSON number literal as a source might write it: integers of any size, fractions, exponents, -0. */
const numberLiteral = fc.oneof(
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
  fc.integer({ min: -64, max: 64 }).map((d) => String(2n ** 53n + BigInt(d))),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.nat(99999), fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.nat(500))
    .map(([i, f, e, sign, exp]) => `${i}.${f}${e}${sign}${exp}`),
  fc.constantFrom('-0', '0', '1e400', '-1e400', '1E-400'),
);
const ws = fc.constantFrom('', ' ', '\n', '\t', ' \r\n ');
const noise = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v));

test('numberTextAt returns the literal text at the path, whatever surrounds it (and JSON.parse agrees on its value)', () => {
  fc.assert(fc.property(numberLiteral, fc.array(fc.tuple(fc.string(), noise), { maxLength: 4 }), noise, ws, ws, fc.boolean(),
    (literal, siblings, earlier, w1, w2, nested) => {
      const members = siblings.map(([k, v]) => `${JSON.stringify(`s${k}`)}:${w1}${v}`);
      // An earlier value under the same key: JSON.parse keeps the last, so must the scanner.
      const inner = `{${w1}"event_id"${w2}:${earlier},${[...members, `"event_id"${w1}:${w2}${literal}${w1}`].join(',')}}`;
      const text = nested ? `{"a\\u0062c":${w2}[${earlier},${inner}]${w1}}` : inner;
      const keys = nested ? ['abc', '1', 'event_id'] : ['event_id'];
      const parsed = JSON.parse(text);
      const value = nested ? parsed.abc[1].event_id : parsed.event_id;
      expect(numberTextAt(text, keys)).toBe(literal);
      expect(Number(literal)).toBe(value);
    }), { seed: SEED, numRuns: 2000 });
});

test('numberTextAt returns nothing when the value at the path is not a number', () => {
  fc.assert(fc.property(fc.oneof(fc.string().map((s) => JSON.stringify(s)), fc.constantFrom('true', 'false', 'null', '{}', '[]', '[1]', '{"n":1}')),
    numberLiteral, (value, literal) => {
      expect(numberTextAt(`{"event_id": ${literal}, "event_id": ${value}}`, ['event_id'])).toBeUndefined();
      expect(numberTextAt(`{"x": {"event_id": ${literal}}, "event_id": ${value}}`, ['event_id'])).toBeUndefined();
    }), { seed: SEED, numRuns: 500 });
});

test('parseRecord claims ids of every JSON type and size by their exact text, or quarantines them with a reason', () => {
  const idLiteral = fc.oneof(
    numberLiteral.map((literal) => ({ literal, claim: literal as string | undefined })),
    fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => ({ literal: JSON.stringify(s), claim: s.length > 0 ? s : undefined })),
    fc.integer({ min: 1020, max: 1030 }).map((n) => {
      const s = 'ü'.repeat(n); // 2 bytes each: around DynamoDB's 2,048-byte key limit
      return { literal: JSON.stringify(s), claim: Buffer.byteLength(s) <= DYNAMODB_MAX_PARTITION_KEY_BYTES ? s : undefined };
    }),
    fc.constantFrom('true', 'false', 'null', '{}', '[]', '{"id":1}', '[1,2]').map((literal) => ({ literal, claim: undefined })),
  );
  fc.assert(fc.property(idLiteral, ws, ({ literal, claim }, w) => {
    const text = `{${w}"event_id":${w}${literal},"event_type":"a","event_time":"2026-01-31T00:00:00Z"}`;
    const result = parseRecord(kinesisRecord(text, 1), config());
    if (claim === undefined) {
      expect('reason' in result && /event id "event_id"/.test(result.reason)).toBe(true);
    } else {
      expect('reason' in result ? result.reason : result.claimKey).toBe(claim);
    }
  }), { seed: SEED, numRuns: 1000 });
});

test('a string id and a number id with the same text are one claim (as the curated MERGE reads ids as text)', () => {
  const claim = (literal: string) => {
    const result = parseRecord(kinesisRecord(`{"event_id":${literal},"event_type":"a","event_time":"2026-01-31T00:00:00Z"}`, 1), config());
    return 'reason' in result ? result.reason : result.claimKey;
  };
  expect(claim('"42"')).toBe(claim('42'));
  expect(claim('"9007199254740993"')).toBe(claim('9007199254740993'));
  expect(claim('1.0')).not.toBe(claim('1'));
});
