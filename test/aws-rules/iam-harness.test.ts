/**
 * The harness itself: intrinsics resolve to concrete ARNs, and the evaluator decides by the
 * policies (a condition on a KMS encryption-context key is really evaluated, an unknown context
 * key fails the edge instead of being dropped), so an allowed or denied edge means something.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { ACCOUNT, Edge, ENV, evaluate, OTHER_ACCOUNT_ROLE, REGION, StackPolicies } from './iam-harness';

function fixture() {
  const stack = new Stack(new App(), 'Harness', { env: ENV });
  const key = new kms.Key(stack, 'Key');
  key.addToResourcePolicy(new iam.PolicyStatement({
    principals: [new iam.ServicePrincipal('logs.eu-west-1.amazonaws.com')],
    actions: ['kms:GenerateDataKey'],
    resources: ['*'],
    conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/mine/*` } },
  }));
  const queue = new sqs.Queue(stack, 'Queue', { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: key, enforceSSL: true });
  const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  queue.grantSendMessages(role);
  return { p: new StackPolicies(stack), key, queue, role };
}

describe('iam harness', () => {
  const { p, key, queue, role } = fixture();
  const keyArn = p.str(key.keyArn);
  const queueArn = p.str(queue.queueArn);
  const roleArn = p.str(role.roleArn);
  const base = { why: 'harness', expect: 'allow' as const };

  test('tokens resolve to concrete ARNs', () => {
    expect(keyArn).toBe(`arn:aws:kms:${REGION}:${ACCOUNT}:key/Key961B73FD`);
    expect(queueArn).toMatch(new RegExp(`^arn:aws:sqs:${REGION}:${ACCOUNT}:Queue[0-9A-F]{8}$`));
    expect(roleArn).toMatch(new RegExp(`^arn:aws:iam::${ACCOUNT}:role/Role[0-9A-F]{8}$`));
  });

  const cases: [string, Omit<Edge, 'why' | 'expect' | 'name'>, string][] = [
    ['identity grant + TLS-only queue policy allow', { who: '', action: 'sqs:SendMessage', resource: '' }, 'Allowed'],
    ['the queue policy denies non-TLS', { who: '', action: 'sqs:SendMessage', resource: '', context: { 'aws:SecureTransport': 'false' } }, 'ExplicitlyDenied'],
    ['no identity grant, no resource grant: implicit deny', { who: '', action: 'sqs:DeleteQueue', resource: '' }, 'ImplicitlyDenied'],
    ['another account needs the resource policy', { who: OTHER_ACCOUNT_ROLE, action: 'sqs:SendMessage', resource: '' }, 'ImplicitlyDenied'],
    ['a service principal needs the resource policy', { who: 'events.amazonaws.com', action: 'sqs:SendMessage', resource: '' }, 'ImplicitlyDenied'],
  ];
  test.each(cases)('%s', async (_, partial, expected) => {
    const edge = { ...base, name: _, ...partial, who: partial.who || roleArn, resource: partial.resource || queueArn };
    expect((await evaluate(p, edge)).result).toBe(expected);
  });

  test('an encryption-context condition is evaluated: matching log group allowed', async () => {
    const edge = {
      ...base,
      name: 'ec',
      who: 'logs.eu-west-1.amazonaws.com',
      action: 'kms:GenerateDataKey',
      resource: keyArn,
      context: { 'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/mine/a` },
    };
    expect((await evaluate(p, edge)).result).toBe('Allowed');
  });
  test('an encryption-context condition is evaluated: other log group denied', async () => {
    const edge = {
      ...base,
      name: 'ec',
      who: 'logs.eu-west-1.amazonaws.com',
      action: 'kms:GenerateDataKey',
      resource: keyArn,
      context: { 'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/theirs/a` },
    };
    expect((await evaluate(p, edge)).result).toBe('ImplicitlyDenied');
  });
  test('a key policy that does not trust the account stops an identity grant', async () => {
    const edge = {
      ...base,
      name: 'kp',
      who: roleArn,
      action: 'kms:GenerateDataKey',
      resource: keyArn,
      resourcePolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/admin` }, Action: 'kms:*', Resource: '*' }] },
    };
    expect((await evaluate(p, edge)).result).toBe('ImplicitlyDenied');
  });
  test('a context key the action does not take fails the edge', async () => {
    const edge = { ...base, name: 'bad', who: roleArn, action: 'sqs:SendMessage', resource: queueArn, context: { 's3:prefix': 'x' } };
    await expect(evaluate(p, edge)).rejects.toThrow(/not ones AWS sends/);
  });
  test('an action that does not exist fails the edge', async () => {
    const edge = { ...base, name: 'bad', who: roleArn, action: 'sqs:SendMessages', resource: queueArn };
    await expect(evaluate(p, edge)).rejects.toThrow(/did not run/);
  });
});
