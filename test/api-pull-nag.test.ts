import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import { nagFindings } from './nag';
import { ApiAuth, ApiPagination, ApiPullIngestion, LakehouseTier } from '../src';

function apiStack(removalPolicy: RemovalPolicy, notifyOnSuccess: boolean): Stack {
  const stack = new Stack(new App(), 'NagApiPull');
  const lake = new LakehouseTier(stack, 'Lake', { removalPolicy });
  const secret = new secretsmanager.Secret(stack, 'ApiSecret');
  // A user's secret: rotation is the owner's business (the API issues the token), not the construct's.
  NagSuppressions.addResourceSuppressions(secret, [
    { id: 'AwsSolutions-SMG4', reason: 'Token issued by the third-party API; rotated by its owner.' },
    { id: 'NIST.800.53.R5-SecretsManagerRotationEnabled', reason: 'Token issued by the third-party API; rotated by its owner.' },
    { id: 'NIST.800.53.R5-SecretsManagerUsingKMSKey', reason: 'The user\'s secret: its key is its owner\'s choice.' },
  ]);
  new ApiPullIngestion(stack, 'Shop', {
    lake,
    pipelineName: 'shop',
    removalPolicy,
    notifyOnSuccess,
    uploadDrop: notifyOnSuccess ? {} : undefined,
    endpoints: [
      {
        name: 'orders',
        url: 'https://api.example.com/v1/orders',
        schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
        auth: ApiAuth.bearerToken(secret),
        pagination: ApiPagination.cursor({ cursorPath: '$.meta.next' }),
        recordsPath: '$.data',
        recordIdField: 'id',
        incremental: { sinceParameter: 'since' },
      },
      {
        name: 'customers',
        url: 'https://api.example.com/v1/customers',
        schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '2' }),
        auth: ApiAuth.basic(secret),
        pagination: ApiPagination.linkHeader(),
        recordIdField: 'id',
        columns: [{ name: 'id', type: 'string' }],
      },
    ],
  });
  return stack;
}

describe('cdk-nag AwsSolutions on an ApiPullIngestion', () => {
  test.each([
    [RemovalPolicy.RETAIN, false],
    [RemovalPolicy.DESTROY, true],
  ])('no error or warning left (removal policy %s, notify on success %s)', (policy, notify) => {
    const findings = nagFindings(apiStack(policy, notify));
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
  });
});
