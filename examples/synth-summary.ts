/**
 * Prints what the reference lake synthesized: each stack and its resources by type.
 * Usage: ts-node examples/synth-summary.ts <cdk.out>
 */
import * as fs from 'fs';
import * as path from 'path';

const outdir = process.argv[2] ?? 'cdk.out';
const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf-8'));
const stacks = Object.entries<any>(manifest.artifacts ?? {}).filter(([, a]) => a.type === 'aws:cloudformation:stack');
if (stacks.length === 0) {
  console.error(`No stack found in ${outdir}`);
  process.exit(1);
}

console.log(`Synthesized ${stacks.length} stack(s) into ${outdir}/ (no AWS account used):`);
for (const [name, artifact] of stacks) {
  const template = JSON.parse(fs.readFileSync(path.join(outdir, artifact.properties.templateFile), 'utf-8'));
  const resources = Object.values<any>(template.Resources ?? {});
  const byType = new Map<string, number>();
  for (const r of resources) byType.set(r.Type, (byType.get(r.Type) ?? 0) + 1);
  console.log(`\n  ${name}: ${resources.length} resources (CloudFormation limit 500)`);
  for (const [type, count] of [...byType].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    console.log(`    ${String(count).padStart(3)}  ${type}`);
  }
}
