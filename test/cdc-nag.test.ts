import { RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import { cdcStack } from './cdc-fixtures';
import { nagFindings } from './nag';
import { DmsAccountRoles, DmsCapacityMode } from '../src';

describe('cdk-nag AwsSolutions on a CdcIngestion', () => {
  test.each([
    [RemovalPolicy.RETAIN, DmsCapacityMode.SERVERLESS, DmsAccountRoles.USE_EXISTING],
    [RemovalPolicy.DESTROY, DmsCapacityMode.PROVISIONED, DmsAccountRoles.CREATE],
  ])('no error or warning left (removal policy %s, %s, account roles %s)', (removalPolicy, capacityMode, dmsAccountRoles) => {
    const { stack, vpc, secret } = cdcStack({ capacityMode, dmsAccountRoles }, removalPolicy);
    // The user's own resources, not the construct's: their VPC gets flow logs as a user's would;
    // the database secret's rotation belongs to the database's owner.
    vpc.addFlowLog('FlowLogs');
    const rotation = 'The source database\'s credentials belong to the team that owns the database; they rotate them (RDS-managed rotation or their own rotation function). CdcIngestion only reads the secret.';
    NagSuppressions.addResourceSuppressions(secret, [
      { id: 'AwsSolutions-SMG4', reason: rotation },
      { id: 'NIST.800.53.R5-SecretsManagerRotationEnabled', reason: rotation },
      { id: 'NIST.800.53.R5-SecretsManagerUsingKMSKey', reason: 'The user\'s secret: its key is its owner\'s choice.' },
    ]);
    // The user's VPC (a test fixture standing for the network a team already runs), not the construct's.
    NagSuppressions.addResourceSuppressions(vpc, ['IAMNoInlinePolicy', 'CloudWatchLogGroupEncrypted', 'VPCNoUnrestrictedRouteToIGW',
      'VPCSubnetAutoAssignPublicIpDisabled', 'VPCDefaultSecurityGroupClosed'].map((rule) => ({
      id: `NIST.800.53.R5-${rule}`, reason: 'The user\'s own VPC (fixture): its public subnets, flow logs and default security group are its owner\'s.',
    })), true);
    const findings = nagFindings(stack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});
