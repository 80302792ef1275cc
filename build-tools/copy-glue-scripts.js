// Copies Glue scripts (src/**/glue/*.py) into lib/ so they ship beside the compiled constructs
// that deploy them (jsii only emits .js and .d.ts).
const fs = require('fs');
const path = require('path');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? walk(full) : [full];
  });
}

const copied = walk('src').filter((f) => f.endsWith('.py') && path.basename(path.dirname(f)) === 'glue');
for (const file of copied) {
  const target = path.join('lib', path.relative('src', file));
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(file, target);
}
console.log(`copied ${copied.length} Glue script(s) into lib/`);
