/**
 * Synthesizes lakes with 1, 10 and 100 Iceberg tables and prints, for each: synth time, peak
 * memory (max RSS of a fresh process per size) and CloudFormation resources, then the
 * resources each extra table adds. Run: `npx projen benchmark`.
 *
 * Each size runs in its own child process so one size's heap does not inflate the next.
 */
import { execFileSync } from 'child_process';
import { performance } from 'perf_hooks';
import { App, Stack } from 'aws-cdk-lib';
import { LakehouseTier } from '../src';

const SIZES = [1, 10, 100];

interface Measurement { tables: number; synthMs: number; baseRssMiB: number; maxRssMiB: number; resources: number }

function measure(tables: number): Measurement {
  // RSS before the lake exists: Node, ts-node and aws-cdk-lib loaded; the difference to the
  // peak is what synthesis itself needs.
  const baseRssMiB = process.memoryUsage().rss / 1024 / 1024;
  const start = performance.now();
  const app = new App({ outdir: `benchmarks/out/lake-${tables}` });
  const stack = new Stack(app, `Lake${tables}`);
  const lake = new LakehouseTier(stack, 'Lake');
  for (let i = 0; i < tables; i++) {
    lake.addIcebergTable(`T${i}`, {
      tableName: `table_${i}`,
      columns: [{ name: 'id', type: 'string' }, { name: 'value', type: 'double' }, { name: 'updated_at', type: 'timestamp' }],
    });
  }
  const assembly = app.synth();
  const synthMs = performance.now() - start;
  const template = assembly.getStackByName(stack.stackName).template;
  return {
    tables,
    synthMs,
    baseRssMiB,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    resources: Object.keys(template.Resources ?? {}).length,
  };
}

if (process.argv[2]) {
  // Child: measure one size and report it as JSON.
  console.log(JSON.stringify(measure(Number(process.argv[2]))));
} else {
  const results: Measurement[] = SIZES.map((n) => JSON.parse(
    execFileSync(process.execPath, [...process.execArgv, __filename, String(n)], {
      encoding: 'utf-8',
      // Children only run already type-checked code: skip type checking to keep their memory honest.
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' },
    }).trim().split('\n').pop()!,
  ));
  console.log('Iceberg tables | synth (ms) | RSS before (MiB) | peak RSS (MiB) | synth memory (MiB) | CFN resources | resources/table (marginal)');
  for (const r of results) {
    const perTable = r.tables > 1 ? ((r.resources - results[0].resources) / (r.tables - 1)).toFixed(2) : '-';
    const cells = [
      r.tables, r.synthMs.toFixed(0), r.baseRssMiB.toFixed(0), r.maxRssMiB.toFixed(0),
      (r.maxRssMiB - r.baseRssMiB).toFixed(0), r.resources, perTable,
    ];
    console.log(cells.map((c, i) => String(c).padStart([14, 10, 16, 14, 18, 13, 10][i])).join(' | '));
  }
  const base = results[0].resources - ((results[2].resources - results[0].resources) / (SIZES[2] - SIZES[0]));
  const perTable = (results[2].resources - results[0].resources) / (SIZES[2] - SIZES[0]);
  console.log(`\nFixed cost of a lake: ${base.toFixed(0)} resources; each Iceberg table adds ${perTable.toFixed(0)} `
    + `(table + 3 optimizers). A stack fits ${Math.floor((500 - base) / perTable)} Iceberg tables under CloudFormation's 500.`);
}
