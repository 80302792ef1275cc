import { RemovalPolicy } from 'aws-cdk-lib';
import { cdcStack } from './cdc-fixtures';
import { acknowledgeUserFixtures, nagFindings } from './nag';
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
    acknowledgeUserFixtures({ vpc, secret });
    const findings = nagFindings(stack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});
