import { Annotations, Aspects, CfnResource, IAspect, Reference, Stack, Token, Tokenization } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { documentsAllow } from './iam-reading';
import { ATHENA_WORKGROUP_RULE, DASHBOARD_RULE, GLUE_NAME_RULE, IAM_ROLE_RULE, isValidName, LOG_GROUP_RULE, NameRule } from './naming';

/** Options of the deploy rules. */
export interface LakehouseDeployRulesProps {
  /**
   * The Lambda concurrency quota of the accounts the app deploys to. Lambda keeps
   * `min(100, quota)` executions unreserved ("decreases account's UnreservedConcurrentExecution
   * below its minimum value"), so the functions of one account and region may reserve at most
   * `quota - min(100, quota)` in total: nothing at all in a new account whose quota is 10.
   * @default 10 - the quota of a new account
   */
  readonly accountConcurrencyQuota?: number;
}

/** Who sets a resource's physical name: the library construct and its prop. */
interface NameOwner {
  readonly construct: IConstruct;
  readonly className: string;
  readonly prop: string;
}

interface Claim {
  readonly kind: string;
  readonly env: string;
  readonly name: string;
  readonly resource: CfnResource;
  readonly by: string;
  readonly fix: string;
}

/** Everything the rules learnt about one app (kept on the app root, shared by its stages). */
class AppRegistry {
  public readonly claims = new Map<string, Claim>();
  /** Subscription filters per log group. */
  public readonly filters = new Map<string, Map<string, string>>();
  /** Reserved concurrency per account and region: function path → reservation. */
  public readonly reservations = new Map<string, Map<string, number>>();
}

const REGISTRIES = new WeakMap<IConstruct, AppRegistry>();
const OWNERS = new WeakMap<IConstruct, NameOwner>();
const TRACKED = new WeakMap<Stack, Map<CfnResource, number>>();
const RULE_NAME = 'LakehouseDeployRules';

const ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];
/** AWS managed policies that carry every ENI action above (Lambda developer guide, "Giving Lambda functions access to a VPC"). */
const ENI_MANAGED_POLICIES = ['service-role/AWSLambdaVPCAccessExecutionRole', 'service-role/AWSLambdaENIManagementAccess'];

/**
 * Deploy-time rules as synth-time errors: what CloudFormation or a service would refuse only at
 * deploy time, found in the app before anything is deployed.
 *
 * - Two resources claiming one physical name in one account and region (Glue databases, Glue tables
 *   and table optimizers, Athena workgroups, log groups; IAM role names and dashboards per account):
 *   the error names both constructs and the prop that sets the name. Stacks without an explicit
 *   account or region count as one unknown environment of the app.
 * - A name the service rejects (length, characters).
 * - More than 2 subscription filters on one log group.
 * - Reserved concurrency the account cannot give (see `accountConcurrencyQuota`).
 * - A function in a VPC whose role (in the same template) lacks the ENI actions Lambda needs.
 *
 * Every construct of this library applies the rules to itself; add them to your own stacks (or
 * stages) to cover your resources too: `Aspects.of(stack).add(new LakehouseDeployRules())`.
 * Aspects stop at stage boundaries, so add them to each stage; clashes across stages are still
 * found, because every stage of the app reports into one registry kept on the app.
 */
export class LakehouseDeployRules implements IAspect {
  /**
   * Records that `construct` (and every resource under it) gets its physical names from `prop`
   * of the library construct `owner`: clash errors then name the prop that fixes them.
   * @internal
   */
  public static _nameOwner(construct: IConstruct, owner: IConstruct, className: string, prop: string): void {
    OWNERS.set(construct, { construct: owner, className, prop });
  }

  /** Applies the library's rules to one of its constructs (called by every library construct). @internal */
  public static _applyTo(construct: IConstruct): void {
    Aspects.of(construct).add(LIBRARY_RULES);
  }

  private readonly quota: number;

  constructor(props: LakehouseDeployRulesProps = {}) {
    const quota = props.accountConcurrencyQuota ?? 10;
    if (!Number.isInteger(quota) || quota < 1) {
      throw new Error(`${RULE_NAME}: invalid prop "accountConcurrencyQuota": ${quota} is not a positive whole number. Fix: use the quota shown by \`aws lambda get-account-settings\`.`);
    }
    this.quota = quota;
  }

  public visit(node: IConstruct): void {
    if (!CfnResource.isCfnResource(node)) return;
    const stack = Stack.of(node);
    let tracked = TRACKED.get(stack);
    if (!tracked) {
      tracked = new Map();
      TRACKED.set(stack, tracked);
      const own = tracked;
      stack.node.addValidation({ validate: () => checkStack(stack, own) });
    }
    // A user's rules (the quota they know) win over the library's default ones.
    if (!tracked.has(node) || this !== LIBRARY_RULES) tracked.set(node, this.quota);
  }
}

const LIBRARY_RULES = new LakehouseDeployRules();

function registryOf(scope: IConstruct): AppRegistry {
  const root = scope.node.root;
  let registry = REGISTRIES.get(root);
  if (!registry) {
    registry = new AppRegistry();
    REGISTRIES.set(root, registry);
  }
  return registry;
}

function envOf(stack: Stack, global: boolean): string {
  const account = Token.isUnresolved(stack.account) ? 'unknown account' : `account ${stack.account}`;
  if (global) return account;
  const region = Token.isUnresolved(stack.region) ? 'unknown region' : `region ${stack.region}`;
  return `${account}, ${region}`;
}

function ownerOf(resource: CfnResource): NameOwner | undefined {
  for (const scope of [...resource.node.scopes].reverse()) {
    const owner = OWNERS.get(scope);
    if (owner) return owner;
  }
  return undefined;
}

function displayPath(resource: CfnResource): string {
  const path = resource.node.path;
  return path.endsWith('/Resource') ? path.slice(0, -'/Resource'.length) : path;
}

/** A string value of the resource's properties, or undefined when it is only known at deploy time. */
function resolvedString(stack: Stack, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const resolved = stack.resolve(value);
  return typeof resolved === 'string' && !Token.isUnresolved(resolved) ? resolved : undefined;
}

function cfnProps(resource: CfnResource): any {
  // The properties CloudFormation will get, after property overrides.
  const stack = Stack.of(resource);
  const cfn = stack.resolve((resource as any)._toCloudFormation());
  const entries = Object.values(cfn?.Resources ?? {}) as any[];
  return entries[0]?.Properties ?? {};
}

interface NameSpec {
  readonly kind: string;
  readonly rule?: NameRule;
  readonly global: boolean;
  readonly cfnProp: string;
  readonly name: (p: any) => unknown;
  readonly caseInsensitive?: boolean;
}

const NAMED: Record<string, NameSpec> = {
  'AWS::Glue::Database': { kind: 'Glue database', rule: GLUE_NAME_RULE, global: false, cfnProp: 'DatabaseInput.Name', name: (p) => p.DatabaseInput?.Name },
  'AWS::Glue::Table': {
    kind: 'Glue table',
    global: false,
    cfnProp: 'TableInput.Name',
    name: (p) => (typeof p.DatabaseName === 'string' && typeof p.TableInput?.Name === 'string' ? `${p.DatabaseName}.${p.TableInput.Name}` : undefined),
  },
  // IcebergTable: a custom resource whose Create call is Glue CreateTable (lakehouse/iceberg-table.ts).
  'Custom::LakeIcebergTable': {
    kind: 'Glue table',
    global: false,
    cfnProp: 'TableInput.Name',
    name: (p) => {
      const call = createCallOf(p.Create);
      const db = call?.parameters?.DatabaseName;
      const table = call?.parameters?.TableInput?.Name;
      return typeof db === 'string' && typeof table === 'string' && !`${db}.${table}`.includes(UNRESOLVED) ? `${db}.${table}` : undefined;
    },
  },
  'AWS::Glue::TableOptimizer': {
    kind: 'Glue table optimizer',
    global: false,
    cfnProp: 'TableName',
    name: (p) => (typeof p.DatabaseName === 'string' && typeof p.TableName === 'string' && typeof p.Type === 'string' ? `${p.DatabaseName}.${p.TableName} (${p.Type})` : undefined),
  },
  'AWS::Athena::WorkGroup': { kind: 'Athena workgroup', rule: ATHENA_WORKGROUP_RULE, global: false, cfnProp: 'Name', name: (p) => p.Name },
  'AWS::Logs::LogGroup': { kind: 'log group', rule: LOG_GROUP_RULE, global: false, cfnProp: 'LogGroupName', name: (p) => p.LogGroupName },
  'AWS::IAM::Role': { kind: 'IAM role', rule: IAM_ROLE_RULE, global: true, cfnProp: 'RoleName', name: (p) => p.RoleName, caseInsensitive: true },
  'AWS::CloudWatch::Dashboard': { kind: 'CloudWatch dashboard', rule: DASHBOARD_RULE, global: true, cfnProp: 'DashboardName', name: (p) => p.DashboardName },
};

const UNRESOLVED = '#cdk-lakehouse-unresolved#';

/** An AwsCustomResource's `Create` property (a JSON string, or its Fn::Join when it holds tokens) as the call it makes. */
function createCallOf(create: unknown): any {
  let text: string | undefined;
  if (typeof create === 'string') text = create;
  const join = (create as any)?.['Fn::Join'];
  if (Array.isArray(join)) text = (join[1] as unknown[]).map((part) => (typeof part === 'string' ? part : UNRESOLVED)).join(join[0]);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function checkStack(stack: Stack, tracked: Map<CfnResource, number>): string[] {
  const registry = registryOf(stack);
  const errors: string[] = [];
  for (const [resource, quota] of tracked) {
    const type = resource.cfnResourceType;
    const spec = NAMED[type];
    if (!spec && type !== 'AWS::Logs::SubscriptionFilter' && type !== 'AWS::Lambda::Function') continue;
    const p = cfnProps(resource);
    if (spec) errors.push(...checkName(registry, stack, resource, spec, p));
    if (type === 'AWS::Logs::SubscriptionFilter') errors.push(...checkSubscriptionFilter(registry, stack, resource, p));
    if (type === 'AWS::Lambda::Function') {
      errors.push(...checkReservation(registry, stack, resource, p, quota));
      errors.push(...checkVpcRole(stack, resource, p));
    }
  }
  return errors;
}

function describeOwner(resource: CfnResource, cfnProp: string): { path: string; by: string; fix: string } {
  const owner = ownerOf(resource);
  if (owner) {
    return { path: owner.construct.node.path, by: `${owner.className} prop "${owner.prop}"`, fix: `"${owner.prop}"` };
  }
  return { path: displayPath(resource), by: `${resource.cfnResourceType} property "${cfnProp}"`, fix: `the "${cfnProp}" of ${resource.cfnResourceType}` };
}

function checkName(registry: AppRegistry, stack: Stack, resource: CfnResource, spec: NameSpec, p: any): string[] {
  const raw = resolvedString(stack, spec.name(p));
  if (raw === undefined) return [];
  const who = describeOwner(resource, spec.cfnProp);
  const errors: string[] = [];
  if (spec.rule && !isValidName(spec.rule, raw)) {
    errors.push(`${RULE_NAME}: ${spec.kind} name "${raw}" of "${who.path}" (${who.by}) is not a valid ${spec.rule.what} `
      + `(1-${spec.rule.maxLength} characters matching ${spec.rule.pattern}). Fix: change ${who.fix}.`);
  }
  const env = envOf(stack, spec.global);
  const name = spec.caseInsensitive ? raw.toLowerCase() : raw;
  const key = `${spec.kind}|${env}|${name}`;
  const earlier = registry.claims.get(key);
  if (!earlier) {
    registry.claims.set(key, { kind: spec.kind, env, name: raw, resource, by: `${who.path}" (${who.by})`, fix: who.fix });
  } else if (earlier.resource !== resource && earlier.resource.node.path !== resource.node.path) {
    const sameFix = earlier.fix === who.fix ? who.fix : `${earlier.fix} or ${who.fix}`;
    errors.push(`${RULE_NAME}: ${spec.kind} "${raw}" is defined twice in ${env}: by "${earlier.by} and by "${who.path}" (${who.by}). `
      + `CloudFormation would fail to create the second. Fix: give one of them another name through ${sameFix}.`);
  }
  return errors;
}

function checkSubscriptionFilter(registry: AppRegistry, stack: Stack, resource: CfnResource, p: any): string[] {
  const group = logGroupIdentity(stack, resource, p.LogGroupName);
  if (!group) return [];
  let filters = registry.filters.get(group.key);
  if (!filters) {
    filters = new Map();
    registry.filters.set(group.key, filters);
  }
  const who = describeOwner(resource, 'LogGroupName');
  filters.set(resource.node.path, `"${who.path}" (${who.by})`);
  if (filters.size <= 2) return [];
  return [`${RULE_NAME}: log group ${group.label} gets ${filters.size} subscription filters, CloudWatch Logs takes at most 2 per log group: `
    + `${[...filters.values()].join(', ')}. Fix: remove one, e.g. watch the pipeline from at most two PipelineObservability (their "pipelines" prop).`];
}

/** Which log group a subscription filter names: a log group of the app (by its resource) or a name. */
function logGroupIdentity(stack: Stack, filter: CfnResource, resolvedName: unknown): { key: string; label: string } | undefined {
  const raw = (filter as any).logGroupName as string | undefined;
  if (raw !== undefined && Token.isUnresolved(raw)) {
    const token = Tokenization.reverseString(raw).firstToken;
    if (token instanceof Reference && CfnResource.isCfnResource(token.target) && token.target.cfnResourceType === 'AWS::Logs::LogGroup') {
      const target = token.target as CfnResource;
      const targetStack = Stack.of(target);
      const name = resolvedString(targetStack, (target as any).logGroupName);
      return name !== undefined
        ? { key: `${envOf(targetStack, false)}|${name}`, label: `"${name}"` }
        : { key: `resource|${target.node.path}`, label: `"${displayPath(target)}"` };
    }
  }
  if (typeof resolvedName === 'string') return { key: `${envOf(stack, false)}|${resolvedName}`, label: `"${resolvedName}"` };
  return undefined;
}

function checkReservation(registry: AppRegistry, stack: Stack, resource: CfnResource, p: any, quota: number): string[] {
  const reserved = p.ReservedConcurrentExecutions;
  if (typeof reserved !== 'number' || reserved <= 0) return [];
  const env = envOf(stack, false);
  let functions = registry.reservations.get(env);
  if (!functions) {
    functions = new Map();
    registry.reservations.set(env, functions);
  }
  functions.set(displayPath(resource), reserved);
  const total = [...functions.values()].reduce((a, b) => a + b, 0);
  const allowed = quota - Math.min(100, quota);
  if (total <= allowed) return [];
  const list = [...functions.entries()].map(([path, n]) => `"${path}" (${n})`).join(', ');
  return [`${RULE_NAME}: functions in ${env} reserve ${total} concurrent executions (${list}), but an account whose Lambda concurrency quota is ${quota} `
    + `can reserve at most ${allowed} (Lambda keeps ${Math.min(100, quota)} unreserved); CloudFormation would fail to create the function. `
    + 'Fix: remove "reservedConcurrentExecutions" (limit the callers instead), or, when the accounts have a higher quota, '
    + 'say so with new LakehouseDeployRules({ accountConcurrencyQuota: n }).'];
}

function checkVpcRole(stack: Stack, fn: CfnResource, p: any): string[] {
  const subnets = p.VpcConfig?.SubnetIds;
  if (!Array.isArray(subnets) || subnets.length === 0) return [];
  const role = roleInTemplate(stack, p.Role);
  const path = displayPath(fn);
  if (!role) {
    Annotations.of(fn).addWarningV2('cdk-lakehouse:vpcRoleUnchecked',
      `${RULE_NAME}: "${path}" runs in a VPC with a role from outside this stack; make sure it allows ${ENI_ACTIONS.join(', ')} on "*".`);
    return [];
  }
  const missing = missingEniActions(stack, role);
  if (missing.length === 0) return [];
  return [`${RULE_NAME}: function "${path}" runs in a VPC but its role "${displayPath(role)}" does not allow ${missing.join(', ')} on "*"; `
    + 'Lambda refuses to create the function. Fix: give the role (prop "role") the AWS managed policy service-role/AWSLambdaVPCAccessExecutionRole, '
    + 'or let aws-cdk-lib create the role.'];
}

function roleInTemplate(stack: Stack, roleArn: unknown): CfnResource | undefined {
  const getAtt = (roleArn as any)?.['Fn::GetAtt'];
  if (!Array.isArray(getAtt)) return undefined;
  const logicalId = getAtt[0];
  return stack.node.findAll().find((c): c is CfnResource => CfnResource.isCfnResource(c)
    && c.cfnResourceType === 'AWS::IAM::Role' && stack.resolve(c.logicalId) === logicalId);
}

/** The ENI actions the role's policies in this template do not allow (Allow on "*", no condition, no Deny). */
function missingEniActions(stack: Stack, role: CfnResource): string[] {
  const roleProps = cfnProps(role);
  const roleId = stack.resolve(role.logicalId);
  const documents: any[] = (roleProps.Policies ?? []).map((x: any) => x.PolicyDocument);
  const managed: string[] = [];
  const resources = stack.node.findAll().filter((c): c is CfnResource => CfnResource.isCfnResource(c));
  const refersToRole = (list: unknown) => Array.isArray(list) && list.some((r: any) => r?.Ref === roleId);
  for (const arn of roleProps.ManagedPolicyArns ?? []) {
    if (typeof arn?.Ref === 'string') {
      const mp = resources.find((r) => r.cfnResourceType === 'AWS::IAM::ManagedPolicy' && stack.resolve(r.logicalId) === arn.Ref);
      if (mp) documents.push(cfnProps(mp).PolicyDocument);
    } else {
      managed.push(JSON.stringify(arn));
    }
  }
  for (const r of resources) {
    if (r.cfnResourceType === 'AWS::IAM::Policy' || r.cfnResourceType === 'AWS::IAM::ManagedPolicy') {
      const rp = cfnProps(r);
      if (refersToRole(rp.Roles)) documents.push(rp.PolicyDocument);
    }
  }
  const managedAllows = managed.some((arn) => ENI_MANAGED_POLICIES.some((name) => arn.includes(`:policy/${name}`)));
  return ENI_ACTIONS.filter((action) => !documentsAllow(documents, action, managedAllows));
}
