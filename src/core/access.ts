import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { IConstruct } from 'constructs';
import { addOrReportStatement } from './resource-policy';

/**
 * Access rules AWS enforces that aws-cdk-lib's grants leave out, in one place so every construct
 * applies them the same way. Each is proven by the access-path tier (`test/aws-rules/`).
 */

/**
 * What the execution role of a Lambda function in a VPC needs: the EC2 part of the AWS managed
 * policy AWSLambdaVPCAccessExecutionRole (v3). aws-cdk-lib attaches that policy only to a role it
 * creates itself; with a role of our own, Lambda rejects the function at create time.
 * The actions take no narrower resource than "*" (Describe* only work on "*").
 */
export const LAMBDA_VPC_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

/** Lets a role we create run a Lambda function in a VPC (see `LAMBDA_VPC_ACTIONS`). */
export function grantLambdaVpcAccess(role: iam.IRole): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: LAMBDA_VPC_ACTIONS, resources: ['*'] }));
}

/**
 * Wraps an EventBridge Scheduler target so that its execution role can also use the key of a
 * KMS-encrypted dead-letter queue. aws-cdk-lib grants the role `sqs:SendMessage` on the DLQ only;
 * SQS with a customer managed key also needs `kms:GenerateDataKey` and `kms:Decrypt` from the
 * sender, or Scheduler cannot put anything into the queue. The grant goes to the role's identity
 * policy; a key created in the stack trusts the account (the default key policy). An imported
 * key's policy must allow the account's IAM policies (its default) or the role.
 */
export function withDeadLetterKey(target: scheduler.IScheduleTarget, deadLetterQueue: sqs.IQueue): scheduler.IScheduleTarget {
  return {
    bind(schedule: scheduler.ISchedule): scheduler.ScheduleTargetConfig {
      const config = target.bind(schedule);
      deadLetterQueue.encryptionMasterKey?.grant(config.role, 'kms:GenerateDataKey', 'kms:Decrypt');
      return config;
    },
  };
}

/**
 * Adds a statement to a key's policy (for a service principal, which no identity policy can
 * grant). An imported key's policy is not ours to change: instead of dropping the statement
 * silently, warns at synth time with the exact statement the key's owner must add
 * (`addOrReportStatement`, the one mechanism for every imported resource's policy).
 */
export function addToKeyPolicy(scope: IConstruct, key: kms.IKey, statement: iam.PolicyStatement,
  why = 'the service cannot use the key'): void {
  addOrReportStatement(scope, key, 'key (KMS key policy)', statement, why);
}

/**
 * The statement a key's `grantEncryptDecrypt` gives a service principal (encrypt, decrypt,
 * re-encrypt, data keys), for `addToKeyPolicy`.
 */
export function serviceKeyUse(service: string, sid?: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    principals: [new iam.ServicePrincipal(service)],
    actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'],
    resources: ['*'],
  });
}
