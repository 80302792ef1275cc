import { appendFileSync } from 'fs';
import { Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, NagSuppressions, NIST80053R5Checks } from 'cdk-nag';
import { IConstruct } from 'constructs';

/** The cdk-nag packs every nag test runs, and the rule-id prefix each pack reports under. */
export const NAG_PACKS = ['AwsSolutions', 'NIST.800.53.R5'] as const;

/**
 * Runs cdk-nag's AwsSolutions and NIST 800-53 R5 packs on a stack and returns every error and
 * warning either left (after the stack's own suppressions). A test expects both lists to be empty.
 * Each entry reads `<construct path>: <rule id>: <explanation>`.
 */
export function nagFindings(stack: Stack): { errors: string[]; warnings: string[] } {
  Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true }));
  Aspects.of(stack).add(new NIST80053R5Checks({ verbose: true }));
  const annotations = Annotations.fromStack(stack);
  const text = (entries: { id: string; entry: { data?: unknown } }[]) =>
    entries.map((e) => `${e.id}: ${String(e.entry.data)}`);
  const packs = Match.stringLikeRegexp('^(AwsSolutions-|NIST\\.800\\.53\\.R5-)');
  const errors = text(annotations.findError('*', packs));
  const warnings = text(annotations.findWarning('*', packs));
  // NAG_DUMP=<file> appends every finding left, one line each, for measuring an app.
  if (process.env.NAG_DUMP) appendFileSync(process.env.NAG_DUMP, [...errors, ...warnings].map((l) => `${stack.stackName} ${l.split('\n')[0]}\n`).join(''));
  return { errors, warnings };
}

/** Counts findings by rule id (for reports and for the harness self-test). */
export function countByRule(findings: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of findings) {
    const rule = /(AwsSolutions-[A-Za-z0-9]+|NIST\.800\.53\.R5-[A-Za-z0-9]+)/.exec(f)?.[1] ?? 'unknown';
    counts[rule] = (counts[rule] ?? 0) + 1;
  }
  return counts;
}

/**
 * Acknowledges findings on the user's own resources that a test builds as fixtures (a VPC a team
 * already runs, a database secret another team owns): they are not the library's to fix, and
 * nothing of the construct under test is suppressed.
 */
export function acknowledgeUserFixtures(fixtures: { vpc?: IConstruct; secret?: IConstruct; grantees?: IConstruct[] }): void {
  for (const grantee of fixtures.grantees ?? []) {
    // Only the default policy of a user's own role a test grants to: aws-cdk-lib grants
    // (grantX) always write an inline DefaultPolicy on the grantee; the role is the user's.
    NagSuppressions.addResourceSuppressions(grantee.node.findChild('DefaultPolicy'), [{
      id: 'NIST.800.53.R5-IAMNoInlinePolicy',
      reason: 'A user\'s own role (test fixture) given a library grant: aws-cdk-lib grants write the grantee\'s inline DefaultPolicy, '
        + 'and whether the user\'s roles use managed policies is the user\'s choice, not this library\'s.',
    }]);
  }
  if (fixtures.secret) {
    const rotation = 'The source database\'s credentials belong to the team that owns the database; they rotate them (RDS-managed rotation or their own rotation function). CdcIngestion only reads the secret.';
    NagSuppressions.addResourceSuppressions(fixtures.secret, [
      { id: 'AwsSolutions-SMG4', reason: rotation },
      { id: 'NIST.800.53.R5-SecretsManagerRotationEnabled', reason: rotation },
      { id: 'NIST.800.53.R5-SecretsManagerUsingKMSKey', reason: 'The user\'s secret: its key is its owner\'s choice.' },
    ]);
  }
  if (fixtures.vpc) {
    NagSuppressions.addResourceSuppressions(fixtures.vpc, ['IAMNoInlinePolicy', 'CloudWatchLogGroupEncrypted', 'VPCNoUnrestrictedRouteToIGW',
      'VPCSubnetAutoAssignPublicIpDisabled', 'VPCDefaultSecurityGroupClosed'].map((rule) => ({
      id: `NIST.800.53.R5-${rule}`, reason: 'The user\'s own VPC (fixture): its public subnets, flow logs and default security group are its owner\'s.',
    })), true);
  }
}
