// README.md is read on npm and Construct Hub, where the repository's files are not beside it:
// every link must be absolute, and every link into the repository must be built from the one
// repository value (.projenrc.ts REPOSITORY -> package.json repository.url) and name a file that
// exists. Change REPOSITORY and this test lists the README links to update.
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf-8'));
const REPO = (pkg.repository.url as string).replace(/\.git$/, '');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf-8');

/** Markdown link and image targets outside code blocks. */
function links(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

test('the repository value is an https URL, and package.json and the Go module derive from it', () => {
  expect(REPO).toMatch(/^https:\/\/[\w.-]+\/[\w.-]+\/[\w.-]+$/);
  expect(pkg.jsii.targets.go.moduleName).toBe(`${REPO.replace(/^https:\/\//, '')}-go`);
  expect(fs.readFileSync(path.join(ROOT, '.projenrc.ts'), 'utf-8')).toContain(`const REPOSITORY = '${REPO}';`);
});

test('the README has no relative link (they break on npm and Construct Hub)', () => {
  const relative = links(readme).filter((l) => !/^(https?:|mailto:|#)/.test(l));
  expect(relative).toEqual([]);
});

test('every README link into the repository uses the repository value and names an existing file', () => {
  const intoRepo = links(readme).filter((l) => /\/(blob|raw|tree)\/main\//.test(l));
  expect(intoRepo.length).toBeGreaterThan(10);
  const wrongBase = intoRepo.filter((l) => !l.startsWith(`${REPO}/`));
  expect(wrongBase).toEqual([]);
  const missing = intoRepo
    .map((l) => l.slice(REPO.length).replace(/^\/(blob|raw|tree)\/main\//, '').replace(/#.*$/, ''))
    .filter((p) => !fs.existsSync(path.join(ROOT, p)));
  expect(missing).toEqual([]);
});

test('in-page anchors name a heading of the README', () => {
  const slugs = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((m) => m[1].toLowerCase().replace(/[^\w\s-]/g, '').trim().replace(/\s+/g, '-')));
  const anchors = links(readme).filter((l) => l.startsWith('#')).map((l) => l.slice(1));
  expect(anchors.filter((a) => !slugs.has(a))).toEqual([]);
});
