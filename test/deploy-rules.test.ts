import { runSimulation } from '@cloud-copilot/iam-simulate';
import { App, Aspects, Duration, Environment, Stack, Stage } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import fc from 'fast-check';
import { cdcProps } from './cdc-fixtures';
import {
  ApiAuth, ApiPagination, ApiPullIngestion, AthenaServing, CdcIngestion, DataPipeline, DmsAccountRoles, LakehouseDeployRules, LakehouseTier,
  PipelineObservability, StreamingDedupIngestion,
} from '../src';
import { documentsAllow } from '../src/core/iam-reading';

const ENV: Environment = { account: '111111111111', region: 'eu-west-1' };

/** Synthesizes the whole app (every stage) and returns the error message, or undefined. */
function synthError(app: App): string | undefined {
  try {
    app.synth();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** A pipeline of the user's own (no resources), for PipelineObservability to watch. */
function ownPipeline(scope: Stack, name: string) {
  const metric = (metricName: string) => new cloudwatch.Metric({ namespace: 'Own', metricName });
  return new DataPipeline(scope, `Pipeline-${name}`, { pipelineName: name, metrics: { throughput: metric('in'), errors: metric('errors') } });
}

function userRules(...scopes: Stack[]) {
  for (const s of scopes) Aspects.of(s).add(new LakehouseDeployRules());
}

function inlineFunction(scope: Stack, id: string, props: Partial<lambda.FunctionProps> = {}) {
  return new lambda.Function(scope, id, {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => {};'),
    ...props,
  });
}

/** One of each construct of the library, wired the way a user would. */
function everyConstruct(stack: Stack) {
  const lake = new LakehouseTier(stack, 'Lake');
  lake.addRawTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
  const events = new StreamingDedupIngestion(stack, 'Events', { lake });
  const secret = new secretsmanager.Secret(stack, 'ApiSecret');
  const api = new ApiPullIngestion(stack, 'Storefront', {
    lake,
    endpoints: [{
      name: 'customers',
      url: 'https://api.example.com/v1/customers',
      schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
      auth: ApiAuth.bearerToken(secret),
      pagination: ApiPagination.pageNumber({ pageSize: 100, pageSizeParameter: 'per_page' }),
      recordsPath: '$.customers',
      recordIdField: 'id',
    }],
  });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const dbSecret = new secretsmanager.Secret(stack, 'DbSecret');
  const dbSecurityGroup = new ec2.SecurityGroup(stack, 'DbSg', { vpc, allowAllOutbound: false });
  const cdc = new CdcIngestion(stack, 'Cdc', {
    ...cdcProps({ stack, lake, vpc, secret: dbSecret, dbSecurityGroup }),
    dmsAccountRoles: DmsAccountRoles.USE_EXISTING,
  });
  new AthenaServing(stack, 'Analysts', { lake });
  new PipelineObservability(stack, 'Ops', { lake, pipelines: [events, api, cdc] });
  return { lake, events, api, cdc };
}

describe('two stages of one app in one account and region', () => {
  test('every construct with its defaults: no physical name is claimed twice', () => {
    const app = new App();
    for (const stageName of ['Dev', 'Staging']) {
      const stack = new Stack(new Stage(app, stageName, { env: ENV }), 'Data');
      everyConstruct(stack);
      userRules(stack);
    }
    expect(synthError(app)).toBeUndefined();
    // Each stage got its own databases (the stack name carries the stage).
    const dev = app.node.findChild('Dev').node.findChild('Data') as Stack;
    const databases = Object.values(Template.fromStack(dev).findResources('AWS::Glue::Database')).map((r) => r.Properties.DatabaseInput.Name);
    expect(databases.sort()).toEqual(['dev_data_lake_clean', 'dev_data_lake_curated', 'dev_data_lake_raw']);
  }, 120_000);

  test('the same lakeName in both stages is a clash naming both lakes and the prop', () => {
    const app = new App();
    for (const stageName of ['Dev', 'Staging']) {
      new LakehouseTier(new Stack(new Stage(app, stageName, { env: ENV }), 'Data'), 'Lake', { lakeName: 'sales' });
    }
    const error = synthError(app);
    expect(error).toMatch(/Glue database "sales_raw" is defined twice in account 111111111111, region eu-west-1/);
    expect(error).toContain('"Dev/Data/Lake" (LakehouseTier prop "lakeName")');
    expect(error).toContain('"Staging/Data/Lake" (LakehouseTier prop "lakeName")');
  });

  test('environment-agnostic stacks count as one unknown environment', () => {
    const app = new App();
    new LakehouseTier(new Stack(app, 'A'), 'Lake', { lakeName: 'sales' });
    new LakehouseTier(new Stack(app, 'B'), 'Lake', { lakeName: 'sales' });
    expect(synthError(app)).toMatch(/Glue database "sales_raw" is defined twice in unknown account, unknown region: by "A\/Lake".*by "B\/Lake"/);
  });

  test('the same lakeName in two regions is fine', () => {
    const app = new App();
    new LakehouseTier(new Stack(app, 'A', { env: ENV }), 'Lake', { lakeName: 'sales' });
    new LakehouseTier(new Stack(app, 'B', { env: { ...ENV, region: 'us-east-1' } }), 'Lake', { lakeName: 'sales' });
    expect(synthError(app)).toBeUndefined();
  });
});

describe('Glue tables', () => {
  test('a raw table beside a streaming dataset of the same name names both constructs and both props', () => {
    const app = new App();
    const stack = new Stack(app, 'Data', { env: ENV });
    const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'sales' });
    lake.addRawTable('Legacy', { tableName: 'events', columns: [{ name: 'id', type: 'string' }] });
    new StreamingDedupIngestion(stack, 'Events', { lake });
    const error = synthError(app);
    expect(error).toMatch(/Glue table "sales_raw.events" is defined twice/);
    expect(error).toContain('"Data/Lake/Legacy" (LakehouseTier.addRawTable prop "tableName")');
    expect(error).toContain('"Data/Events" (StreamingDedupIngestion prop "datasetName")');
    expect(error).toMatch(/Fix: give one of them another name through "tableName" or "datasetName"/);
  });

  test('two streaming pipelines with the same id in two stacks sharing a lake clash on tables and optimizers', () => {
    const app = new App();
    const lakeStack = new Stack(app, 'Lake', { env: ENV });
    const lake = new LakehouseTier(lakeStack, 'Lake', { lakeName: 'sales' });
    new StreamingDedupIngestion(new Stack(app, 'A', { env: ENV }), 'Events', { lake });
    new StreamingDedupIngestion(new Stack(app, 'B', { env: ENV }), 'Events', { lake });
    const error = synthError(app)!;
    expect(error).toMatch(/Glue table "sales_raw.events" is defined twice.*"A\/Events".*"B\/Events"/);
    expect(error).toMatch(/Glue table "sales_curated.events" is defined twice/);
    expect(error).toMatch(/Glue table optimizer "sales_curated.events \(compaction\)" is defined twice/);
  }, 60_000);

  test('two streaming pipelines on one lake with their default dataset names do not clash', () => {
    const app = new App();
    const stack = new Stack(app, 'Data', { env: ENV });
    const lake = new LakehouseTier(stack, 'Lake');
    const clicks = new StreamingDedupIngestion(stack, 'Clicks', { lake });
    const orders = new StreamingDedupIngestion(stack, 'Orders', { lake });
    expect(synthError(app)).toBeUndefined();
    expect([clicks.rawTable.tableName, orders.rawTable.tableName]).toEqual(['clicks', 'orders']);
  }, 60_000);
});

describe('ops tables of PipelineObservability', () => {
  test('two instances on one lake get their own tables and prefixes', () => {
    const app = new App();
    const stack = new Stack(app, 'Data', { env: ENV });
    const lake = new LakehouseTier(stack, 'Lake');
    const pipelines = [ownPipeline(stack, 'orders')];
    const a = new PipelineObservability(stack, 'OpsA', { lake, pipelines });
    const b = new PipelineObservability(stack, 'OpsB', { lake, pipelines });
    expect(synthError(app)).toBeUndefined();
    expect([a.logsTable!.tableName, a.eventsTable!.tableName, b.logsTable!.tableName, b.eventsTable!.tableName])
      .toEqual(['ops_a_logs', 'ops_a_events', 'ops_b_logs', 'ops_b_events']);
    expect(a.logsTable!.prefix).toBe('_ops/ops_a_logs/');
    expect(b.logsTable!.prefix).toBe('_ops/ops_b_logs/');
  });

  test('the same logsTableName set twice is reported with the prop', () => {
    const app = new App();
    const stack = new Stack(app, 'Data', { env: ENV });
    const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'sales' });
    const pipelines = [ownPipeline(stack, 'orders')];
    new PipelineObservability(stack, 'OpsA', { lake, pipelines, logsTableName: 'ops_logs' });
    new PipelineObservability(stack, 'OpsB', { lake, pipelines, logsTableName: 'ops_logs' });
    const error = synthError(app);
    expect(error).toMatch(/Glue table "sales_raw.ops_logs" is defined twice.*"Data\/OpsA" \(PipelineObservability prop "logsTableName"\).*"Data\/OpsB" \(PipelineObservability prop "logsTableName"\)/);
  });
});

describe('Athena workgroups, dashboards, log groups', () => {
  test('the same workGroupName in two stages clashes; the defaults do not', () => {
    const clash = new App();
    for (const stageName of ['Dev', 'Staging']) {
      const stack = new Stack(new Stage(clash, stageName, { env: ENV }), 'Data');
      new AthenaServing(stack, 'Analysts', { lake: new LakehouseTier(stack, 'Lake'), workGroupName: 'analysts' });
    }
    const error = synthError(clash);
    expect(error).toMatch(/Athena workgroup "analysts" is defined twice.*"Dev\/Data\/Analysts" \(AthenaServing prop "workGroupName"\).*"Staging\/Data\/Analysts"/);
    // The scheduled-query log group named after the workgroup is not created without schedules.
    const fine = new App();
    for (const stageName of ['Dev', 'Staging']) {
      const stack = new Stack(new Stage(fine, stageName, { env: ENV }), 'Data');
      new AthenaServing(stack, 'Analysts', { lake: new LakehouseTier(stack, 'Lake') });
    }
    expect(synthError(fine)).toBeUndefined();
  });

  test('dashboards are global to the account: the same name in two regions clashes, in two accounts it does not', () => {
    const build = (envB: Environment) => {
      const app = new App();
      const a = new Stack(app, 'A', { env: ENV });
      const b = new Stack(app, 'B', { env: envB });
      new PipelineObservability(a, 'Ops', { dashboardName: 'lake', pipelines: [ownPipeline(a, 'orders')] });
      new cloudwatch.Dashboard(b, 'Mine', { dashboardName: 'lake' });
      userRules(b);
      return synthError(app);
    };
    expect(build({ ...ENV, region: 'us-east-1' }))
      .toMatch(/CloudWatch dashboard "lake" is defined twice in account 111111111111: by "A\/Ops" \(PipelineObservability prop "dashboardName"\) and by "B\/Mine" \(AWS::CloudWatch::Dashboard property "DashboardName"\)/);
    expect(build({ ...ENV, account: '222222222222' })).toBeUndefined();
  });

  test('user log groups: a name twice, and a name CloudWatch Logs rejects', () => {
    const app = new App();
    const a = new Stack(app, 'A', { env: ENV });
    const b = new Stack(app, 'B', { env: ENV });
    new logs.LogGroup(a, 'Logs', { logGroupName: '/app/orders' });
    new logs.LogGroup(b, 'Logs', { logGroupName: '/app/orders' });
    new logs.LogGroup(b, 'Bad', { logGroupName: 'has spaces' });
    userRules(a, b);
    const error = synthError(app);
    expect(error).toMatch(/log group "\/app\/orders" is defined twice in account 111111111111, region eu-west-1: by "A\/Logs".*and by "B\/Logs"/);
    expect(error).toMatch(/log group name "has spaces" of "B\/Bad" .* is not a valid CloudWatch Logs log group name/);
  });

  test('without the aspect, a user\'s own resources are left alone', () => {
    const app = new App();
    new logs.LogGroup(new Stack(app, 'A', { env: ENV }), 'Logs', { logGroupName: '/app/orders' });
    new logs.LogGroup(new Stack(app, 'B', { env: ENV }), 'Logs', { logGroupName: '/app/orders' });
    expect(synthError(app)).toBeUndefined();
  });
});

describe('IAM role names (global, case-insensitive)', () => {
  function cdcIn(stack: Stack, id: string, roles: DmsAccountRoles) {
    const lake = stack.node.tryFindChild('Lake') as LakehouseTier ?? new LakehouseTier(stack, 'Lake');
    const vpc = stack.node.tryFindChild('Vpc') as ec2.Vpc ?? new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const secret = new secretsmanager.Secret(stack, `${id}Secret`);
    const dbSecurityGroup = new ec2.SecurityGroup(stack, `${id}Sg`, { vpc, allowAllOutbound: false });
    const props = cdcProps({ stack, lake, vpc, secret, dbSecurityGroup });
    return new CdcIngestion(stack, id, { ...props, pipelineName: id.toLowerCase(), dmsAccountRoles: roles });
  }

  test('two CdcIngestion of one stack creating the DMS roles share one pair', () => {
    const app = new App();
    const stack = new Stack(app, 'Data', { env: ENV });
    const a = cdcIn(stack, 'Shop', DmsAccountRoles.CREATE);
    const b = cdcIn(stack, 'Billing', DmsAccountRoles.CREATE);
    expect(synthError(app)).toBeUndefined();
    expect(a.dmsVpcRole).toBe(b.dmsVpcRole);
    const names = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Role')).map((r) => r.Properties.RoleName).filter((n) => n);
    expect(names.sort()).toEqual(['dms-cloudwatch-logs-role', 'dms-vpc-role']);
  }, 60_000);

  test('two stages creating the DMS roles in one account clash, naming both and "dmsAccountRoles"', () => {
    const app = new App();
    for (const [stageName, region] of [['Dev', 'eu-west-1'], ['Staging', 'us-east-1']]) {
      cdcIn(new Stack(new Stage(app, stageName, { env: { ...ENV, region } }), 'Data'), 'Shop', DmsAccountRoles.CREATE);
    }
    const error = synthError(app);
    expect(error).toMatch(/IAM role "dms-vpc-role" is defined twice in account 111111111111: by "Dev\/Data\/Shop" \(CdcIngestion prop "dmsAccountRoles"\) and by "Staging\/Data\/Shop" \(CdcIngestion prop "dmsAccountRoles"\)/);
    expect(error).toMatch(/IAM role "dms-cloudwatch-logs-role" is defined twice/);
  }, 60_000);

  test('user roles differing only in case clash', () => {
    const app = new App();
    const stack = new Stack(app, 'A', { env: ENV });
    new iam.Role(stack, 'One', { assumedBy: new iam.AccountRootPrincipal(), roleName: 'Loader' });
    new iam.Role(stack, 'Two', { assumedBy: new iam.AccountRootPrincipal(), roleName: 'loader' });
    userRules(stack);
    expect(synthError(app)).toMatch(/IAM role "loader" is defined twice in account 111111111111: by "A\/One".*by "A\/Two"/);
  });
});

describe('subscription filters: at most 2 per log group', () => {
  function filters(count: number) {
    const app = new App();
    const stack = new Stack(app, 'A', { env: ENV });
    const group = new logs.LogGroup(stack, 'Group');
    for (let i = 0; i < count; i++) {
      new logs.CfnSubscriptionFilter(stack, `Filter${i}`, {
        logGroupName: group.logGroupName, filterPattern: '', destinationArn: `arn:aws:lambda:eu-west-1:111111111111:function:f${i}`,
      });
    }
    userRules(stack);
    return synthError(app);
  }
  test('two pass, three fail naming each filter', () => {
    expect(filters(2)).toBeUndefined();
    expect(filters(3)).toMatch(/log group "A\/Group" gets 3 subscription filters, CloudWatch Logs takes at most 2 per log group: "A\/Filter0".*"A\/Filter1".*"A\/Filter2"/);
  });

  test('three PipelineObservability landing the logs of one pipeline fail; two pass', () => {
    const build = (n: number) => {
      const app = new App();
      const stack = new Stack(app, 'A', { env: ENV });
      const lake = new LakehouseTier(stack, 'Lake');
      const events = new StreamingDedupIngestion(stack, 'Events', { lake });
      for (let i = 0; i < n; i++) new PipelineObservability(stack, `Ops${i}`, { lake, pipelines: [events] });
      return synthError(app);
    };
    expect(build(2)).toBeUndefined();
    expect(build(3)).toMatch(/gets 3 subscription filters.*Fix: remove one, e.g. watch the pipeline from at most two PipelineObservability/);
  }, 60_000);
});

describe('reserved concurrency', () => {
  test('the replay function reserves nothing', () => {
    const stack = new Stack(new App(), 'A', { env: ENV });
    const events = new StreamingDedupIngestion(stack, 'Events', { lake: new LakehouseTier(stack, 'Lake') });
    const fns = Template.fromStack(stack).findResources('AWS::Lambda::Function');
    expect(Object.values(fns).filter((f) => f.Properties.ReservedConcurrentExecutions !== undefined)).toEqual([]);
    expect(events.replayFunction).toBeDefined();
  });

  test('a new account (quota 10) can reserve nothing; a quota of 1000 leaves 900 to reserve across the app', () => {
    const build = (reservations: number[], quota?: number) => {
      const app = new App();
      reservations.forEach((n, i) => {
        const stack = new Stack(app, `S${i}`, { env: ENV });
        inlineFunction(stack, 'Fn', { reservedConcurrentExecutions: n });
        Aspects.of(stack).add(new LakehouseDeployRules({ accountConcurrencyQuota: quota }));
      });
      return synthError(app);
    };
    expect(build([1])).toMatch(/functions in account 111111111111, region eu-west-1 reserve 1 concurrent executions \("S0\/Fn" \(1\)\), but an account whose Lambda concurrency quota is 10 can reserve at most 0.*Fix: remove "reservedConcurrentExecutions"/);
    expect(build([1], 1000)).toBeUndefined();
    expect(build([450, 450], 1000)).toBeUndefined();
    expect(build([500, 401], 1000)).toMatch(/reserve 901 concurrent executions \("S0\/Fn" \(500\), "S1\/Fn" \(401\)\).*at most 900/);
  });

  test('a quota that is not a positive whole number is refused', () => {
    expect(() => new LakehouseDeployRules({ accountConcurrencyQuota: 0 })).toThrow(/"accountConcurrencyQuota"/);
  });
});

describe('VPC functions need ENI rights on their role', () => {
  function vpcFunction(role: (stack: Stack) => iam.IRole | undefined) {
    const app = new App();
    const stack = new Stack(app, 'A', { env: ENV });
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0, subnetConfiguration: [{ name: 'p', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    inlineFunction(stack, 'Fn', { vpc, role: role(stack) });
    userRules(stack);
    return synthError(app);
  }
  const plainRole = (stack: Stack) => new iam.Role(stack, 'Role', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')],
  });

  test('a role of the user without ENI rights fails, naming the function, the role and the fix', () => {
    expect(vpcFunction(plainRole)).toMatch(
      /function "A\/Fn" runs in a VPC but its role "A\/Role" does not allow ec2:CreateNetworkInterface, ec2:DescribeNetworkInterfaces, ec2:DeleteNetworkInterface, ec2:AssignPrivateIpAddresses, ec2:UnassignPrivateIpAddresses.*Fix: give the role \(prop "role"\) the AWS managed policy service-role\/AWSLambdaVPCAccessExecutionRole/);
  });

  test('the managed policy, an inline statement, or the role aws-cdk-lib creates pass', () => {
    expect(vpcFunction((stack) => {
      const role = plainRole(stack);
      role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'));
      return role;
    })).toBeUndefined();
    expect(vpcFunction((stack) => {
      const role = plainRole(stack);
      role.addToPolicy(new iam.PolicyStatement({ actions: ['ec2:*NetworkInterface*', 'ec2:*PrivateIpAddresses'], resources: ['*'] }));
      return role;
    })).toBeUndefined();
    expect(vpcFunction(() => undefined)).toBeUndefined();
  });

  test('an explicit Deny wins over the managed policy', () => {
    expect(vpcFunction((stack) => {
      const role = plainRole(stack);
      role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'));
      role.addToPolicy(new iam.PolicyStatement({ effect: iam.Effect.DENY, actions: ['ec2:DeleteNetworkInterface'], resources: ['*'] }));
      return role;
    })).toMatch(/does not allow ec2:DeleteNetworkInterface on/);
  });

  test('the rule\'s policy reading agrees with the IAM policy simulator (generated policies)', async () => {
    const patterns = ['ec2:CreateNetworkInterface', 'ec2:createnetworkinterface', 'ec2:*', 'ec2:Create*', 'ec2:Describe*', 'ec2:*NetworkInterface*',
      'ec2:Delete?etworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:Unassign*', 's3:*', '*', 'ec2:DescribeSubnets'];
    const statement = fc.record({
      Effect: fc.constantFrom('Allow', 'Allow', 'Deny'),
      kind: fc.constantFrom('Action', 'NotAction'),
      actions: fc.uniqueArray(fc.constantFrom(...patterns), { minLength: 1, maxLength: 3 }),
    }).map(({ Effect, kind, actions }) => ({ Effect, [kind]: actions, Resource: '*' }));
    await fc.assert(fc.asyncProperty(fc.array(statement, { minLength: 1, maxLength: 3 }), fc.constantFrom(...[
      'ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses',
    ]), async (statements, action) => {
      const policy = { Version: '2012-10-17', Statement: statements };
      const result = await runSimulation({
        request: { principal: 'arn:aws:iam::111111111111:role/fn', action, resource: { resource: '*', accountId: '111111111111' }, contextVariables: {} },
        identityPolicies: [{ name: 'role', policy }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      }, {});
      if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
      expect(documentsAllow([policy], action)).toBe(result.overallResult === 'Allowed');
    }), { seed: 20261201, numRuns: 300 });
  }, 60_000);
});
