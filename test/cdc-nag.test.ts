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
    // The user's own resources, not the construct's: a scaffold VPC without flow logs and a secret without rotation.
    NagSuppressions.addResourceSuppressions(vpc, [{ id: 'AwsSolutions-VPC7', reason: 'Test scaffold VPC.' }]);
    NagSuppressions.addResourceSuppressions(secret, [{ id: 'AwsSolutions-SMG4', reason: 'Test scaffold secret.' }]);
    const findings = nagFindings(stack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});
