import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf-8');

describe('README examples are real code', () => {
  test('the TypeScript usage block is examples/quickstart.ts, as a user imports it', () => {
    const file = fs.readFileSync(path.join(ROOT, 'examples/quickstart.ts'), 'utf-8').replace("from '../src'", "from 'cdk-lakehouse'");
    expect(readme).toContain('```ts nofixture\n' + file + '```');
  });

  test('the Python quick start is examples/python/quickstart.py (run by the Python suite)', () => {
    const file = fs.readFileSync(path.join(ROOT, 'examples/python/quickstart.py'), 'utf-8');
    expect(readme).toContain('```python\n' + file + '```');
  });

  // consumers/run.js (npx projen test:consumers) builds and synthesizes these two apps against the
  // jar and Go module jsii builds; the README shows them without their header comments.
  test.each([
    ['java', 'consumers/java/src/main/java/consumer/App.java'],
    ['go', 'consumers/go/main.go'],
  ])('the %s quick start is %s, the app the consumer check builds', (lang, file) => {
    const lines = fs.readFileSync(path.join(ROOT, file), 'utf-8').split('\n');
    const code = lines.slice(lines.findIndex((l) => !l.startsWith('//'))).join('\n').trimEnd();
    expect(readme).toContain('```' + lang + '\n' + code + '\n```');
  });

  test('examples/quickstart.ts synthesizes', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-'));
    execFileSync(path.join(ROOT, 'node_modules/.bin/ts-node'), ['--project', 'test/tsconfig.json', 'examples/quickstart.ts'], {
      cwd: ROOT, env: { ...process.env, CDK_OUTDIR: outdir, TS_NODE_TRANSPILE_ONLY: 'true' }, stdio: 'pipe',
    });
    const template = JSON.parse(fs.readFileSync(path.join(outdir, 'Lake.template.json'), 'utf-8'));
    const types = Object.values<any>(template.Resources).map((r) => r.Type);
    expect(types).toEqual(expect.arrayContaining(['AWS::Glue::Table', 'AWS::Glue::TableOptimizer', 'AWS::Athena::WorkGroup']));
  });
});
