// The bundles the package ships (Lambda handlers and the CDC preflight CLI) are what projen's
// bundle tasks build from .projenrc.ts: minified, with an external source map that names the
// TypeScript sources but does not carry them, and still loadable on their own. A stack trace of a
// minified handler, run as Lambda would with NODE_OPTIONS=--enable-source-maps, names the
// TypeScript file and line.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '../..');

interface Bundle { readonly task: string; readonly entry: string; readonly outfile: string; readonly args: string[] }

function bundles(): Bundle[] {
  const tasks = JSON.parse(fs.readFileSync(path.join(ROOT, '.projen/tasks.json'), 'utf-8')).tasks;
  return Object.values<any>(tasks)
    .filter((t) => /^bundle:/.test(t.name) && !t.name.endsWith(':watch'))
    .map((t) => {
      const args: string[] = t.steps[0].execArgs;
      return { task: t.name, entry: args[2], outfile: args.find((a) => a.startsWith('--outfile='))!.slice('--outfile='.length), args };
    });
}

const ALL = bundles();
const LAMBDAS = ALL.filter((b) => b.entry.endsWith('.lambda.ts'));

// What each handler reads from its environment when it loads (its construct sets these).
const ENV_AT_LOAD: Record<string, Record<string, string>> = {
  'src/ingestion/streaming/dedup.lambda.ts': {
    PIPELINE_NAME: 'pipeline',
    ID_FIELD: 'id',
    TYPE_FIELD: 'type',
    SUBTYPE_FIELD: 'subtype',
    TIME_FIELD: 'time',
    DEDUP_TABLE_NAME: 'dedup',
    DEDUP_WINDOW_SECONDS: '86400',
    DELIVERY_STREAM_NAME: 'delivery',
    QUARANTINE_BUCKET: 'bucket',
    QUARANTINE_PREFIX: '_quarantine/x/',
  },
};

/** Copies a bundle's directory to a temp dir with no node_modules around it: it must stand alone. */
function isolated(b: Bundle): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-'));
  fs.cpSync(path.join(ROOT, path.dirname(b.outfile)), dir, { recursive: true });
  return path.join(dir, path.basename(b.outfile));
}

test('there are the five bundles the constructs and the CLI use', () => {
  expect(LAMBDAS.map((b) => b.entry).sort()).toEqual([
    'src/ingestion/api-pull/puller.lambda.ts',
    'src/ingestion/cdc/preflight.lambda.ts',
    'src/ingestion/streaming/dedup.lambda.ts',
    'src/ingestion/streaming/replay.lambda.ts',
  ]);
  expect(ALL.map((b) => b.entry)).toContain('./src/ingestion/cdc/preflight/cli.ts');
});

describe.each(ALL.map((b) => [b.task, b] as const))('%s', (_name, b) => {
  const code = () => fs.readFileSync(path.join(ROOT, b.outfile), 'utf-8');

  test('is built minified, with a source map that does not embed the sources', () => {
    expect(b.args).toEqual(expect.arrayContaining(['--minify', '--sourcemap', '--sources-content=false']));
  });

  test('the built file is minified: long lines, little whitespace, no comments but licence ones', () => {
    const text = code();
    const lines = text.split('\n');
    // esbuild's unminified output of the same entry: ~25 % whitespace, ~40 characters a line.
    expect(text.length / lines.length).toBeGreaterThan(1000);
    expect((text.match(/\s/g) ?? []).length / text.length).toBeLessThan(0.08);
    // esbuild keeps only legal comments (/*! ... */, @license, @preserve).
    const lineComments = lines.filter((l) => /^\s*\/\/(?!# sourceMappingURL=)/.test(l));
    expect(lineComments).toEqual([]);
  });

  test('its source map is beside it, names the TypeScript entry and carries no source text', () => {
    expect(code().trimEnd().endsWith(`//# sourceMappingURL=${path.basename(b.outfile)}.map`)).toBe(true);
    const map = JSON.parse(fs.readFileSync(path.join(ROOT, `${b.outfile}.map`), 'utf-8'));
    expect(map.version).toBe(3);
    const sources: string[] = map.sources.map((s: string) => path.relative(ROOT, path.resolve(ROOT, path.dirname(b.outfile), s)));
    expect(sources).toContain(path.normalize(b.entry));
    expect(map.sourcesContent ?? []).toEqual([]);
  });
});

describe.each(LAMBDAS.map((b) => [b.entry, b] as const))('%s, copied alone to a temp dir', (entry, b) => {
  test('loads and exports a handler; a failure inside it is reported at its TypeScript line', () => {
    const file = isolated(b);
    const script = `
      const m = require(${JSON.stringify(file)});
      if (typeof m.handler !== 'function') { console.log('NO_HANDLER'); process.exit(2); }
      Promise.resolve().then(() => m.handler(undefined, {})).then(
        () => console.log('RESOLVED'),
        (e) => console.log('STACK ' + e.stack.split('\\n').slice(0, 3).join(' | ')));`;
    const out = spawnSync(process.execPath, ['--enable-source-maps', '-e', script], {
      cwd: path.dirname(file),
      encoding: 'utf-8',
      timeout: 30_000,
      env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', ...ENV_AT_LOAD[entry] },
    });
    expect(out.stderr).not.toMatch(/Cannot find module|SyntaxError/);
    expect(out.status).toBe(0);
    // An undefined event fails in the handler's own code; the source map turns the minified
    // position into the TypeScript file (the handler or the core module it calls) and line.
    const stack = out.stdout.split('\n').find((l) => l.startsWith('STACK ')) ?? out.stdout;
    expect(stack).toMatch(new RegExp(`${path.dirname(entry).replace(/\//g, '\\/')}\\/[\\w.-]+\\.ts:\\d+:\\d+`));
  });
});

test('the preflight CLI bundle answers --help on its own, with pg bundled', () => {
  const b = ALL.find((x) => x.entry.endsWith('preflight/cli.ts'))!;
  const out = spawnSync(process.execPath, [isolated(b), '--help'], { encoding: 'utf-8', timeout: 30_000, env: { PATH: process.env.PATH } });
  expect(out.status).toBe(0);
  expect(out.stdout).toContain('--tables');
});
