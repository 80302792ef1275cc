/**
 * AthenaServing.grantQuery across stacks (issue 13, item 2): the lake, the serving workgroup and
 * the people's roles in stacks of their own. Two checks on each layout: `app.synth()` finds no
 * dependency cycle, and IAM's evaluation logic (@cloud-copilot/iam-simulate), fed every policy the
 * stacks attach to the role (whichever stack holds it, matched by role name as IAM does) and the
 * bucket and key policies as deployed, allows what a query needs and nothing the grant did not give.
 */
import { App, Environment, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as fc from 'fast-check';
import { nagFindings } from './nag';
import { AthenaServing, LakehouseTier } from '../src';
import { ACCOUNT, DeployedApp, REGION, simulate } from './support/cross-stack';

const FIXED_ENV: Environment = { account: ACCOUNT, region: REGION };

type Place = 'Lake' | 'Serving' | 'User';
interface Layout {
  /** Where the workgroup lives (the lake is always in 'Lake'). */
  readonly serving: 'Lake' | 'Serving';
  /** Where the granted role lives. */
  readonly role: Place;
  /** An explicit dependency between the user stack and the serving stack, if any. */
  readonly explicit: 'none' | 'user-after-serving' | 'serving-after-user';
  /** Results encrypted with a key of the serving stack instead of the lake's key. */
  readonly ownResultsKey: boolean;
  readonly envAgnostic: boolean;
}

function build(layout: Layout, extraRoles: Place[] = []) {
  const app = new App();
  const env = layout.envAgnostic ? undefined : FIXED_ENV;
  const stacks: Partial<Record<Place, Stack>> = {};
  const stack = (name: Place) => (stacks[name] ??= new Stack(app, name, { env }));
  const lake = new LakehouseTier(stack('Lake'), 'Lake', {});
  const servingStack = stack(layout.serving);
  const resultsEncryptionKey = layout.ownResultsKey ? new kms.Key(servingStack, 'ResultsKey', { enableKeyRotation: true }) : undefined;
  const serving = new AthenaServing(servingStack, 'Analysts', { lake, workGroupName: 'analysts', resultsEncryptionKey });
  if (layout.explicit !== 'none') {
    stack('User');
    if (layout.explicit === 'user-after-serving') stack('User').addDependency(servingStack);
    else servingStack.addDependency(stack('User'));
  }
  const roles = [layout.role, ...extraRoles].map((place, i) => {
    const role = new iam.Role(stack(place), `Analyst${i}`, { assumedBy: new iam.AccountRootPrincipal() });
    const grant = serving.grantQuery(role, { zones: [lake.curated] });
    expect(grant.success).toBe(true);
    return role;
  });
  const unrelated = new iam.Role(stack(layout.role), 'NotGranted', { assumedBy: new iam.AccountRootPrincipal() });
  return { app, lake, serving, roles, unrelated };
}

/** Where a construct's token ends up once deployed. */
function deployedValue(deployed: DeployedApp, scope: Stack, token: string): string {
  return deployed.resolve(scope.stackName, scope.resolve(token));
}

function logicalIdOf(resource: iam.Role) {
  const stack = Stack.of(resource);
  return { stack: stack.stackName, logicalId: stack.getLogicalId(resource.node.defaultChild as iam.CfnRole) };
}

/** The deployed resource policy of a bucket (its BucketPolicy) or a key (its KeyPolicy). */
function bucketPolicy(deployed: DeployedApp, bucketName: string) {
  const found = deployed.resources('AWS::S3::BucketPolicy').find(([stack, , r]) => deployed.resolve(stack, r.Properties.Bucket) === bucketName);
  return found ? deployed.resolve(found[0], found[2].Properties.PolicyDocument) : undefined;
}
function keyPolicy(deployed: DeployedApp, keyArn: string) {
  const found = deployed.resources('AWS::KMS::Key').find(([stack, id]) => deployed.arnOf(stack, id) === keyArn);
  if (!found) throw new Error(`no key ${keyArn} in the app`);
  return deployed.resolve(found[0], found[2].Properties.KeyPolicy);
}

/** Synthesizes, then asks IAM's evaluation logic what each granted role may do. */
async function checkLayout(layout: Layout, extraRoles: Place[] = []) {
  const { app, lake, serving, roles, unrelated } = build(layout, extraRoles);
  const deployed = new DeployedApp(app); // throws on a dependency cycle
  const servingStack = Stack.of(serving);
  const lakeStack = Stack.of(lake);
  const resultsBucket = deployedValue(deployed, servingStack, serving.resultsBucket.bucketName);
  const resultsBucketArn = deployedValue(deployed, servingStack, serving.resultsBucket.bucketArn);
  const resultsKeyArn = deployedValue(deployed, servingStack, serving.resultsEncryptionKey.keyArn);
  const workGroupArn = deployedValue(deployed, servingStack, serving.workGroupArn);
  const curatedBucket = deployedValue(deployed, lakeStack, lake.curated.bucket.bucketName);
  const lakeKeyArn = deployedValue(deployed, lakeStack, lake.encryptionKey.keyArn);
  const database = deployedValue(deployed, lakeStack, lake.curated.databaseName);
  const glue = (resource: string) => `arn:aws:glue:${REGION}:${ACCOUNT}:${resource}`;

  const needed: [string, string, unknown][] = [
    ['athena:StartQueryExecution', workGroupArn, undefined],
    ['athena:GetQueryResults', workGroupArn, undefined],
    ['s3:ListBucket', resultsBucketArn, bucketPolicy(deployed, resultsBucket)],
    ['s3:PutObject', `${resultsBucketArn}/results/run-1.csv`, bucketPolicy(deployed, resultsBucket)],
    ['s3:GetObject', `${resultsBucketArn}/results/run-1.csv`, bucketPolicy(deployed, resultsBucket)],
    ['s3:GetObject', `${resultsBucketArn}/reports/daily/2026-12-01.csv`, bucketPolicy(deployed, resultsBucket)],
    ['kms:GenerateDataKey', resultsKeyArn, keyPolicy(deployed, resultsKeyArn)],
    ['kms:Decrypt', resultsKeyArn, keyPolicy(deployed, resultsKeyArn)],
    ['s3:GetObject', `arn:aws:s3:::${curatedBucket}/orders/data/part-0.parquet`, bucketPolicy(deployed, curatedBucket)],
    ['kms:Decrypt', lakeKeyArn, keyPolicy(deployed, lakeKeyArn)],
    ['glue:GetTable', glue('catalog'), undefined],
    ['glue:GetTable', glue(`database/${database}`), undefined],
    ['glue:GetTable', glue(`table/${database}/orders`), undefined],
  ];
  const notGiven: [string, string, unknown][] = [
    ['s3:PutObject', `arn:aws:s3:::${curatedBucket}/orders/data/part-0.parquet`, bucketPolicy(deployed, curatedBucket)],
    ['s3:PutObject', `${resultsBucketArn}/reports/daily/2026-12-01.csv`, bucketPolicy(deployed, resultsBucket)],
    ['athena:StartQueryExecution', `arn:aws:athena:${REGION}:${ACCOUNT}:workgroup/primary`, undefined],
  ];
  for (const role of roles) {
    const id = logicalIdOf(role);
    for (const [action, resource, policy] of needed) {
      expect({ role: id.stack, action, resource, result: await simulate(deployed, id, action, resource, policy) })
        .toEqual({ role: id.stack, action, resource, result: 'Allowed' });
    }
    for (const [action, resource, policy] of notGiven) {
      expect({ role: id.stack, action, resource, result: await simulate(deployed, id, action, resource, policy) })
        .toEqual({ role: id.stack, action, resource, result: 'ImplicitlyDenied' });
    }
  }
  // A role of the same stack that was not granted gets nothing: the policies found are the grant's.
  expect(await simulate(deployed, logicalIdOf(unrelated), 'athena:StartQueryExecution', workGroupArn)).toBe('ImplicitlyDenied');
  return { deployed, serving, roles };
}

/** The stack each AWS::IAM::Policy naming the results bucket lives in. */
function policiesNamingResults(deployed: DeployedApp, resultsBucketArn: string): string[] {
  return deployed.resources('AWS::IAM::Policy')
    .filter(([stack, , p]) => JSON.stringify(deployed.resolve(stack, p.Properties.PolicyDocument)).includes(resultsBucketArn))
    .map(([stack]) => stack);
}

const base: Layout = { serving: 'Serving', role: 'Lake', explicit: 'none', ownResultsKey: false, envAgnostic: false };

describe('grantQuery across stacks (issue 13 item 2)', () => {
  test('two stacks, the role in the lake stack: no cycle; the workgroup statements live in the serving stack, attached to the role', async () => {
    const { deployed, serving } = await checkLayout(base);
    const arn = deployedValue(deployed, Stack.of(serving), serving.resultsBucket.bucketArn);
    expect(policiesNamingResults(deployed, arn)).toEqual(['Serving']);
    expect(deployed.dependsOn('Lake', 'Serving')).toBe(false);
    expect(deployed.dependsOn('Serving', 'Lake')).toBe(true);
  });

  test('two stacks the other way, the lake and the workgroup together, the role in its own stack: the role\'s own policy holds them', async () => {
    const { deployed, serving } = await checkLayout({ ...base, serving: 'Lake', role: 'User' });
    const arn = deployedValue(deployed, Stack.of(serving), serving.resultsBucket.bucketArn);
    expect(policiesNamingResults(deployed, arn)).toEqual(['User']);
    expect(deployed.dependsOn('Lake', 'User')).toBe(false);
  });

  test('three stacks: a role in the lake stack and one in a user stack, both granted', async () => {
    const { deployed, serving } = await checkLayout({ ...base, role: 'Lake' }, ['User']);
    const arn = deployedValue(deployed, Stack.of(serving), serving.resultsBucket.bucketArn);
    expect(policiesNamingResults(deployed, arn).sort()).toEqual(['Serving', 'User']);
    expect(deployed.dependsOn('Lake', 'Serving') || deployed.dependsOn('Lake', 'User') || deployed.dependsOn('Serving', 'User')).toBe(false);
  });

  test('environment-agnostic stacks, the role in the lake stack, results under a key of the serving stack', async () => {
    await checkLayout({ ...base, envAgnostic: true, ownResultsKey: true });
  });

  test('the same role granted twice gets one attached policy, not two', () => {
    const app = new App();
    const lakeStack = new Stack(app, 'Lake', { env: FIXED_ENV });
    const lake = new LakehouseTier(lakeStack, 'Lake', {});
    const role = new iam.Role(lakeStack, 'Analyst', { assumedBy: new iam.AccountRootPrincipal() });
    const serving = new AthenaServing(new Stack(app, 'Serving', { env: FIXED_ENV }), 'Analysts', { lake, workGroupName: 'analysts' });
    serving.grantQuery(role);
    serving.grantQuery(role, { zones: [lake.curated] });
    const deployed = new DeployedApp(app);
    expect(deployed.resources('AWS::IAM::Policy').filter(([stack]) => stack === 'Serving')).toHaveLength(1);
  });

  test('the documented escape hatch: a copy of the role imported in the serving stack synthesizes and can query', async () => {
    const app = new App();
    const lakeStack = new Stack(app, 'Lake', { env: FIXED_ENV });
    const lake = new LakehouseTier(lakeStack, 'Lake', {});
    const role = new iam.Role(lakeStack, 'Analyst', { assumedBy: new iam.AccountRootPrincipal() });
    const servingStack = new Stack(app, 'Serving', { env: FIXED_ENV });
    const serving = new AthenaServing(servingStack, 'Analysts', { lake, workGroupName: 'analysts' });
    serving.grantQuery(iam.Role.fromRoleArn(servingStack, 'AnalystRef', role.roleArn));
    const deployed = new DeployedApp(app);
    const resultsArn = deployedValue(deployed, servingStack, serving.resultsBucket.bucketArn);
    const bucket = deployedValue(deployed, servingStack, serving.resultsBucket.bucketName);
    const keyArn = deployedValue(deployed, servingStack, serving.resultsEncryptionKey.keyArn);
    const id = logicalIdOf(role);
    expect(await simulate(deployed, id, 's3:PutObject', `${resultsArn}/results/q.csv`, bucketPolicy(deployed, bucket))).toBe('Allowed');
    expect(await simulate(deployed, id, 'kms:GenerateDataKey', keyArn, keyPolicy(deployed, keyArn))).toBe('Allowed');
  });

  test('cdk-nag AwsSolutions: the policy the construct attaches explains its own findings (no user suppression)', () => {
    const app = new App();
    const lakeStack = new Stack(app, 'Lake', { env: FIXED_ENV });
    const lake = new LakehouseTier(lakeStack, 'Lake', {});
    const orders = lake.addIcebergTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
    const role = new iam.Role(lakeStack, 'Analyst', { assumedBy: new iam.AccountRootPrincipal() });
    const servingStack = new Stack(app, 'Serving', { env: FIXED_ENV });
    new AthenaServing(servingStack, 'Analysts', { lake, workGroupName: 'analysts' }).grantQuery(role, { zones: [lake.curated], tables: [orders] });
    // The serving stack only: a lake stack with a fixed environment has LakehouseTier findings of its own, outside this change.
    const findings = nagFindings(servingStack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });

  test('generated layouts: wherever the lake, workgroup and role live, and whichever explicit dependency joins them, no cycle and the role can query', async () => {
    // Each run synthesizes a lake and a workgroup (about 1 s) and simulates 17 requests; 12 runs, fixed seed.
    await fc.assert(fc.asyncProperty(
      fc.record({
        serving: fc.constantFrom<'Lake' | 'Serving'>('Lake', 'Serving'),
        role: fc.constantFrom<Place>('Lake', 'Serving', 'User'),
        explicit: fc.constantFrom<Layout['explicit']>('none', 'user-after-serving', 'serving-after-user'),
        ownResultsKey: fc.boolean(),
        envAgnostic: fc.boolean(),
      }),
      async (layout) => {
        await checkLayout(layout);
      },
    ), { seed: 1302, numRuns: 12 });
  }, 120_000);
});
