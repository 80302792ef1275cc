import { createHash } from 'crypto';
import { Annotations, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';

/** Anything with a resource policy a statement can be added to (a key, a bucket, a topic...). */
export interface IHasResourcePolicy extends IConstruct {
  addToResourcePolicy(statement: iam.PolicyStatement): iam.AddToResourcePolicyResult;
}

/** Id of the warnings this library raises for a statement it could not add (acknowledgeable). */
export const OWNER_MUST_ADD = 'cdk-lakehouse:ownerMustAddStatement';

/**
 * Adds a statement to a resource's policy; when the resource is imported (its policy is not this
 * app's to change, so CDK drops the statement silently) it raises a synth-time warning on `scope`
 * naming the resource and the exact statement, as JSON, its owner must add.
 *
 * @param what how the resource reads in the message, e.g. 'lake key (KMS key policy)'
 * @param why what breaks without the statement
 * @returns whether the statement was added to a policy this app deploys
 */
export function addOrReportStatement(
  scope: IConstruct, resource: IHasResourcePolicy, what: string, statement: iam.PolicyStatement, why: string,
): boolean {
  const added = resource.addToResourcePolicy(statement).statementAdded;
  if (!added) reportStatement(scope, resource, what, statement, why);
  return added;
}

/** Raises the warning of `addOrReportStatement` without trying to add (for statements CDK adds itself). */
export function reportStatement(scope: IConstruct, resource: IConstruct, what: string, statement: iam.PolicyStatement, why: string): void {
  const json = JSON.stringify(readable(Stack.of(scope).resolve(statement.toStatementJson())));
  Annotations.of(scope).addWarningV2(`${OWNER_MUST_ADD}:${resource.node.path}:${statement.sid ?? hash(json)}`,
    `The ${what} ${resource.node.path} was not created by this app, so its policy cannot be changed here: ${why}. `
    + `Its owner must add this statement to its policy: ${json}`);
}

/** Intrinsics as `${...}` placeholders (Fn::Sub syntax), so the statement reads as one JSON value. */
export function readable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(readable);
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, any>;
  if (o.Ref !== undefined) return `\${${o.Ref}}`;
  if (o['Fn::GetAtt']) return `\${${o['Fn::GetAtt'].join('.')}}`;
  if (o['Fn::Join']) return (o['Fn::Join'][1] as unknown[]).map((p) => String(readable(p))).join(o['Fn::Join'][0]);
  if (o['Fn::ImportValue']) return `\${ImportValue:${String(readable(o['Fn::ImportValue']))}}`;
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, readable(v)]));
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}
