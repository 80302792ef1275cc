import { runSimulation } from '@cloud-copilot/iam-simulate';
import { App, Aspects, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as fc from 'fast-check';
import { ApiPullIngestion, CdcIngestion, DataPipeline, LakehouseTier, PipelineObservability } from '../src';

/**
 * Bring your own key and bucket: where the library cannot add a statement to an imported
 * resource's policy, it says at synth time which statement the owner must add; the statement it
 * prints is then checked with an IAM policy evaluator (iam-simulate) against the request the
 * service really makes; and the library's cdk-nag acknowledgements match the imported resource.
 */
jest.setTimeout(300_000);

const ACCOUNT = '111111111111';
const REGION = 'eu-west-1';
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;

function metric(name: string) {
  return new cloudwatch.Metric({ namespace: 'Test', metricName: name, statistic: 'Sum', period: Duration.minutes(5) });
}

interface LakeChoice { readonly key: 'created' | 'imported'; readonly raw: 'created' | 'name' | 'arn'; readonly env: boolean; readonly bucketName?: string }

function lakeStack(choice: LakeChoice) {
  const app = new App();
  const stack = new Stack(app, 'Byo', choice.env ? { env: { account: ACCOUNT, region: REGION } } : {});
  const name = choice.bucketName ?? 'org-lake-raw';
  const existingBucket = choice.raw === 'name' ? s3.Bucket.fromBucketName(stack, 'OrgRaw', name)
    : choice.raw === 'arn' ? s3.Bucket.fromBucketArn(stack, 'OrgRaw', `arn:aws:s3:::${name}`) : undefined;
  const lake = new LakehouseTier(stack, 'Lake', {
    encryptionKey: choice.key === 'imported' ? kms.Key.fromKeyArn(stack, 'OrgKey', KEY_ARN) : undefined,
    raw: existingBucket ? { existingBucket } : undefined,
  });
  const pipeline = new DataPipeline(stack, 'P', { pipelineName: 'p', metrics: { throughput: metric('t'), errors: metric('e') } });
  const observability = new PipelineObservability(stack, 'Obs', { lake, pipelines: [pipeline], cloudTrailDataEvents: true });
  return { app, stack, lake, observability };
}

/** The statements the warnings ask owners to add, by Sid, with `${AWS::Partition}` as the owner writes it. */
function ownerStatements(stack: Stack): { path: string; text: string; statement: any }[] {
  return Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('must add this statement')).map((w) => {
    const text = String(w.entry.data);
    const json = /policy: (\{.*\})(?: \[ack: [^\]]+\])?$/s.exec(text)![1];
    return { path: w.id, text, statement: JSON.parse(json.split('${AWS::Partition}').join('aws')) };
  });
}

/**
 * iam-simulate (0.x) ignores context keys whose variable part follows a colon, such as
 * `kms:EncryptionContext:aws:logs:arn` (it only matches `key/variable` forms): a statement
 * conditioned on one would never match. The key is renamed, in the statement and the request
 * alike, to `aws:SourceArn` (a global ARN-typed key it evaluates), so the operator (ArnLike,
 * StringLike) is still applied by the evaluator to the very values AWS compares.
 */
function rekeyed(statements: any[], context: Record<string, string>, key?: string) {
  if (!key) return { statements, context };
  return {
    statements: JSON.parse(JSON.stringify(statements).split(`"${key}"`).join('"aws:SourceArn"')),
    context: Object.fromEntries(Object.entries(context).map(([k, v]) => [k === key ? 'aws:SourceArn' : k, v])),
  };
}

async function decide(principal: string, action: string, resource: string, rawStatements: any[], rawContext: Record<string, string>, identity?: any) {
  const contextKey = Object.keys(rawContext).find((k) => k.startsWith('kms:EncryptionContext:'));
  const { statements, context } = rekeyed(rawStatements, rawContext, contextKey);
  const response = await runSimulation({
    identityPolicies: identity ? [{ name: 'identity', policy: { Version: '2012-10-17', Statement: [identity] } }] : [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: { Version: '2012-10-17', Statement: statements },
    request: { principal, action, resource: { resource, accountId: ACCOUNT }, contextVariables: context },
  }, {});
  if (response.resultType === 'error') throw new Error(JSON.stringify(response.errors));
  return response.overallResult;
}

describe('CloudTrail data events on an imported key and bucket', () => {
  const { stack } = lakeStack({ key: 'imported', raw: 'name', env: true });
  const found = ownerStatements(stack);
  const bySid = (sid: string) => found.find((f) => f.statement.Sid === sid);

  test('a warning per statement CDK could not add, naming the resource, with the JSON to add', () => {
    expect(found.map((f) => f.statement.Sid).sort()).toEqual([
      'CloudTrailChecksLakeBucketAcl', 'CloudTrailEncryptsLakeDataEventLogs', 'CloudTrailWritesLakeDataEvents', 'LakeDeniesInsecureTransport',
    ]);
    expect(bySid('CloudTrailEncryptsLakeDataEventLogs')!.text).toMatch(/The lake key \(KMS key policy\) Byo\/OrgKey was not created by this app/);
    expect(bySid('CloudTrailWritesLakeDataEvents')!.statement).toEqual({
      Sid: 'CloudTrailWritesLakeDataEvents',
      Effect: 'Allow',
      Principal: { Service: 'cloudtrail.amazonaws.com' },
      Action: 's3:PutObject',
      Resource: `arn:aws:s3:::org-lake-raw/_ops/cloudtrail/AWSLogs/${ACCOUNT}/*`,
      Condition: { StringEquals: { 's3:x-amz-acl': 'bucket-owner-full-control' } },
    });
  });

  test('with the printed bucket statements CloudTrail may write its log files there, and only there (IAM evaluator)', async () => {
    const statements = found.filter((f) => f.statement.Sid.startsWith('CloudTrail') && f.statement.Sid !== 'CloudTrailEncryptsLakeDataEventLogs').map((f) => f.statement);
    const object = `arn:aws:s3:::org-lake-raw/_ops/cloudtrail/AWSLogs/${ACCOUNT}/CloudTrail/${REGION}/2026/12/01/x.json.gz`;
    const acl = { 's3:x-amz-acl': 'bucket-owner-full-control' };
    expect(await decide('cloudtrail.amazonaws.com', 's3:PutObject', object, statements, acl)).toBe('Allowed');
    expect(await decide('cloudtrail.amazonaws.com', 's3:GetBucketAcl', 'arn:aws:s3:::org-lake-raw', statements, {})).toBe('Allowed');
    // Without them (what CDK silently leaves on an imported bucket) the write is refused.
    expect(await decide('cloudtrail.amazonaws.com', 's3:PutObject', object, [], acl)).toBe('ImplicitlyDenied');
    // Only under the trail's prefix.
    expect(await decide('cloudtrail.amazonaws.com', 's3:PutObject', 'arn:aws:s3:::org-lake-raw/orders/x.json', statements, acl)).toBe('ImplicitlyDenied');
  });

  test('with the printed key statement CloudTrail may encrypt for this account\'s trails only (IAM evaluator)', async () => {
    const statement = bySid('CloudTrailEncryptsLakeDataEventLogs')!.statement;
    const ours = { 'kms:EncryptionContext:aws:cloudtrail:arn': `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/LakeDataEvents` };
    const theirs = { 'kms:EncryptionContext:aws:cloudtrail:arn': `arn:aws:cloudtrail:${REGION}:999999999999:trail/x` };
    expect(await decide('cloudtrail.amazonaws.com', 'kms:GenerateDataKey', KEY_ARN, [statement], ours)).toBe('Allowed');
    expect(await decide('cloudtrail.amazonaws.com', 'kms:GenerateDataKey', KEY_ARN, [statement], theirs)).toBe('ImplicitlyDenied');
  });

  test('the TLS-only statement the lake puts on its own buckets is asked of the imported one', async () => {
    const statement = bySid('LakeDeniesInsecureTransport')!.statement;
    // A reader of the same account whose role allows the read: refused over plain HTTP only.
    const readerPolicy = { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::org-lake-raw/*' };
    const reader = `arn:aws:iam::${ACCOUNT}:role/reader`;
    expect(await decide(reader, 's3:GetObject', 'arn:aws:s3:::org-lake-raw/a', [statement], { 'aws:SecureTransport': 'false' }, readerPolicy)).toBe('ExplicitlyDenied');
    expect(await decide(reader, 's3:GetObject', 'arn:aws:s3:::org-lake-raw/a', [statement], { 'aws:SecureTransport': 'true' }, readerPolicy)).toBe('Allowed');
  });
});

describe('a Glue job key the library did not create', () => {
  const app = new App();
  const stack = new Stack(app, 'ByoJob', { env: { account: ACCOUNT, region: REGION } });
  const lake = new LakehouseTier(stack, 'Lake');
  new ApiPullIngestion(stack, 'Api', {
    lake,
    pipelineName: 'api',
    jobEncryptionKey: kms.Key.fromKeyArn(stack, 'OrgJobKey', KEY_ARN),
    endpoints: [{ name: 'items', url: 'https://api.example.com/items', schedule: scheduler.ScheduleExpression.rate(Duration.days(1)), recordIdField: 'id' }],
  });
  const found = ownerStatements(stack);

  test('the security configuration asks for the CloudWatch Logs statement on that key, and it works (IAM evaluator)', async () => {
    const logs = found.find((f) => f.statement.Sid === 'CloudWatchLogsEncryptsGlueJobLogs');
    expect(logs?.text).toMatch(/The Glue job key \(KMS key policy\) ByoJob\/OrgJobKey was not created by this app/);
    const glueLogs = { 'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws-glue/jobs/logs-v2-api-security` };
    const other = { 'kms:EncryptionContext:aws:logs:arn': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/app/other` };
    expect(await decide(`logs.${REGION}.amazonaws.com`, 'kms:Encrypt', KEY_ARN, [logs!.statement], glueLogs)).toBe('Allowed');
    expect(await decide(`logs.${REGION}.amazonaws.com`, 'kms:Encrypt', KEY_ARN, [logs!.statement], other)).toBe('ImplicitlyDenied');
  });
});

describe('a CDC key the library did not create', () => {
  test('DMS and the merge job\'s logs each get a statement to add', () => {
    const app = new App();
    const stack = new Stack(app, 'ByoCdc', { env: { account: ACCOUNT, region: REGION } });
    const lake = new LakehouseTier(stack, 'Lake');
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    new CdcIngestion(stack, 'Cdc', {
      lake,
      pipelineName: 'shop',
      vpc,
      jobEncryptionKey: kms.Key.fromKeyArn(stack, 'OrgCdcKey', KEY_ARN),
      source: { secret: new secretsmanager.Secret(stack, 'Db'), databaseName: 'shop' },
      tables: [{ name: 'public.orders', primaryKey: ['id'] }],
    });
    const found = ownerStatements(stack);
    expect(found.map((f) => f.statement.Sid).sort()).toEqual(['CloudWatchLogsEncryptsGlueJobLogs', 'DmsUsesCdcKey']);
    expect(found.every((f) => f.text.includes('ByoCdc/OrgCdcKey was not created by this app'))).toBe(true);
  });
});

describe('resources the app creates', () => {
  test('no owner warning: the statements are in the templates', () => {
    const { stack } = lakeStack({ key: 'created', raw: 'created', env: true });
    expect(ownerStatements(stack)).toEqual([]);
  });
});

describe('cdk-nag acknowledgements match whatever bucket was passed', () => {
  test('created, imported by name or by ARN, in env-agnostic and env-specific stacks: no unexplained AwsSolutions finding', () => {
    // Valid S3 names: 3-63 lowercase letters, digits and hyphens, starting and ending alphanumeric.
    const bucketName = fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,20}[a-z0-9]$/);
    fc.assert(fc.property(
      fc.record({ key: fc.constantFrom('created' as const, 'imported' as const), raw: fc.constantFrom('created' as const, 'name' as const, 'arn' as const), env: fc.boolean(), bucketName }),
      (choice) => {
        const { stack } = lakeStack(choice);
        Aspects.of(stack).add(new AwsSolutionsChecks({ verbose: true }));
        const a = Annotations.fromStack(stack);
        const findings = [...a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')), ...a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))]
          .map((e) => `${e.id}: ${String(e.entry.data).split(':')[0]}`);
        expect({ choice, findings }).toEqual({ choice, findings: [] });
      },
    ), { seed: 13, numRuns: 8 });
  });
});
