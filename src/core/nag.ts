import { CfnResource, Stack, Token } from 'aws-cdk-lib';
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
  const existing = resource.getMetadata('cdk_nag')?.rules_to_suppress ?? [];
  resource.addMetadata('cdk_nag', {
    rules_to_suppress: [
      ...existing,
      ...suppressions.map((s) => ({
        id: s.id,
        reason: s.reason,
        ...(s.appliesTo ? { applies_to: s.appliesTo.map((a) => (a.startsWith('/') && a.endsWith('/') ? { regex: a } : a)) } : {}),
      })),
    ],
  });
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
