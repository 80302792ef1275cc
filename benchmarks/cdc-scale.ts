/**
 * Synthesizes a CdcIngestion with 1, 10 and 100 source tables (in a stack with its lake and
 * VPC) and prints the stack's CloudFormation resources and what each extra table adds. Run:
 * `npx projen benchmark`.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { CdcIngestion, CdcTableMode, LakehouseTier } from '../src';

const SIZES = [1, 10, 100];

function resources(tables: number, pulledEvery: number): number {
  const app = new App();
  const stack = new Stack(app, `Cdc${tables}`);
  const lake = new LakehouseTier(stack, 'Lake');
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const secret = new secretsmanager.Secret(stack, 'Db');
  new CdcIngestion(stack, 'Cdc', {
    lake,
    pipelineName: 'erp',
    vpc,
    source: { secret, databaseName: 'erp' },
    tables: Array.from({ length: tables }, (_, i) => (pulledEvery > 0 && i > 0 && i % pulledEvery === 0
      ? { name: `legacy.t${i}`, primaryKey: ['id'], mode: CdcTableMode.PULL, watermarkColumn: 'updated_at' }
      : { name: `public.t${i}`, primaryKey: ['id'] })),
  });
  return Object.keys(app.synth().getStackByName(stack.stackName).template.Resources ?? {}).length;
}

for (const [label, pulledEvery] of [['CDC tables only', 0], ['every 10th table pulled', 10]] as const) {
  console.log(`\n${label}`);
  console.log('tables | CFN resources (stack with lake + VPC) | resources/table (marginal)');
  const counts = SIZES.map((n) => resources(n, pulledEvery));
  SIZES.forEach((n, i) => {
    const perTable = i === 0 ? '-' : ((counts[i] - counts[0]) / (n - SIZES[0])).toFixed(2);
    console.log(`${String(n).padStart(6)} | ${String(counts[i]).padStart(37)} | ${perTable.padStart(10)}`);
  });
}
