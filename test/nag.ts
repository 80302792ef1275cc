import { Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';

/**
 * Runs cdk-nag's AwsSolutions pack on a stack and returns every error and warning it left
 * (after the stack's own suppressions). A test expects both lists to be empty.
 */
export function nagFindings(stack: Stack): { errors: string[]; warnings: string[] } {
  Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true }));
  const annotations = Annotations.fromStack(stack);
  const text = (entries: { id: string; entry: { data?: unknown } }[]) =>
    entries.map((e) => `${e.id}: ${String(e.entry.data)}`);
  return {
    errors: text(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))),
    warnings: text(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))),
  };
}
