import { runSimulation } from '@cloud-copilot/iam-simulate';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { cdcStack } from './cdc-fixtures';
import { nagFindings } from './nag';
import {
  ApiPullIngestion, AthenaServing, LakehouseTier, PipelineObservability, StreamingDedupIngestion,
} from '../src';

// NIST 800-53 R5 CloudWatchLogGroupEncrypted is fixed, not acknowledged: every log group a construct
// creates is encrypted with a KMS key, by default the construct's own key, and that key's policy lets
// CloudWatch Logs use it (checked with an IAM policy evaluator, not by the statement's shape).

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const env = { account: ACCOUNT, region: REGION };

/** Log groups of the template and the key each names (logical id of an AWS::KMS::Key, or the raw value). */
function logGroupKeys(stack: Stack): Record<string, unknown> {
  const groups = Template.fromStack(stack).findResources('AWS::Logs::LogGroup');
  return Object.fromEntries(Object.entries(groups).map(([id, g]) => {
    const key = g.Properties?.KmsKeyId;
    return [id, key?.['Fn::GetAtt']?.[0] ?? key];
  }));
}

/** Resolves the pseudo parameters left in a key policy of an env-specific stack. */
function concrete(value: any): any {
  if (Array.isArray(value)) return value.map(concrete);
  if (value && typeof value === 'object') {
    if ('Fn::Join' in value) return value['Fn::Join'][1].map(concrete).join(value['Fn::Join'][0]);
    if ('Ref' in value && value.Ref === 'AWS::Partition') return 'aws';
    if ('Ref' in value && value.Ref === 'AWS::URLSuffix') return 'amazonaws.com';
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, concrete(v)]));
  }
  return value;
}

/**
 * Can CloudWatch Logs of this Region use the key for a log group of this ARN? Evaluated by iam-simulate
 * on the key policy (a service principal has no identity policy). iam-simulate 0.1.173 drops
 * `kms:EncryptionContext:<key>` from a request's context (it only matches variable keys written with
 * `/`), so the test renames that key to `aws:SourceArn` in both the policy and the request: the same
 * ArnLike operator then decides on the same values.
 */
async function logsMayUse(stack: Stack, keyLogicalId: string, logGroupArn: string): Promise<string> {
  const key = JSON.parse(JSON.stringify(Template.fromStack(stack).toJSON().Resources[keyLogicalId]).split('kms:EncryptionContext:aws:logs:arn').join('aws:SourceArn'));
  const keyArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;
  const result = await runSimulation({
    request: {
      principal: `logs.${REGION}.amazonaws.com`,
      action: 'kms:GenerateDataKey',
      resource: { resource: keyArn, accountId: ACCOUNT },
      contextVariables: { 'aws:SourceArn': logGroupArn },
    },
    identityPolicies: [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: concrete(key.Properties.KeyPolicy),
  }, {});
  if (result.resultType === 'error') throw new Error(JSON.stringify(result.errors));
  return result.overallResult;
}

function streaming(props: { logEncryptionKey?: boolean } = {}) {
  const stack = new Stack(new App(), 'Streaming', { env });
  const lake = new LakehouseTier(stack, 'Lake');
  const own = props.logEncryptionKey ? new kms.Key(stack, 'MyLogKey') : undefined;
  const events = new StreamingDedupIngestion(stack, 'Events', { lake, logEncryptionKey: own });
  return { stack, lake, events, own };
}

describe('log groups are encrypted with a KMS key by default', () => {
  test('StreamingDedupIngestion: its three log groups use the lake key, which CloudWatch Logs of this account may use', async () => {
    const { stack } = streaming();
    const keys = logGroupKeys(stack);
    expect(Object.keys(keys).sort()).toEqual([
      expect.stringMatching(/^EventsDedupLogs/), expect.stringMatching(/^EventsDeliveryLogs/), expect.stringMatching(/^EventsReplayLogs/),
    ]);
    for (const key of Object.values(keys)) expect(key).toMatch(/^LakeKey/);
    const lakeKey = Object.values(keys)[0] as string;
    expect(await logsMayUse(stack, lakeKey, `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/dedup`)).toBe('Allowed');
    // Only this account's log groups: the encryption context names the group, and another account's is refused.
    expect(await logsMayUse(stack, lakeKey, `arn:aws:logs:${REGION}:210987654321:log-group:/aws/lambda/dedup`)).toBe('ImplicitlyDenied');
  }, 30_000);

  test('the default is overridable: logEncryptionKey is used as given', () => {
    const { stack } = streaming({ logEncryptionKey: true });
    for (const key of Object.values(logGroupKeys(stack))) expect(key).toMatch(/^MyLogKey/);
  });

  test('an imported construct key cannot get the CloudWatch Logs statement: the group keeps CloudWatch Logs\' encryption, acknowledged on it', () => {
    const stack = new Stack(new App(), 'Imported', { env });
    const lake = new LakehouseTier(stack, 'Lake');
    const imported = kms.Key.fromKeyArn(stack, 'JobKey', `arn:aws:kms:${REGION}:${ACCOUNT}:key/abc`);
    new ApiPullIngestion(stack, 'Api', {
      lake,
      pipelineName: 'api',
      jobEncryptionKey: imported,
      endpoints: [{ name: 'orders', url: 'https://api.example.com/orders', schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)), recordIdField: 'id' }],
    });
    const keys = logGroupKeys(stack);
    expect(Object.keys(keys)).toHaveLength(2);
    for (const key of Object.values(keys)) expect(key).toBeUndefined();
    const groups = Template.fromStack(stack).findResources('AWS::Logs::LogGroup');
    for (const g of Object.values(groups)) {
      expect(g.Metadata.cdk_nag.rules_to_suppress).toEqual([expect.objectContaining({ id: 'NIST.800.53.R5-CloudWatchLogGroupEncrypted', reason: expect.stringMatching(/Pass `logEncryptionKey`/) })]);
    }
  });

  test('ApiPullIngestion: puller and workflow logs use the job key', async () => {
    const stack = new Stack(new App(), 'Api', { env });
    const lake = new LakehouseTier(stack, 'Lake');
    new ApiPullIngestion(stack, 'Api', {
      lake,
      pipelineName: 'api',
      endpoints: [{ name: 'orders', url: 'https://api.example.com/orders', schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)), recordIdField: 'id' }],
    });
    const keys = Object.values(logGroupKeys(stack));
    expect(keys).toEqual([expect.stringMatching(/^ApiJobKey/), expect.stringMatching(/^ApiJobKey/)]);
    expect(await logsMayUse(stack, keys[0] as string, `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/vendedlogs/states/api`)).toBe('Allowed');
  }, 30_000);

  test('CdcIngestion: the preflight logs use the construct key', async () => {
    const { stack } = cdcStack();
    const keys = Object.entries(logGroupKeys(stack)).filter(([id]) => id.startsWith('Shop'));
    expect(keys).toEqual([[expect.stringMatching(/^ShopPreflightLogs/), expect.stringMatching(/^ShopKey/)]]);
  });

  test('AthenaServing: workflow logs use the results key (the lake key by default)', () => {
    const stack = new Stack(new App(), 'Serving', { env });
    const lake = new LakehouseTier(stack, 'Lake');
    new AthenaServing(stack, 'Serving', { lake, workGroupName: 'analysts' });
    expect(Object.values(logGroupKeys(stack))).toEqual([expect.stringMatching(/^LakeKey/)]);
  });

  test('PipelineObservability: the Firehose error logs use the topic key', async () => {
    const { stack, lake, events } = streaming();
    new PipelineObservability(stack, 'Obs', { lake, pipelines: [events] });
    const obsKeys = Object.entries(logGroupKeys(stack)).filter(([id]) => id.startsWith('Obs'));
    expect(obsKeys.length).toBeGreaterThanOrEqual(2);
    for (const [, key] of obsKeys) expect(key).toMatch(/^ObsTopicKey/);
    expect(await logsMayUse(stack, obsKeys[0][1] as string, `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:x`)).toBe('Allowed');
  }, 30_000);
});

describe('cdk-nag (AwsSolutions + NIST 800-53 R5) on observed pipelines', () => {
  test('ingestion constructs watched by PipelineObservability: no finding left, and every pipeline alarm has the topic as its action', () => {
    const { stack, lake, events } = streaming();
    const api = new ApiPullIngestion(stack, 'Api', {
      lake,
      pipelineName: 'api',
      endpoints: [{ name: 'orders', url: 'https://api.example.com/orders', schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)), recordIdField: 'id' }],
    });
    new PipelineObservability(stack, 'Obs', { lake, pipelines: [events, api] });
    const findings = nagFindings(stack);
    expect(findings.errors).toEqual([]);
    expect(findings.warnings).toEqual([]);
    // The acknowledgement on the pipelines' alarms says the watcher adds their actions: it does.
    const alarms = Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm');
    const pipelineAlarms = Object.entries(alarms).filter(([id]) => id.startsWith('Events') || id.startsWith('Api'));
    expect(pipelineAlarms.length).toBeGreaterThanOrEqual(4);
    for (const [, alarm] of pipelineAlarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^ObsTopic/) }]);
  }, 60_000);

  test('the harness reports NIST findings too (so an empty list means something)', () => {
    const stack = new Stack(new App(), 'Bare');
    new logs.LogGroup(stack, 'Plain');
    expect(nagFindings(stack).errors.join('\n')).toMatch(/NIST\.800\.53\.R5-CloudWatchLogGroupEncrypted/);
  });
});
