import { AspectPriority, Aspects, CfnResource, IAspect, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as cr from 'aws-cdk-lib/custom-resources';
import { IConstruct } from 'constructs';

/** One cdk-nag finding to suppress, with the reason a security reviewer reads. */
export interface NagSuppression {
  readonly id: string;
  readonly reason: string;
  /**
   * Finding details it covers (e.g. `Resource::...`), as exact strings or `/regex/` strings.
   * Leave it out only for rules that have no granular findings (e.g. SQS3, KDS3).
   */
  readonly appliesTo?: string[];
}

/** Escapes a literal (a prefix, a name) for use inside an `appliesTo` regex. */
export function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Records cdk-nag suppressions on a resource's metadata (the format cdk-nag reads), so the
 * library suppresses its own justified findings without a runtime dependency on cdk-nag.
 * Always scoped to one resource, and to named findings for rules that have them.
 */
export function suppressNag(scope: IConstruct, suppressions: NagSuppression[]): void {
  const resource = (scope.node.defaultChild ?? scope) as CfnResource;
  if (!(resource instanceof CfnResource)) return;
  suppressions = suppressions.map((s) => (s.appliesTo ? { ...s, appliesTo: [...new Set(s.appliesTo.flatMap((a) => asRendered(resource, a)))] } : s));
  const existing: Array<{ id: string }> = resource.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
  // The same acknowledgement from two callers (e.g. a shared provider function) is recorded once.
  const fresh = suppressions.filter((s) => !existing.some((e) => e.id === s.id && !s.appliesTo));
  resource.addMetadata('cdk_nag', {
    rules_to_suppress: [
      ...existing,
      ...fresh.map((s) => ({
        id: s.id,
        reason: s.reason,
        ...(s.appliesTo ? { applies_to: s.appliesTo.map((a) => (a.startsWith('/') && a.endsWith('/') ? { regex: a } : a)) } : {}),
      })),
    ],
  });
}

/**
 * Reasons shared by several constructs, so each acknowledgement reads the same everywhere.
 * Each is applied to one library-created resource at a time (never to a stack or a rule).
 */
export const NagReasons = {
  /** NIST IAMNoInlinePolicy on a role's generated policy. */
  inlinePolicy: (what: string) =>
    `${what}: this AWS::IAM::Policy is the grant policy aws-cdk-lib generates for one role the construct creates, attached to that role only `
    + 'and created and deleted with it; every statement is scoped to the construct\'s own resources. AWS recommends inline policies when a '
    + 'policy must keep a strict one-to-one relationship with its identity (IAM User Guide, "Choosing between managed policies and inline '
    + 'policies"); a customer-managed policy would be a second object nobody else may attach.',
  /** NIST S3BucketReplicationEnabled on a bucket the library creates. */
  noReplication: (what: string) =>
    `${what}: cross-Region replication needs a destination bucket in another Region (or account) and a replication role, which a single `
    + 'stack cannot create; durability in-Region is S3\'s (11 nines across AZs), with versioning and RETAIN on data buckets. Teams whose '
    + 'recovery plan needs a second Region add a replication rule to the bucket (escape hatch, e.g. `replicationRules`) or their org\'s S3 Replication policy.',
  /** NIST LambdaDLQ on a function that is only ever invoked synchronously. */
  synchronousLambda: (what: string, caller: string) =>
    `${what}: invoked synchronously by ${caller}, which receives the error and retries or fails visibly; a function dead-letter queue `
    + 'only applies to asynchronous invocations (Lambda Developer Guide, "Asynchronous invocation"), so it would never receive a message.',
  /** NIST LambdaConcurrency. */
  noReservedConcurrency: (what: string, bound: string) =>
    `${what}: concurrency is bounded by ${bound}. Reserved concurrency would subtract from the account's unreserved pool and fails to deploy `
    + 'in accounts whose concurrency quota is 10 (new accounts), so the construct does not set it; `reservedConcurrentExecutions` can be set '
    + 'on the function (escape hatch).',
  /** NIST LambdaInsideVPC. */
  noVpc: (what: string, calls: string) =>
    `${what}: calls ${calls} only, through public AWS endpoints over TLS with SigV4; a VPC would need NAT gateways or interface endpoints `
    + 'and adds no isolation for AWS API calls. IAM and the resource policies are the boundary.',
  /** NIST CloudWatchAlarmAction on a pipeline-contract alarm. */
  alarmWithoutAction: (what: string) =>
    `${what}: a pipeline-contract alarm. The construct does not choose where alarms go: PipelineObservability (or the user's own `
    + 'monitoring) adds the SNS action when it watches the pipeline, through `pipeline.alarms`; the alarm state is on the dashboard either way.',
};

/**
 * Acknowledges the findings on aws-cdk-lib's AwsCustomResource provider (one singleton function
 * per stack, built and versioned by aws-cdk-lib) and on one custom resource's generated policy.
 * Only the provider function, its role and this custom resource's policy get the metadata.
 */
export function acknowledgeAwsCustomResourceProvider(scope: IConstruct, resource: IConstruct): void {
  const policy = resource.node.tryFindChild('CustomResourcePolicy');
  if (policy) {
    suppressNag(policy, [{ id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: NagReasons.inlinePolicy('AwsCustomResource policy') }]);
  }
  const stack = Stack.of(scope);
  const provider = stack.node.tryFindChild(`AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`);
  if (!provider) return;
  const what = 'AwsCustomResource provider (aws-cdk-lib\'s singleton function)';
  suppressNag(provider, [
    { id: 'AwsSolutions-L1', reason: `${what}: its runtime is chosen by aws-cdk-lib and moves with aws-cdk-lib upgrades.` },
    { id: 'NIST.800.53.R5-LambdaDLQ', reason: NagReasons.synchronousLambda(what, 'CloudFormation (custom resource requests), which fails the deploy on an error') },
    { id: 'NIST.800.53.R5-LambdaConcurrency', reason: NagReasons.noReservedConcurrency(what, 'the custom resources of the stack (one request each per deploy)') },
    { id: 'NIST.800.53.R5-LambdaInsideVPC', reason: NagReasons.noVpc(what, 'the AWS APIs of its custom resources (Glue, DMS)') },
  ]);
  const role = provider.node.tryFindChild('ServiceRole');
  if (role) {
    suppressNag(role, [{
      id: 'AwsSolutions-IAM4',
      reason: `${what}: logs with AWSLambdaBasicExecutionRole (aws-cdk-lib's choice); its other permissions are each custom resource's own scoped policy.`,
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
    }]);
  }
}

/**
 * Acknowledges NIST IAMNoInlinePolicy on every IAM policy the construct creates under itself, also
 * those created after its constructor (grants, scheduled queries): an aspect that runs before
 * cdk-nag's checks and marks each `AWS::IAM::Policy` in the construct's own tree, one at a time.
 * Policies of roles the user passed live under the user's role, outside this tree.
 */
export function acknowledgeInlinePolicies(scope: IConstruct, what: string): void {
  Aspects.of(scope).add(new InlinePolicyAcknowledgement(what), { priority: AspectPriority.MUTATING });
}

class InlinePolicyAcknowledgement implements IAspect {
  constructor(private readonly what: string) {}
  public visit(node: IConstruct): void {
    if (node instanceof iam.CfnPolicy) {
      suppressNag(node, [{ id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: NagReasons.inlinePolicy(this.what) }]);
    }
  }
}

/**
 * Acknowledges NIST IAMNoInlinePolicy on the role aws-cdk-lib's scheduler targets create for a
 * schedule of the construct (`SchedulerRoleForTarget-<hash>`, one per target ARN at the stack's
 * root). Only the role this schedule's target uses is marked.
 */
export function acknowledgeScheduleRole(schedule: IConstruct, what: string): void {
  const target = (schedule.node.defaultChild as { target?: { roleArn?: string } } | undefined)?.target;
  const role = Stack.of(schedule).node.children.find((c) => c instanceof iam.Role && c.roleArn === target?.roleArn) as iam.Role | undefined;
  const policy = role?.node.tryFindChild('DefaultPolicy');
  if (policy) suppressNag(policy, [{ id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: NagReasons.inlinePolicy(`${what} (the role aws-cdk-lib's scheduler target creates)`) }]);
}

/** Imported lake resources' ARNs as cdk-nag renders them, per app. */
const IMPORTED_ARNS = new WeakMap<IConstruct, Set<string>>();

/**
 * An ARN as cdk-nag shows it in a finding: its `flattenCfnReference` of the resolved value
 * (`Fn::GetAtt` → `<Id.Attr>`, `Ref` → `<Id>`, `Fn::Join` joined, `Fn::ImportValue` its name).
 */
export function nagRendered(scope: IConstruct, arn: string): string {
  const visit = (node: unknown): string => {
    if (node === undefined) return '';
    if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
    const o = node as Record<string, any>;
    if (o['Fn::Join']) return (o['Fn::Join'][1] as unknown[]).map(visit).join(o['Fn::Join'][0]);
    if (o['Fn::Sub']) return visit(o['Fn::Sub']);
    if (o['Fn::GetAtt']) return `<${visit(o['Fn::GetAtt'][0])}.${visit(o['Fn::GetAtt'][1])}>`;
    if (o['Fn::ImportValue']) return visit(o['Fn::ImportValue']);
    if (o.Ref) return `<${visit(o.Ref)}>`;
    return JSON.stringify(node);
  };
  return visit(Stack.of(scope).resolve(arn));
}

/**
 * Records a bucket (or other resource) of the lake that the library did not create, so that the
 * library's acknowledgements written for `<Bucket.Arn>` also match it as cdk-nag renders it
 * (`arn:<AWS::Partition>:s3:::name` for `Bucket.fromBucketName`, the literal for an ARN string).
 */
export function registerImportedNagArn(scope: IConstruct, arn: string): void {
  const rendered = nagRendered(scope, arn);
  if (/^<[^<>]+>$/.test(rendered)) return;
  const root = scope.node.root;
  const set = IMPORTED_ARNS.get(root) ?? new Set<string>();
  set.add(rendered);
  IMPORTED_ARNS.set(root, set);
}

/**
 * One `appliesTo` entry as it must read for this resource: written for a created resource
 * (`<X.Arn>`) it also matches every imported lake resource; written with `<AWS::Region>` and
 * `<AWS::AccountId>` it also matches the literal region and account cdk-nag shows in a stack with
 * a concrete environment.
 */
function asRendered(resource: CfnResource, entry: string): string[] {
  const out = [entry];
  const isRegex = entry.startsWith('/') && entry.endsWith('/');
  const imported = [...(IMPORTED_ARNS.get(resource.node.root) ?? [])];
  if (isRegex && imported.length > 0) {
    const alternatives = `(?:${imported.map(escapeRegex).join('|')})`;
    const widened = entry.replace(/<[^<>]*\\\.Arn>/g, () => alternatives);
    if (widened !== entry) out.push(widened);
  }
  const stack = Stack.of(resource);
  const account = Token.isUnresolved(stack.account) ? undefined : stack.account;
  const region = Token.isUnresolved(stack.region) ? undefined : stack.region;
  for (const e of [...out]) {
    let concrete = e;
    if (region) concrete = concrete.split('<AWS::Region>').join(isRegex ? escapeRegex(region) : region);
    if (account) concrete = concrete.split('<AWS::AccountId>').join(account);
    if (concrete !== e) out.push(concrete);
  }
  return out;
}
