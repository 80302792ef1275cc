import { CfnResource } from 'aws-cdk-lib';
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
