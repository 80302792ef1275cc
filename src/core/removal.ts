import { RemovalPolicy } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * Context key that makes every lake in the app destroyable (sandboxes, integ tests): lakes,
 * and what watches them, then default to `RemovalPolicy.DESTROY` instead of RETAIN.
 */
export const DESTROY_ON_REMOVAL_CONTEXT = 'cdk-lakehouse:destroyOnRemoval';

/** Whether the app (or the scope's part of it) set `DESTROY_ON_REMOVAL_CONTEXT` to true. */
export function isDestroyOnRemoval(scope: IConstruct): boolean {
  const value = scope.node.tryGetContext(DESTROY_ON_REMOVAL_CONTEXT);
  return value === true || value === 'true';
}

/**
 * The removal policy of every construct of the library (`removalPolicy` prop): the one given, else
 * RETAIN, or DESTROY when the app sets `DESTROY_ON_REMOVAL_CONTEXT` (docs/conventions.md).
 */
export function resolveRemovalPolicy(scope: IConstruct, given: RemovalPolicy | undefined): RemovalPolicy {
  return given ?? (isDestroyOnRemoval(scope) ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN);
}
