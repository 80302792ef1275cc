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
    NagSuppressions.addResourceSuppressions(secret, [{
      id: 'AwsSolutions-SMG4',
      reason: 'The source database\'s credentials belong to the team that owns the database; they rotate them (RDS-managed rotation or their own rotation function). CdcIngestion only reads the secret.',
    }]);
    const findings = nagFindings(stack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});
