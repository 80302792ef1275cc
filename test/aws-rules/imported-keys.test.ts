/**
 * Keys a user brings (imported): their key policy cannot be changed by the stack. Every
 * statement a construct needs on a key for a service principal (CloudWatch Logs, DMS, CloudWatch,
 * EventBridge, CloudTrail) must not be dropped silently: the construct warns at synth time with
 * the exact statement, and that statement added to the key's default policy is what makes the
 * service's request allowed (and without it, the request is denied).
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ACCOUNT, ENV, evaluate, fromSource, logsContext, REGION, StackPolicies } from './iam-harness';
import {
  ApiPullIngestion, CdcIngestion, DataPipeline, LakehouseTier, LakeZoneName, PipelineObservability, StreamingDedupIngestion,
} from '../../src';
import { cdcProps } from '../cdc-fixtures';

const IMPORTED = `arn:aws:kms:${REGION}:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;
/** A key's default key policy: the account root, which lets IAM policies of the account decide. */
const DEFAULT_KEY_POLICY = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] };

function fresh() {
  const stack = new Stack(new App(), 'Imported', { env: ENV });
  return { stack, key: kms.Key.fromKeyArn(stack, 'ImportedKey', IMPORTED) };
}

/** The statements the warnings ask the key's owner to add. */
function warnedStatements(stack: Stack): any[] {
  return Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('must add this statement'))
    .map((w) => String(w.entry.data))
    .filter((text) => text.includes('(KMS key policy)'))
    .map((text) => JSON.parse(/policy: (\{.*\})(?: \[ack: [^\]]+\])?$/s.exec(text)![1].split('${AWS::Partition}').join('aws').split('${AWS::URLSuffix}').join('amazonaws.com')));
}

interface Case {
  readonly name: string;
  readonly build: () => Stack;
  readonly who: string;
  readonly action: string;
  readonly context: Record<string, string>;
}

const glueLogs = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws-glue/jobs/logs-v2`;
const cases: Case[] = [
  {
    name: 'CdcIngestion jobEncryptionKey: CloudWatch Logs encrypts the merge job logs',
    build: () => {
      const { stack, key } = fresh();
      const lake = new LakehouseTier(stack, 'Lake', {});
      const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
      const secret = new secretsmanager.Secret(stack, 'DbSecret');
      const dbSecurityGroup = new ec2.SecurityGroup(stack, 'DbSg', { vpc });
      new CdcIngestion(stack, 'Shop', { ...cdcProps({ stack, lake, vpc, secret, dbSecurityGroup }), jobEncryptionKey: key });
      return stack;
    },
    who: `logs.${REGION}.amazonaws.com`,
    action: 'kms:GenerateDataKey',
    context: logsContext(glueLogs),
  },
  {
    name: 'CdcIngestion jobEncryptionKey: DMS encrypts its storage',
    build: () => cases[0].build(),
    who: 'dms.amazonaws.com',
    action: 'kms:GenerateDataKey',
    context: {},
  },
  {
    name: 'ApiPullIngestion jobEncryptionKey: CloudWatch Logs encrypts the transform logs',
    build: () => {
      const { stack, key } = fresh();
      const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'shop' });
      new ApiPullIngestion(stack, 'Api', {
        lake,
        pipelineName: 'shop',
        jobEncryptionKey: key,
        endpoints: [{ name: 'orders', url: 'https://api.example.com/orders', schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)), recordIdField: 'id' }],
      });
      return stack;
    },
    who: `logs.${REGION}.amazonaws.com`,
    action: 'kms:GenerateDataKey',
    context: logsContext(glueLogs),
  },
  {
    name: 'StreamingDedupIngestion on a lake with an imported key: CloudWatch Logs encrypts the merge logs',
    build: () => {
      const { stack, key } = fresh();
      const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake', encryptionKey: key });
      new StreamingDedupIngestion(stack, 'Events', { lake });
      return stack;
    },
    who: `logs.${REGION}.amazonaws.com`,
    action: 'kms:GenerateDataKey',
    context: logsContext(glueLogs),
  },
  {
    name: 'LakeCrawler on a lake with an imported key: CloudWatch Logs encrypts the crawler logs',
    build: () => {
      const { stack, key } = fresh();
      const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake', encryptionKey: key });
      lake.addCrawler('Crawler', LakeZoneName.RAW);
      return stack;
    },
    who: `logs.${REGION}.amazonaws.com`,
    action: 'kms:GenerateDataKey',
    context: logsContext(`arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws-glue/crawlers-role/crawler-role-security`),
  },
  {
    name: 'PipelineObservability topicEncryptionKey: CloudWatch alarms publish to the encrypted topic',
    build: () => {
      const { stack, key } = fresh();
      const m = new cloudwatch.Metric({ namespace: 'T', metricName: 'm' });
      new PipelineObservability(stack, 'Obs', { topicEncryptionKey: key, pipelines: [new DataPipeline(stack, 'P', { pipelineName: 'p', metrics: { throughput: m, errors: m } })] });
      return stack;
    },
    who: 'cloudwatch.amazonaws.com',
    action: 'kms:GenerateDataKey',
    context: {},
  },
  {
    name: 'PipelineObservability cloudTrailDataEvents on a lake with an imported key: CloudTrail encrypts its logs',
    build: () => {
      const { stack, key } = fresh();
      const lake = new LakehouseTier(stack, 'Lake', { encryptionKey: key });
      const m = new cloudwatch.Metric({ namespace: 'T', metricName: 'm' });
      new PipelineObservability(stack, 'Obs', { lake, cloudTrailDataEvents: true, pipelines: [new DataPipeline(stack, 'P', { pipelineName: 'p', metrics: { throughput: m, errors: m } })] });
      return stack;
    },
    who: 'cloudtrail.amazonaws.com',
    action: 'kms:GenerateDataKey',
    context: { ...fromSource(`arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/t`), 'kms:EncryptionContext:aws:cloudtrail:arn': `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/t` },
  },
];

describe.each(cases.map((c) => [c.name, c]))('%s', (_, c) => {
  const stack = (c as Case).build();
  const p = new StackPolicies(stack);
  const statements = warnedStatements(stack).map((s) => p.resolve(s));
  const edge = { name: (c as Case).name, who: (c as Case).who, action: (c as Case).action, resource: IMPORTED, context: (c as Case).context, expect: 'allow' as const, why: 'imported key' };

  test('the default key policy alone denies the service (the statement is needed)', async () => {
    expect((await evaluate(p, { ...edge, resourcePolicy: DEFAULT_KEY_POLICY })).result).not.toBe('Allowed');
  });
  test('the synth warning names a statement, and with it the service is allowed', async () => {
    expect(statements.length).toBeGreaterThan(0);
    const policy = { ...DEFAULT_KEY_POLICY, Statement: [...DEFAULT_KEY_POLICY.Statement, ...statements] };
    expect((await evaluate(p, { ...edge, resourcePolicy: policy })).result).toBe('Allowed');
  });
});
