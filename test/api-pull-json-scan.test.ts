/**
 * The puller's streaming JSON scanner, compared with JSON.parse on whole documents: same verdict
 * (valid or not), same records count and cursor, whatever the chunk boundaries.
 */
import { JsonScanner } from '../src/ingestion/api-pull/runtime/json-scan';

function scan(text: string, chunkSize: number, options: { recordsPath?: string; cursorPath?: string }) {
  const scanner = new JsonScanner(options);
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i += chunkSize) scanner.write(bytes.subarray(i, i + chunkSize));
  return scanner.finish();
}

function get(doc: unknown, path: string): unknown {
  if (path === '$') return doc;
  return path.slice(2).split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), doc);
}

const VALID = [
  '{"data":[{"id":1},{"id":2,"nested":{"data":[9,9,9]}}],"meta":{"next":"c-1"}}',
  '{"meta":{"next":null},"data":[]}',
  '{"meta":{"next":42},"data":[1,"two",null,true,false,[3],{"x":"y"}]}',
  '{"data":[{"s":"quote \\" backslash \\\\ unicode \\u00e9 emoji 😀 é"}],"meta":{"next":"é-😀"}}',
  '  {"data" : [ {"a" : -1.5e+10 } , {"b":0} ] , "meta" : { "next" : "" } }  ',
  '{"other":{"data":[1,2,3]},"data":[{"deep":{"meta":{"next":"not-me"}}}]}',
];
const INVALID = [
  '', '   ', '<html><body>error</body></html>', '{"data":[1,2,', '{"data":[1,2]', '{"data":[1,,2]}', '{"data":[01]}',
  '{"data":[1]} trailing', '{"data":["unterminated]}', "{'data':[]}", '{"data":[tru]}', '{"data":[1]}}', 'null null',
];

describe.each([1, 3, 7, 1024])('chunks of %i bytes', (chunkSize) => {
  test.each(VALID)('valid: %s', (text) => {
    const doc = JSON.parse(text);
    const result = scan(text, chunkSize, { recordsPath: '$.data', cursorPath: '$.meta.next' });
    expect(result.records).toBe((get(doc, '$.data') as unknown[]).length);
    expect(result.recordsFound).toBe(true);
    const cursor = get(doc, '$.meta.next');
    expect(result.cursor).toBe(cursor === null || cursor === '' || cursor === undefined ? undefined : String(cursor));
  });

  test.each(INVALID)('invalid: %s', (text) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(() => scan(text, chunkSize, { recordsPath: '$.data' })).toThrow();
  });
});

test('a page that is an array, records at "$"', () => {
  expect(scan('[{"id":1},{"id":2},3]', 2, { recordsPath: '$' })).toEqual({ records: 3, recordsFound: true, cursor: undefined });
});

test('records path missing or not an array', () => {
  expect(scan('{"error":"quota"}', 4, { recordsPath: '$.data' })).toMatchObject({ recordsFound: false, records: 0 });
  expect(() => scan('{"data":{"id":1}}', 4, { recordsPath: '$.data' })).toThrow(/not an array/);
});
