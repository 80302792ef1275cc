// Every bundle the package ships carries the licence notices of the third-party code inside it.
// Which packages are inside is read from the bundle's own source map (esbuild lists every input
// file it put in the bundle there), independently of how build-tools/third-party-notices.js
// found them; each one must be in THIRD_PARTY_NOTICES.txt beside the bundle, with its version and
// its licence text exactly as the package ships it.
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '../..');

const OUTFILES: string[] = Object.values<any>(JSON.parse(fs.readFileSync(path.join(ROOT, '.projen/tasks.json'), 'utf-8')).tasks)
  .filter((t) => /^bundle:/.test(t.name) && !t.name.endsWith(':watch'))
  .map((t) => (t.steps[0].execArgs as string[]).find((a) => a.startsWith('--outfile='))!.slice('--outfile='.length));

/** Package directories (relative to the repository) of the node_modules inputs named in a source map. */
function bundledPackageDirs(outfile: string): string[] {
  const map = JSON.parse(fs.readFileSync(path.join(ROOT, `${outfile}.map`), 'utf-8'));
  const dirs = new Set<string>();
  for (const source of map.sources as string[]) {
    const parts = path.relative(ROOT, path.resolve(ROOT, path.dirname(outfile), source)).split(path.sep);
    const i = parts.lastIndexOf('node_modules');
    if (i < 0) continue;
    dirs.add(parts.slice(0, i + (parts[i + 1].startsWith('@') ? 3 : 2)).join('/'));
  }
  return [...dirs].sort();
}

test('every bundle has notices', () => {
  expect(OUTFILES.length).toBe(5);
});

describe.each(OUTFILES.map((o) => [o]))('%s', (outfile) => {
  const notices = () => fs.readFileSync(path.join(ROOT, path.dirname(outfile), 'THIRD_PARTY_NOTICES.txt'), 'utf-8');

  test('lists every bundled package with its version and licence text', () => {
    const dirs = bundledPackageDirs(outfile);
    expect(dirs.length).toBeGreaterThan(0);
    const text = notices();
    const missing: string[] = [];
    for (const dir of dirs) {
      const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, dir, 'package.json'), 'utf-8'));
      const line = text.split('\n').find((l) => l.startsWith(`- ${pkg.name}@${pkg.version} (`));
      if (!line) { missing.push(`${pkg.name}@${pkg.version}`); continue; }
      const licenceFile = fs.readdirSync(path.join(ROOT, dir)).find((f) => /^licen[cs]e(\.(md|txt))?$/i.test(f));
      if (licenceFile) {
        // The licence text, as the package ships it, is in the file.
        expect(text).toContain(fs.readFileSync(path.join(ROOT, dir, licenceFile), 'utf-8').trim());
      } else {
        expect(line).toContain(`(${pkg.license}`);
      }
    }
    expect(missing).toEqual([]);
  });

  test('names the packages the issue called out where they are bundled', () => {
    const names = bundledPackageDirs(outfile).map((d) => d.replace(/^.*node_modules\//, ''));
    const text = notices();
    for (const known of ['@aws-sdk/client-s3', '@aws-sdk/client-dynamodb', 'pg', '@streamparser/json', '@aws-lambda-powertools/logger']) {
      if (names.includes(known)) expect(text).toMatch(new RegExp(`^- ${known.replace(/[/.]/g, '\\$&')}@\\d`, 'm'));
    }
  });
});

test('the packages the issue named are each in at least one bundle\'s notices', () => {
  const all = OUTFILES.map((o) => fs.readFileSync(path.join(ROOT, path.dirname(o), 'THIRD_PARTY_NOTICES.txt'), 'utf-8')).join('\n');
  for (const known of ['@aws-sdk/client-s3', 'pg', '@streamparser/json', '@aws-lambda-powertools/metrics', '@aws-lambda-powertools/logger', '@smithy/core']) {
    expect(all).toMatch(new RegExp(`^- ${known.replace(/[/.]/g, '\\$&')}@\\d`, 'm'));
  }
});
