import { Names, Stack, Token, TokenComparison } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, IConstruct } from 'constructs';

// Explicit action lists (no `s3:Get*`-style wildcards): what one read or one write of lake data
// needs, and nothing else. Shared by zones, tables and every construct that grants lake access.
const S3_OBJECT_READ = ['s3:GetObject', 's3:GetObjectVersion'];
const S3_OBJECT_WRITE = ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];
const S3_BUCKET_WRITE = ['s3:ListBucketMultipartUploads'];
const KMS_READ = ['kms:Decrypt'];
const KMS_WRITE = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];
const GLUE_READ = [
  'glue:GetDatabase',
  'glue:GetTable',
  'glue:GetTables',
  'glue:GetPartition',
  'glue:GetPartitions',
  'glue:BatchGetPartition',
];
const GLUE_WRITE = [
  'glue:UpdateTable',
  'glue:CreatePartition',
  'glue:BatchCreatePartition',
  'glue:UpdatePartition',
  'glue:BatchUpdatePartition',
  'glue:DeletePartition',
  'glue:BatchDeletePartition',
];

/** What a lake grant covers. */
export interface LakeAccess {
  readonly bucket: s3.IBucket;
  readonly key: kms.IKey;
  /** Limit S3 to this prefix; undefined = the whole bucket. */
  readonly prefix?: string;
  readonly catalogArn: string;
  readonly databaseArn: string;
  /** Table ARNs (may end with `/*` for every table of the database). */
  readonly tableArns: string[];
  /** Allow creating tables in the database (zone-level writes). */
  readonly createTables?: boolean;
}

/** Grants read access to lake data and its catalog entries. */
export function grantLakeRead(grantee: iam.IGrantable, access: LakeAccess): iam.Grant {
  return grantLake(grantee, access, false);
}

/** Grants read and write access to lake data and its catalog entries. */
export function grantLakeReadWrite(grantee: iam.IGrantable, access: LakeAccess): iam.Grant {
  return grantLake(grantee, access, true);
}

function grantLake(grantee: iam.IGrantable, access: LakeAccess, write: boolean): iam.Grant {
  const objects = access.bucket.arnForObjects(`${access.prefix ?? ''}*`);
  const grants: iam.Grant[] = [];
  const add = (actions: string[], resourceArns: string[], conditions?: Record<string, Record<string, unknown>>) =>
    grants.push(iam.Grant.addToPrincipal({ grantee, actions, resourceArns, conditions }));

  add(write ? [...S3_OBJECT_READ, ...S3_OBJECT_WRITE] : S3_OBJECT_READ, [objects]);
  // ListBucket is the one bucket action that honours s3:prefix; keep it apart so the condition
  // does not deny GetBucketLocation.
  add(['s3:ListBucket'], [access.bucket.bucketArn], access.prefix ? { StringLike: { 's3:prefix': [`${access.prefix}*`] } } : undefined);
  add(write ? ['s3:GetBucketLocation', ...S3_BUCKET_WRITE] : ['s3:GetBucketLocation'], [access.bucket.bucketArn]);
  grants.push(access.key.grant(grantee, ...(write ? KMS_WRITE : KMS_READ)));

  const catalog = [access.catalogArn, access.databaseArn, ...access.tableArns];
  const glueActions = write ? [...GLUE_READ, ...GLUE_WRITE, ...(access.createTables ? ['glue:CreateTable'] : [])] : GLUE_READ;
  add(glueActions, catalog);

  return grants.reduce((all, g) => all.combine(g));
}

/** ARNs of the Glue catalog, a database and its tables in the stack of `scope`. */
export function glueArns(scope: IConstruct, databaseName: string) {
  const stack = Stack.of(scope);
  const arn = (resource: string, resourceName?: string) =>
    stack.formatArn({ service: 'glue', resource, resourceName });
  return {
    catalogArn: arn('catalog'),
    databaseArn: arn('database', databaseName),
    tableArn: (tableName: string) => arn('table', `${databaseName}/${tableName}`),
  };
}

/**
 * The grantee to give identity statements that name resources of `scope` (e.g. a workgroup's
 * results bucket) without making a dependency cycle between stacks.
 *
 * Normally statements go into the grantee's own policy, in the grantee's stack, which then depends
 * on `scope`'s stack. When the grantee lives in a stack that `scope`'s stack already depends on
 * (`upstream`: the constructs `scope` references, e.g. the lake whose key it uses, plus the stack's
 * explicit dependencies, followed transitively), that reverse reference would close a cycle. Then
 * the statements go into an `iam.Policy` created under `scope` and attached to the grantee's role,
 * user or group by name: the reference points from `scope`'s stack to the grantee's stack, the way
 * the other references already point. A principal that cannot take an attached policy (a service
 * or account principal) or lives in another account or region is returned as given.
 */
export function granteeForStatementsIn(scope: Construct, grantee: iam.IGrantable, upstream: IConstruct[]): iam.IGrantable {
  const principal = grantee.grantPrincipal;
  if (!Construct.isConstruct(principal)) return grantee;
  const attachable = principal as unknown as { attachInlinePolicy?: (policy: iam.Policy) => void };
  if (typeof attachable.attachInlinePolicy !== 'function') return grantee;
  const here = Stack.of(scope);
  const there = Stack.of(principal);
  if (here === there || !sameEnvironment(here, there) || !upstreamStacks(here, upstream).has(there)) return grantee;

  const id = `GrantTo${Names.nodeUniqueId(principal.node)}`;
  let policy = scope.node.tryFindChild(id) as iam.Policy | undefined;
  if (!policy) {
    policy = new iam.Policy(scope, id);
    attachable.attachInlinePolicy(policy);
  }
  return { grantPrincipal: new AttachedPolicyPrincipal(principal, policy) };
}

/** The policy `granteeForStatementsIn` attached, when it returned such a grantee. */
export function attachedPolicyOf(grantee: iam.IGrantable): iam.Policy | undefined {
  return grantee.grantPrincipal instanceof AttachedPolicyPrincipal ? grantee.grantPrincipal.policy : undefined;
}

/** The stacks `stack` depends on: those of `upstream` and its explicit dependencies, transitively. */
function upstreamStacks(stack: Stack, upstream: IConstruct[]): Set<Stack> {
  const found = new Set<Stack>();
  const visit = (s: Stack) => {
    if (found.has(s)) return;
    found.add(s);
    s.dependencies.forEach(visit);
  };
  upstream.map((c) => Stack.of(c)).filter((s) => s !== stack).forEach(visit);
  stack.dependencies.forEach(visit);
  found.delete(stack);
  return found;
}

function sameEnvironment(a: Stack, b: Stack): boolean {
  const same = (x: string, y: string) => [TokenComparison.SAME, TokenComparison.BOTH_UNRESOLVED].includes(Token.compareStrings(x, y));
  return same(a.account, b.account) && same(a.region, b.region);
}

/** The grantee's principal, except that identity statements go into one attached policy. */
class AttachedPolicyPrincipal implements iam.IPrincipal {
  public readonly grantPrincipal: iam.IPrincipal = this;
  public readonly assumeRoleAction: string;
  public readonly policyFragment: iam.PrincipalPolicyFragment;
  public readonly principalAccount?: string;

  constructor(principal: iam.IPrincipal, public readonly policy: iam.Policy) {
    this.assumeRoleAction = principal.assumeRoleAction;
    this.policyFragment = principal.policyFragment;
    this.principalAccount = principal.principalAccount;
  }

  public addToPolicy(statement: iam.PolicyStatement): boolean {
    return this.addToPrincipalPolicy(statement).statementAdded;
  }

  public addToPrincipalPolicy(statement: iam.PolicyStatement): iam.AddToPrincipalPolicyResult {
    this.policy.addStatements(statement);
    return { statementAdded: true, policyDependable: this.policy };
  }
}
