/**
 * CdcIngestion across stacks (issue 13, items 1 and 7): the network, the database's secret, the
 * lake and the CDC pipeline each in a stack of their own, as platform teams lay them out. The
 * checks read what CloudFormation gets: the cloud assembly's stack dependencies (the deploy
 * order; a cycle throws at `app.synth()`), and the ingress rules with their `Fn::ImportValue`s
 * resolved through the exporting stack's outputs.
 */
import { App, Environment, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as fc from 'fast-check';
import { cdcScaffold } from './cdc-fixtures';
import { acknowledgeUserFixtures, nagFindings } from './nag';
import {
  CdcIngestion, CdcIngestionProps, CdcTable, CdcTableMode, DmsAccountRoles, DmsCapacityMode, LakehouseTier, PipelineObservability,
} from '../src';
import { ACCOUNT, DeployedApp, REGION } from './support/cross-stack';

const FIXED_ENV: Environment = { account: ACCOUNT, region: REGION };
const PORT = 5432;

type TableSet = 'cdc' | 'mixed' | 'pull';
const TABLES: Record<TableSet, CdcTable[]> = {
  cdc: [{ name: 'public.orders', primaryKey: ['id'] }],
  mixed: [
    { name: 'public.orders', primaryKey: ['id'] },
    { name: 'legacy.invoices', primaryKey: ['invoice_no'], mode: CdcTableMode.PULL, watermarkColumn: 'updated_at' },
  ],
  pull: [
    { name: 'legacy.invoices', primaryKey: ['invoice_no'], mode: CdcTableMode.PULL, watermarkColumn: 'updated_at' },
    {
      name: 'legacy.customers',
      primaryKey: ['id'],
      mode: CdcTableMode.PULL,
      watermarkColumn: 'changed_at',
      pullSchedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '3' }),
    },
  ],
};

/** Which stack each part lives in: 'Cdc' means the pipeline's own stack. */
interface Layout {
  readonly network: 'Net' | 'Cdc';
  readonly secret: 'Net' | 'Data' | 'Cdc';
  readonly lake: 'Lake' | 'Net' | 'Cdc';
  /** The database group: created in the network stack, or imported there by id. */
  readonly importedGroup: boolean;
  readonly envAgnostic: boolean;
  readonly tables: TableSet;
  readonly preflight?: boolean;
  readonly capacity: DmsCapacityMode;
}

const IMPORTED_GROUP_ID = 'sg-0123456789abcdef0';

function build(layout: Layout) {
  const app = new App();
  const env = layout.envAgnostic ? undefined : FIXED_ENV;
  const stacks: Record<string, Stack> = {};
  const stack = (name: string) => (stacks[name] ??= new Stack(app, name, { env }));
  const cdcStack = stack('Cdc');
  const net = stack(layout.network);
  const vpc = new ec2.Vpc(net, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const dbGroup = layout.importedGroup
    ? ec2.SecurityGroup.fromSecurityGroupId(net, 'DbSg', IMPORTED_GROUP_ID)
    : new ec2.SecurityGroup(net, 'DbSg', { vpc, allowAllOutbound: false, description: 'database' });
  const secret = new secretsmanager.Secret(stack(layout.secret), 'DbSecret');
  const lake = new LakehouseTier(stack(layout.lake), 'Lake', {});
  const props: CdcIngestionProps = {
    lake,
    pipelineName: 'shop',
    vpc,
    source: { secret, databaseName: 'shop', securityGroup: dbGroup },
    tables: TABLES[layout.tables],
    preflightFunction: layout.preflight,
    capacityMode: layout.capacity,
  };
  const cdc = new CdcIngestion(cdcStack, 'Shop', props);
  return { app, cdc, cdcStack, net, dbGroup, stacks };
}

/** The ingress rules on the database port, in every stack, with their group ids resolved. */
function databaseRules(deployed: DeployedApp) {
  return deployed.resources('AWS::EC2::SecurityGroupIngress')
    .filter(([, , r]) => r.Properties.FromPort === PORT)
    .map(([stack, id, r]) => ({
      stack,
      id,
      groupId: deployed.resolve(stack, r.Properties.GroupId) as string,
      sourceGroupId: deployed.resolve(stack, r.Properties.SourceSecurityGroupId) as string,
    }));
}

/** Checks one layout; returns what it found for more specific assertions. */
function checkLayout(layout: Layout) {
  const { app, cdc, cdcStack, net, dbGroup } = build(layout);
  const deployed = new DeployedApp(app); // app.synth(): throws on a dependency cycle
  // No other stack waits for the CDC stack: the network, the secret and the lake deploy first.
  for (const name of Object.keys(deployed.templates).filter((n) => n !== 'Cdc')) {
    expect({ stack: name, dependsOnCdc: deployed.dependsOn(name, 'Cdc') }).toEqual({ stack: name, dependsOnCdc: false });
  }
  // What the database group admits on its port: exactly the CDC construct's groups, each by one
  // rule, all created by the CDC stack.
  const dbGroupId = layout.importedGroup
    ? IMPORTED_GROUP_ID
    : deployed.resolve(net.stackName, net.resolve(dbGroup.securityGroupId));
  const ours = cdc.connections.securityGroups.map((g) => deployed.resolve('Cdc', cdcStack.resolve(g.securityGroupId)) as string);
  const rules = databaseRules(deployed).filter((r) => r.groupId === dbGroupId);
  expect(rules.map((r) => r.stack)).toEqual(ours.map(() => 'Cdc'));
  expect(rules.map((r) => r.sourceGroupId).sort()).toEqual([...ours].sort());
  const dms = deployed.resources('AWS::DMS::ReplicationConfig').length + deployed.resources('AWS::DMS::ReplicationTask').length;
  return { deployed, cdc, rules, dms };
}

const baseLayout: Layout = {
  network: 'Net', secret: 'Net', lake: 'Lake', importedGroup: false, envAgnostic: false, tables: 'cdc', capacity: DmsCapacityMode.SERVERLESS,
};

describe('CdcIngestion in its own stack, the database group in a network stack (issue 13 item 1)', () => {
  test.each<[string, Partial<Layout>, number]>([
    ['with the preflight function (DMS + preflight groups)', { preflight: true }, 2],
    ['without the preflight function (DMS group)', { preflight: false }, 1],
    ['with a pulled table (DMS + preflight + Glue connection groups)', { tables: 'mixed' }, 3],
    ['with only pulled tables (Glue connection group)', { tables: 'pull' }, 1],
    ['environment-agnostic stacks', { envAgnostic: true, tables: 'mixed' }, 3],
    ['the database group imported by id in the network stack', { importedGroup: true, tables: 'mixed' }, 3],
  ])('%s: synthesizes, the rules are in the CDC stack, the network stack does not depend on it', (_, overrides, groups) => {
    const { rules } = checkLayout({ ...baseLayout, ...overrides });
    expect(rules).toHaveLength(groups);
  });

  test('in one stack the rules stay where they were (on the database group, logical ids unchanged)', () => {
    const s = cdcScaffold();
    new CdcIngestion(s.stack, 'Shop', {
      lake: s.lake, pipelineName: 'shop', vpc: s.vpc, source: { secret: s.secret, databaseName: 'shop', securityGroup: s.dbSecurityGroup }, tables: TABLES.mixed,
    });
    const ingress = Template.fromStack(s.stack).findResources('AWS::EC2::SecurityGroupIngress', { Properties: { FromPort: PORT } });
    // Scoped under DbSg, as `addIngressRule` without a remote rule always did.
    expect(Object.keys(ingress).sort()).toEqual(expect.arrayContaining([expect.stringMatching(/^DbSgfromCdcShop/)]));
    expect(Object.keys(ingress).every((id) => id.startsWith('DbSgfromCdcShop'))).toBe(true);
    expect(Object.keys(ingress)).toHaveLength(3);
  });

  test('the user-side alternative: cdc.connections.allowTo(dbGroup) also puts the rules in the CDC stack', () => {
    const app = new App();
    const net = new Stack(app, 'Net', { env: FIXED_ENV });
    const vpc = new ec2.Vpc(net, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const dbGroup = new ec2.SecurityGroup(net, 'DbSg', { vpc, allowAllOutbound: false });
    const cdcStack = new Stack(app, 'Cdc', { env: FIXED_ENV });
    const lake = new LakehouseTier(cdcStack, 'Lake', {});
    const secret = new secretsmanager.Secret(cdcStack, 'DbSecret');
    const cdc = new CdcIngestion(cdcStack, 'Shop', { lake, pipelineName: 'shop', vpc, source: { secret, databaseName: 'shop' }, tables: TABLES.cdc });
    cdc.connections.allowTo(dbGroup, ec2.Port.tcp(PORT));
    const deployed = new DeployedApp(app);
    expect(deployed.dependsOn('Net', 'Cdc')).toBe(false);
    expect(databaseRules(deployed).map((r) => r.stack)).toEqual(['Cdc', 'Cdc']);
  });

  test('generated layouts: any split of network, secret and lake over stacks synthesizes with the rules in the CDC stack', () => {
    // Each run synthesizes a VPC, a lake and the pipeline (1-4 s here); 10 runs, fixed seed.
    fc.assert(fc.property(
      fc.record({
        network: fc.constantFrom<'Net' | 'Cdc'>('Net', 'Cdc'),
        secret: fc.constantFrom<'Net' | 'Data' | 'Cdc'>('Net', 'Data', 'Cdc'),
        lake: fc.constantFrom<'Lake' | 'Net' | 'Cdc'>('Lake', 'Net', 'Cdc'),
        importedGroup: fc.boolean(),
        envAgnostic: fc.boolean(),
        tables: fc.constantFrom<TableSet>('cdc', 'mixed', 'pull'),
        preflight: fc.constantFrom<boolean | undefined>(true, false, undefined),
        capacity: fc.constantFrom(DmsCapacityMode.SERVERLESS, DmsCapacityMode.PROVISIONED),
      }),
      (layout) => {
        if (layout.tables === 'pull' && layout.preflight === true) {
          expect(() => build(layout)).toThrow(/invalid prop "preflightFunction"/);
          return;
        }
        const { rules, dms } = checkLayout(layout);
        const preflight = layout.tables !== 'pull' && layout.preflight !== false;
        expect(rules).toHaveLength((layout.tables !== 'pull' ? 1 : 0) + (preflight ? 1 : 0) + (layout.tables !== 'cdc' ? 1 : 0));
        expect(dms).toBe(layout.tables === 'pull' ? 0 : 1);
      },
    ), { seed: 1307, numRuns: 10 });
  });
});

describe('A source whose tables are all pulled deploys without DMS (issue 13 item 7)', () => {
  function pullOnly(overrides: Partial<CdcIngestionProps> = {}) {
    const s = cdcScaffold();
    const cdc = new CdcIngestion(s.stack, 'Shop', {
      lake: s.lake,
      pipelineName: 'shop',
      vpc: s.vpc,
      source: { secret: s.secret, databaseName: 'shop', securityGroup: s.dbSecurityGroup },
      tables: TABLES.pull,
      ...overrides,
    });
    return { ...s, cdc };
  }
  const dmsTypes = (template: Template) => Object.values<any>(template.toJSON().Resources).map((r) => r.Type).filter((t: string) => t.startsWith('AWS::DMS::'));
  const contractJson = (cdc: CdcIngestion) => JSON.stringify(Stack.of(cdc).resolve({
    metrics: [
      cdc.pipelineMetrics.throughput, cdc.pipelineMetrics.errors, cdc.pipelineMetrics.lagMillis,
      ...cdc.pipelineMetrics.additional!.map((m) => m.metric),
    ].map((m) => m!.toMetricConfig()),
    events: cdc.failureEvents,
    alarms: cdc.pipelineAlarms.map((a) => a.alarmArn),
  }));

  test('no DMS resource, account role, starter or DMS key grant; the merge job, pull connection and schedules stay', () => {
    const { stack, cdc } = pullOnly();
    const template = Template.fromStack(stack);
    expect(dmsTypes(template)).toEqual([]);
    template.resourceCountIs('Custom::AWS', 0); // the replication starter
    const json = JSON.stringify(template.toJSON());
    expect(json).not.toMatch(/dms\.|dms-vpc-role|dms-cloudwatch-logs-role/);
    template.resourceCountIs('AWS::Glue::Job', 1);
    template.resourceCountIs('AWS::Glue::Connection', 1);
    template.resourceCountIs('AWS::Scheduler::Schedule', 2); // the merge schedule + one table's own pull schedule
    template.resourceCountIs('AWS::Lambda::Function', 0); // no preflight by default: nothing CDC to check
    expect(cdc.replicationArn).toBeUndefined();
    expect(cdc.sourceEndpoint).toBeUndefined();
    expect(cdc.replicationSecurityGroup).toBeUndefined();
    expect(cdc.connections.securityGroups).toEqual([cdc.pullSecurityGroup]);
    const args = Object.values<any>(template.findResources('AWS::Glue::Job'))[0].Properties.DefaultArguments;
    expect(JSON.parse(args['--tables']).map((t: any) => t.mode)).toEqual(['pull', 'pull']);
    expect(args['--jdbc_secret_id']).toBeDefined();
  });

  test('the pipeline contract names no DMS metric or event; with a CDC table it does (the check can fail)', () => {
    expect(contractJson(pullOnly().cdc)).not.toMatch(/AWS\/DMS|aws\.dms|CDCLatency/);
    const withCdc = pullOnly({ tables: TABLES.mixed }).cdc;
    expect(contractJson(withCdc)).toMatch(/AWS\/DMS/);
    expect(contractJson(withCdc)).toMatch(/aws\.dms/);
  });

  test('PipelineObservability watching it renders no DMS widget, alarm or event rule', () => {
    const { stack, cdc } = pullOnly();
    new PipelineObservability(stack, 'Obs', { pipelines: [cdc] });
    const json = JSON.stringify(Template.fromStack(stack).toJSON());
    expect(json).not.toMatch(/AWS\/DMS|aws\.dms|CDCLatency/);
    expect(json).toMatch(/CdkLakehouse\/Merge/); // the merge job's own metrics are watched
  });

  test('cdk-nag AwsSolutions and NIST 800-53 R5: no error or warning left', () => {
    const { stack, vpc, secret } = pullOnly();
    vpc.addFlowLog('FlowLogs');
    acknowledgeUserFixtures({ vpc, secret });
    const findings = nagFindings(stack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });

  test.each<[string, Partial<CdcIngestionProps>, RegExp]>([
    ['account roles to create', { dmsAccountRoles: DmsAccountRoles.CREATE }, /invalid prop "dmsAccountRoles": every table is pulled.*Fix: remove dmsAccountRoles/],
    ['a preflight asked for', { preflightFunction: true }, /invalid prop "preflightFunction": every table is pulled.*Fix: remove preflightFunction/],
  ])('refused with a fix: %s', (_, overrides, message) => {
    expect(() => pullOnly(overrides)).toThrow(message);
  });

  test('refused with a fix: every table on a schedule of its own (the merge schedule would start runs with no table)', () => {
    const own = scheduler.ScheduleExpression.cron({ minute: '0', hour: '4' });
    expect(() => pullOnly({ tables: TABLES.pull.map((t) => ({ ...t, pullSchedule: t.pullSchedule ?? own })) }))
      .toThrow(/invalid prop "tables": every table is pulled on a pullSchedule of its own.*Fix: leave pullSchedule off one table/);
  });

  test('still refused: no table at all', () => {
    expect(() => pullOnly({ tables: [] })).toThrow(/invalid prop "tables": no table is given/);
  });
});
