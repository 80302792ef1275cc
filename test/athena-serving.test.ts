import { App, Duration, RemovalPolicy, Size, Stack, TimeZone } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import {
  AthenaEngineVersion, AthenaServing, AthenaServingProps, LakehouseTier, PipelineKind, ReportFormat, ScheduledQueryOptions,
} from '../src';

interface Fixture {
  stack: Stack;
  lake: LakehouseTier;
  serving: AthenaServing;
}

function fixture(props: Partial<AthenaServingProps> = {}, lakeRemoval?: RemovalPolicy): Fixture {
  const stack = new Stack(new App(), 'Serving');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'shop', removalPolicy: lakeRemoval });
  const serving = new AthenaServing(stack, 'Analysts', { lake, ...props });
  return { stack, lake, serving };
}

const daily: ScheduledQueryOptions = {
  queryName: 'daily-revenue',
  sql: 'SELECT day, sum(amount) AS revenue FROM orders GROUP BY day;',
  schedule: scheduler.ScheduleExpression.expression('cron(0 6 * * ? *)'),
};

/** The single resource of a type, and its logical id. */
function only(template: Template, type: string): [string, any] {
  const found = Object.entries(template.findResources(type));
  expect(found).toHaveLength(1);
  return found[0];
}

/** Statements of the policies attached to a role (by the role's logical id). */
function statementsOfRole(template: Template, roleLogicalId: string): any[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p: any) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleLogicalId }]))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
}

/** The state machine definition with tokens replaced by a marker, parsed. */
function definitionOf(stateMachine: any): any {
  const parts: any[] = stateMachine.Properties.DefinitionString['Fn::Join'][1];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join(''));
}

function stateMachineRoleId(template: Template, stateMachineLogicalId: string): string {
  const sm = template.findResources('AWS::StepFunctions::StateMachine')[stateMachineLogicalId];
  return sm.Properties.RoleArn['Fn::GetAtt'][0];
}

describe('defaults', () => {
  const { stack, lake, serving } = fixture({ workGroupName: 'analysts' });
  const template = Template.fromStack(stack);

  test('workgroup: engine v3, enforced, CloudWatch metrics, 100 GiB scan limit, SSE_KMS results with the lake key', () => {
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'analysts',
      State: 'ENABLED',
      RecursiveDeleteOption: false,
      WorkGroupConfiguration: {
        EngineVersion: { SelectedEngineVersion: 'Athena engine version 3' },
        EnforceWorkGroupConfiguration: true,
        PublishCloudWatchMetricsEnabled: true,
        BytesScannedCutoffPerQuery: 100 * 1024 * 1024 * 1024,
        ResultConfiguration: {
          OutputLocation: { 'Fn::Join': ['', ['s3://', { Ref: Match.stringLikeRegexp('AnalystsResultsBucket') }, '/results/']] },
          EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: stack.resolve(lake.encryptionKey.keyArn) },
          ExpectedBucketOwner: { Ref: 'AWS::AccountId' },
        },
      },
    });
  });

  test('workgroup and results bucket follow the lake removal policy (RETAIN)', () => {
    template.hasResource('AWS::Athena::WorkGroup', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.hasResource('AWS::S3::Bucket', {
      Properties: { LoggingConfiguration: { LogFilePrefix: 'athena/analysts/' } },
      DeletionPolicy: 'Retain',
    });
  });

  test('results bucket: lake key, TLS only, no public access, access logs to the lake, results expire after 30 days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{
          BucketKeyEnabled: true,
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: stack.resolve(lake.encryptionKey.keyArn) },
        }],
      },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: { DestinationBucketName: stack.resolve(lake.accessLogsBucket.bucketName), LogFilePrefix: 'athena/analysts/' },
      LifecycleConfiguration: {
        Rules: [
          { Id: 'abort-incomplete-uploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' },
          { Id: 'expire-query-results', Prefix: 'results/', ExpirationInDays: 30, Status: 'Enabled' },
        ],
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: stack.resolve(serving.resultsBucket.bucketName),
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('notification topic: its own rotating key, TLS only', () => {
    const [keyId] = Object.entries(template.findResources('AWS::KMS::Key', { Properties: { Description: Match.stringLikeRegexp('report notifications') } }))[0];
    template.hasResourceProperties('AWS::KMS::Key', { Description: Match.stringLikeRegexp('report notifications'), EnableKeyRotation: true });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    expect(serving.notificationKey).toBeDefined();
  });

  test('schedule dead-letter queue (SSE, TLS only, 14 days) and a one-year log group', () => {
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/vendedlogs/states/athena-analysts', RetentionInDays: 365 });
  });

  test('nothing scheduled or saved by default', () => {
    template.resourceCountIs('AWS::Athena::NamedQuery', 0);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    expect(serving.defaultDatabase).toBe('shop_curated');
    expect(serving.resultsPrefix).toBe('results/');
    expect(serving.reportsPrefix).toBe('reports/');
  });

  test('pipeline contract without scheduled queries: the workgroup\'s own Athena metrics', () => {
    expect(serving.pipelineName).toBe('analysts');
    expect(serving.pipelineKind).toBe(PipelineKind.SERVING);
    const throughput = serving.pipelineMetrics.throughput as cloudwatch.Metric;
    expect(throughput.namespace).toBe('AWS/Athena');
    expect(throughput.dimensions).toEqual({ WorkGroup: 'analysts', QueryState: 'SUCCEEDED', QueryType: 'DML' });
    expect((serving.pipelineMetrics.errors as cloudwatch.Metric).dimensions).toEqual({ WorkGroup: 'analysts', QueryState: 'FAILED', QueryType: 'DML' });
    expect(serving.failureEvents).toEqual([]);
    expect(serving.deadLetterQueues).toEqual([serving.scheduleDeadLetterQueue]);
    expect(serving.logGroups).toEqual([serving.logGroup]);
    expect(serving.freshness).toEqual([]);
    expect(serving.quarantines).toEqual([]);
  });
});

test('default workgroup name is unique to the construct path and valid for Athena', () => {
  const { serving, stack } = fixture();
  expect(serving.workGroupName).toMatch(/^[a-zA-Z0-9._-]{1,128}$/);
  expect(serving.workGroupName).toContain('Analysts');
  Template.fromStack(stack).hasResourceProperties('AWS::Athena::WorkGroup', { Name: serving.workGroupName });
});

describe('overrides', () => {
  test('engine, enforcement, metrics, description, scan limit can each be changed', () => {
    const { stack } = fixture({
      workGroupName: 'team.a_b-1',
      description: 'Team A',
      engineVersion: AthenaEngineVersion.AUTO,
      enforceWorkGroupConfiguration: false,
      publishCloudWatchMetrics: false,
      bytesScannedCutoffPerQuery: Size.mebibytes(10),
    });
    Template.fromStack(stack).hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: 'team.a_b-1',
      Description: 'Team A',
      WorkGroupConfiguration: {
        EngineVersion: { SelectedEngineVersion: 'AUTO' },
        EnforceWorkGroupConfiguration: false,
        PublishCloudWatchMetricsEnabled: false,
        BytesScannedCutoffPerQuery: 10 * 1024 * 1024,
      },
    });
  });

  test('the scan limit at exactly Athena\'s minimum (10,000,000 bytes) is accepted', () => {
    const { stack } = fixture({ bytesScannedCutoffPerQuery: Size.bytes(10_000_000) });
    Template.fromStack(stack).hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: { BytesScannedCutoffPerQuery: 10_000_000 },
    });
  });

  test('Size.bytes(0) removes the scan limit; AthenaEngineVersion.of names any engine', () => {
    const { stack } = fixture({ bytesScannedCutoffPerQuery: Size.bytes(0), engineVersion: AthenaEngineVersion.of('Athena engine version 4') });
    Template.fromStack(stack).hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: { BytesScannedCutoffPerQuery: Match.absent(), EngineVersion: { SelectedEngineVersion: 'Athena engine version 4' } },
    });
  });

  test('own results key encrypts bucket and workgroup results', () => {
    const stack = new Stack(new App(), 'S');
    const lake = new LakehouseTier(stack, 'Lake');
    const key = new kms.Key(stack, 'ResultsKey', { enableKeyRotation: true });
    const serving = new AthenaServing(stack, 'Serving', { lake, resultsEncryptionKey: key });
    const template = Template.fromStack(stack);
    expect(serving.resultsEncryptionKey).toBe(key);
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: { ResultConfiguration: { EncryptionConfiguration: { EncryptionOption: 'SSE_KMS', KmsKey: stack.resolve(key.keyArn) } } },
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: Match.anyValue(),
      BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: stack.resolve(key.keyArn) } })] },
    });
  });

  test('an existing results bucket is used as is (no bucket created)', () => {
    const stack = new Stack(new App(), 'S');
    const lake = new LakehouseTier(stack, 'Lake');
    const bucket = s3.Bucket.fromBucketName(stack, 'Existing', 'team-results');
    const serving = new AthenaServing(stack, 'Serving', { lake, resultsBucket: bucket });
    const template = Template.fromStack(stack);
    // The lake's four buckets (access logs, raw, clean, curated) and no other.
    template.resourceCountIs('AWS::S3::Bucket', 4);
    expect(serving.resultsBucket).toBe(bucket);
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: { ResultConfiguration: { OutputLocation: 's3://team-results/results/' } },
    });
  });

  test('results expiry off, reports expiry on, custom prefixes', () => {
    const { stack, serving } = fixture({
      resultsExpiration: Duration.days(0),
      reportsExpiration: Duration.days(90),
      resultsPrefix: '/athena/results',
      reportsPrefix: 'athena/reports/',
    });
    expect(serving.resultsPrefix).toBe('athena/results/');
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [
          Match.objectLike({ Id: 'abort-incomplete-uploads' }),
          { Id: 'expire-reports', Prefix: 'athena/reports/', ExpirationInDays: 90, Status: 'Enabled' },
        ],
      },
    });
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: { ResultConfiguration: { OutputLocation: { 'Fn::Join': ['', ['s3://', Match.anyValue(), '/athena/results/']] } } },
    });
  });

  test('a notification topic of the user\'s: no topic or key created', () => {
    const stack = new Stack(new App(), 'S');
    const lake = new LakehouseTier(stack, 'Lake');
    const topic = sns.Topic.fromTopicArn(stack, 'Topic', 'arn:aws:sns:us-east-1:111111111111:reports');
    const serving = new AthenaServing(stack, 'Serving', { lake, notificationTopic: topic });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    expect(serving.notificationKey).toBeUndefined();
    expect(serving.notificationTopic).toBe(topic);
  });

  test('an access-logs bucket of the user\'s', () => {
    const stack = new Stack(new App(), 'S');
    const lake = new LakehouseTier(stack, 'Lake');
    const logsBucket = new s3.Bucket(stack, 'Logs');
    new AthenaServing(stack, 'Serving', { lake, workGroupName: 'wg', serverAccessLogsBucket: logsBucket });
    Template.fromStack(stack).hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: stack.resolve(logsBucket.bucketName), LogFilePrefix: 'athena/wg/' },
    });
  });

  test('DESTROY (explicit, or the app\'s cdk-lakehouse:destroyOnRemoval context): workgroup deleted with its saved queries, results bucket emptied', () => {
    const withContext = () => {
      const stack = new Stack(new App({ context: { 'cdk-lakehouse:destroyOnRemoval': true } }), 'Serving');
      return { stack, serving: new AthenaServing(stack, 'Analysts', { lake: new LakehouseTier(stack, 'Lake', { lakeName: 'shop' }) }) };
    };
    for (const build of [() => fixture({ removalPolicy: RemovalPolicy.DESTROY }), withContext]) {
      const { stack, serving } = build();
      const template = Template.fromStack(stack);
      expect(serving.removalPolicy).toBe(RemovalPolicy.DESTROY);
      template.hasResource('AWS::Athena::WorkGroup', { DeletionPolicy: 'Delete', Properties: { RecursiveDeleteOption: true } });
      template.hasResource('AWS::S3::Bucket', {
        DeletionPolicy: 'Delete',
        Properties: { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-query-results' })]) } },
      });
      template.hasResourceProperties('Custom::S3AutoDeleteObjects', { BucketName: stack.resolve(serving.resultsBucket.bucketName) });
    }
  });

  test('the lake\'s removal policy is not read: a DESTROY lake leaves the default RETAIN (issue 16: no instanceof LakehouseTier)', () => {
    const { stack, serving } = fixture({}, RemovalPolicy.DESTROY);
    expect(serving.removalPolicy).toBe(RemovalPolicy.RETAIN);
    Template.fromStack(stack).hasResource('AWS::Athena::WorkGroup', { DeletionPolicy: 'Retain', Properties: { RecursiveDeleteOption: false } });
  });
});

describe('grantQuery', () => {
  const { stack, lake, serving } = fixture({ workGroupName: 'analysts' });
  const orders = lake.addRawTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
  const role = new iam.Role(stack, 'Scientist', { assumedBy: new iam.AccountRootPrincipal() });
  serving.grantQuery(role, { zones: [lake.curated], tables: [orders] });
  const lonely = new iam.Role(stack, 'Lonely', { assumedBy: new iam.AccountRootPrincipal() });
  serving.grantQuery(lonely);
  const template = Template.fromStack(stack);
  const r = (token: string) => stack.resolve(token);
  const glue = (resource: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':glue:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`]] });
  const athena = (resource: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':athena:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`]] });
  const objects = (bucket: s3.IBucket, pattern: string) => ({ 'Fn::Join': ['', [r(bucket.bucketArn), `/${pattern}`]] });

  const workgroupAndResults = [
    {
      Effect: 'Allow',
      Action: [
        'athena:StartQueryExecution', 'athena:StopQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults',
        'athena:GetQueryResultsStream', 'athena:GetQueryRuntimeStatistics', 'athena:BatchGetQueryExecution', 'athena:ListQueryExecutions',
        'athena:GetWorkGroup', 'athena:GetNamedQuery', 'athena:BatchGetNamedQuery', 'athena:ListNamedQueries',
      ],
      Resource: athena('workgroup/analysts'),
    },
    {
      Effect: 'Allow',
      Action: ['athena:GetDataCatalog', 'athena:ListDatabases', 'athena:GetDatabase', 'athena:ListTableMetadata', 'athena:GetTableMetadata'],
      Resource: athena('datacatalog/AwsDataCatalog'),
    },
    { Effect: 'Allow', Action: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], Resource: r(serving.resultsBucket.bucketArn) },
    {
      Effect: 'Allow',
      Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      Resource: objects(serving.resultsBucket, 'results/*'),
    },
    { Effect: 'Allow', Action: 's3:GetObject', Resource: objects(serving.resultsBucket, 'reports/*') },
    { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'], Resource: r(lake.encryptionKey.keyArn) },
  ];

  test('statement by statement: workgroup, catalog, results, key, then the zone and the table given', () => {
    const statements = statementsOfRole(template, stack.getLogicalId(role.node.defaultChild as iam.CfnRole));
    expect(statements).toEqual([
      ...workgroupAndResults,
      // lake.curated.grantRead
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: objects(lake.curated.bucket, '*') },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: r(lake.curated.bucket.bucketArn) },
      { Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: r(lake.curated.bucket.bucketArn) },
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: r(lake.encryptionKey.keyArn) },
      {
        Effect: 'Allow',
        Action: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition'],
        Resource: [glue('catalog'), glue('database/shop_curated'), glue('table/shop_curated/*')],
      },
      // orders.grantRead: its prefix only
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: objects(lake.raw.bucket, 'orders/*') },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: r(lake.raw.bucket.bucketArn), Condition: { StringLike: { 's3:prefix': ['orders/*'] } } },
      { Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: r(lake.raw.bucket.bucketArn) },
      {
        Effect: 'Allow',
        Action: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition'],
        Resource: [glue('catalog'), glue('database/shop_raw'), glue('table/shop_raw/orders')],
      },
    ]);
  });

  test('without access: the workgroup and its results only, no lake data', () => {
    const statements = statementsOfRole(template, stack.getLogicalId(lonely.node.defaultChild as iam.CfnRole));
    expect(statements).toEqual(workgroupAndResults);
  });

  test('no wildcard action anywhere in the template', () => {
    const actions = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((p: any) => p.Properties.PolicyDocument.Statement)
      .flatMap((s: any) => [].concat(s.Action));
    expect(actions.length).toBeGreaterThan(10);
    expect(actions.filter((a: string) => a.includes('*'))).toEqual([]);
  });
});

describe('named queries', () => {
  test('from props and from addNamedQuery, in the workgroup, curated database by default', () => {
    const { stack, serving } = fixture({
      workGroupName: 'analysts',
      namedQueries: [{ queryName: 'Top customers', sql: 'SELECT * FROM customers LIMIT 10;', description: 'Top 10' }],
    });
    serving.addNamedQuery('Raw', { queryName: 'raw events', sql: 'SELECT 1', database: 'shop_raw' });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Athena::NamedQuery', 2);
    template.hasResource('AWS::Athena::NamedQuery', {
      Properties: { Name: 'Top customers', QueryString: 'SELECT * FROM customers LIMIT 10', Database: 'shop_curated', WorkGroup: 'analysts', Description: 'Top 10' },
      DependsOn: [stack.getLogicalId(serving.workGroup)],
    });
    template.hasResourceProperties('AWS::Athena::NamedQuery', { Name: 'raw events', Database: 'shop_raw' });
    expect(serving.namedQueries).toHaveLength(2);
  });
});

describe('scheduled query (CSV, defaults)', () => {
  const { stack, lake, serving } = fixture({ workGroupName: 'analysts' });
  const query = serving.addScheduledQuery('Daily', daily);
  const template = Template.fromStack(stack);
  const smId = stack.getLogicalId(query.stateMachine.node.defaultChild as any);
  const definition = definitionOf(template.findResources('AWS::StepFunctions::StateMachine')[smId]);

  test('EventBridge Scheduler starts the workflow with the scheduled time as run key, retries, DLQ', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 6 * * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { Ref: smId },
        Input: JSON.stringify({ runKey: '<aws.scheduler.scheduled-time>' }),
        DeadLetterConfig: { Arn: stack.resolve(serving.scheduleDeadLetterQueue.queueArn) },
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
      },
    });
  });

  test('workflow: JSONata, logs ALL to the shared log group, X-Ray', () => {
    expect(definition.QueryLanguage).toBe('JSONata');
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: stack.resolve(serving.logGroup.logGroupArn) } }],
      },
      TracingConfiguration: { Enabled: true },
    });
  });

  test('Prepare → RunQuery (.sync, retries throttling, 1 h timeout) → CopyReport → NotifySuccess; failures → NotifyFailure → Failed', () => {
    expect(definition.StartAt).toBe('Prepare');
    const s = definition.States;
    expect(s.Prepare.Assign.runKey).toContain('$states.input.runKey');
    expect(s.Prepare.Next).toBe('RunQuery');
    expect(s.RunQuery.Resource).toBe('arn:TOKEN:states:::athena:startQueryExecution.sync');
    expect(s.RunQuery.Arguments).toEqual({
      QueryString: 'SELECT day, sum(amount) AS revenue FROM orders GROUP BY day',
      WorkGroup: 'analysts',
      QueryExecutionContext: { Catalog: 'AwsDataCatalog', Database: 'shop_curated' },
    });
    expect(s.RunQuery.TimeoutSeconds).toBe(3600);
    expect(s.RunQuery.Retry).toEqual([{ ErrorEquals: ['Athena.TooManyRequestsException'], IntervalSeconds: 10, MaxAttempts: 6, BackoffRate: 2, JitterStrategy: 'FULL' }]);
    expect(s.RunQuery.Catch).toEqual([{ ErrorEquals: ['States.ALL'], Next: 'NotifyFailure' }]);
    expect(s.RunQuery.Next).toBe('CopyReport');
    expect(s.CopyReport.Resource).toBe('arn:TOKEN:states:::aws-sdk:s3:copyObject');
    expect(s.CopyReport.Arguments.Key).toBe("{% 'reports/daily-revenue/' & $runKey & '.csv' %}");
    expect(s.CopyReport.Arguments.ServerSideEncryption).toBe('aws:kms');
    expect(s.CopyReport.Catch).toEqual([{ ErrorEquals: ['States.ALL'], Next: 'NotifyFailure' }]);
    expect(s.CopyReport.Next).toBe('NotifySuccess');
    expect(s.NotifySuccess.Resource).toBe('arn:TOKEN:states:::sns:publish');
    expect(s.NotifySuccess.Arguments.Message).toContain("'status': 'SUCCEEDED'");
    expect(s.NotifySuccess.End).toBe(true);
    expect(s.NotifyFailure.Arguments.Message).toContain("'status': 'FAILED'");
    expect(s.NotifyFailure.Next).toBe('Failed');
    expect(s.Failed.Type).toBe('Fail');
  });

  test('the workflow role: the grantQuery statements for the curated zone, its report folder, the topic and its key', () => {
    const statements = statementsOfRole(template, stateMachineRoleId(template, smId));
    const byAction = (action: string) => statements.filter((st) => [].concat(st.Action).includes(action as never));
    expect(byAction('athena:StartQueryExecution')).toHaveLength(1);
    expect(byAction('glue:GetTable')[0].Resource).toContainEqual(expect.objectContaining({ 'Fn::Join': expect.arrayContaining([expect.arrayContaining([':table/shop_curated/*'])]) }));
    expect(byAction('s3:PutObject').map((st) => st.Resource)).toEqual(expect.arrayContaining([
      { 'Fn::Join': ['', [stack.resolve(serving.resultsBucket.bucketArn), '/reports/daily-revenue/*']] },
    ]));
    expect(byAction('sns:Publish')).toEqual([{ Effect: 'Allow', Action: 'sns:Publish', Resource: stack.resolve(serving.notificationTopic.topicArn) }]);
    expect(byAction('kms:GenerateDataKey').map((st) => st.Resource)).toEqual(expect.arrayContaining([
      stack.resolve(serving.notificationKey!.keyArn), stack.resolve(lake.encryptionKey.keyArn),
    ]));
    // Not the lake's other zones.
    expect(JSON.stringify(statements)).not.toContain(stack.getLogicalId(lake.raw.bucket.node.defaultChild as any));
  });

  test('pipeline contract with one scheduled query: its own execution metrics and failure events', () => {
    const throughput = serving.pipelineMetrics.throughput as cloudwatch.Metric;
    expect(throughput.namespace).toBe('AWS/States');
    expect(throughput.metricName).toBe('ExecutionsStarted');
    expect((serving.pipelineMetrics.errors as cloudwatch.Metric).metricName).toBe('ExecutionsFailed');
    expect(serving.pipelineMetrics.additional?.map((m) => m.label)).toEqual(['Scheduled run duration (ms)', 'Bytes scanned', 'Failed queries (all users)']);
    expect(serving.failureEvents).toEqual([{
      source: ['aws.states'],
      detailType: ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [query.stateMachine.stateMachineArn] },
    }]);
    expect(query.reportsUrl).toContain('/reports/daily-revenue/');
    expect(query.format).toBe(ReportFormat.CSV);
  });
});

describe('scheduled query overrides', () => {
  test('Parquet via UNLOAD, no copy step; own database, time zone, timeout, disabled schedule', () => {
    const { stack, serving } = fixture({ workGroupName: 'analysts' });
    serving.addScheduledQuery('Weekly', {
      ...daily,
      queryName: 'weekly',
      format: ReportFormat.PARQUET,
      database: 'shop_raw',
      timeout: Duration.minutes(20),
      enabled: false,
      schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '6', weekDay: 'MON', timeZone: TimeZone.EUROPE_BERLIN }),
      description: 'Weekly revenue',
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 6 ? * MON *)', ScheduleExpressionTimezone: 'Europe/Berlin', State: 'DISABLED', Description: 'Weekly revenue',
    });
    const [, sm] = only(template, 'AWS::StepFunctions::StateMachine');
    const s = definitionOf(sm).States;
    expect(s.Prepare.Assign.unloadHead).toBe("UNLOAD (SELECT day, sum(amount) AS revenue FROM orders GROUP BY day) TO 's3://TOKEN/reports/weekly/");
    expect(s.Prepare.Assign.unloadTail).toBe("/' WITH (format = 'PARQUET', compression = 'SNAPPY')");
    expect(s.RunQuery.Arguments.QueryString).toBe('{% $unloadHead & $runKey & $unloadTail %}');
    expect(s.RunQuery.Arguments.QueryExecutionContext.Database).toBe('shop_raw');
    expect(s.RunQuery.TimeoutSeconds).toBe(1200);
    expect(s.RunQuery.Next).toBe('NotifySuccess');
    expect(s.CopyReport).toBeUndefined();
  });

  test('reads: a single table instead of the curated zone', () => {
    const { stack, lake, serving } = fixture();
    const orders = lake.addRawTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
    const q = serving.addScheduledQuery('Daily', { ...daily, reads: { tables: [orders] } });
    const template = Template.fromStack(stack);
    const statements = statementsOfRole(template, stack.getLogicalId(q.stateMachine.role.node.defaultChild as iam.CfnRole));
    const glueResources = JSON.stringify(statements.filter((st) => [].concat(st.Action).includes('glue:GetTable' as never)));
    expect(glueResources).toContain(':table/shop_raw/orders');
    expect(glueResources).not.toContain('shop_curated');
  });

  test('scheduled queries from props; two of them sum into the pipeline metrics', () => {
    const { serving, stack } = fixture({ scheduledQueries: [daily, { ...daily, queryName: 'other' }] });
    Template.fromStack(stack).resourceCountIs('AWS::StepFunctions::StateMachine', 2);
    const errors = serving.pipelineMetrics.errors as cloudwatch.MathExpression;
    expect(errors).toBeInstanceOf(cloudwatch.MathExpression);
    expect(errors.expression).toBe('FILL(m0, 0) + FILL(m1, 0)');
    expect((serving.failureEvents[0].detail as any).stateMachineArn).toHaveLength(2);
  });
});

describe('Iceberg maintenance', () => {
  test('OPTIMIZE then VACUUM in the table\'s database; the workflow may write the table', () => {
    const { stack, lake, serving } = fixture();
    const orders = lake.addIcebergTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
    const m = serving.addIcebergMaintenance('OrdersMaintenance', { table: orders, schedule: scheduler.ScheduleExpression.expression('cron(0 3 ? * SUN *)') });
    const template = Template.fromStack(stack);
    const [, sm] = only(template, 'AWS::StepFunctions::StateMachine');
    const s = definitionOf(sm).States;
    expect(s.Optimize.Arguments.QueryString).toBe('OPTIMIZE orders REWRITE DATA USING BIN_PACK');
    expect(s.Optimize.Arguments.QueryExecutionContext.Database).toBe('shop_curated');
    expect(s.Optimize.Next).toBe('Vacuum');
    expect(s.Vacuum.Arguments.QueryString).toBe('VACUUM orders');
    expect(s.Vacuum.TimeoutSeconds).toBe(7200);
    const statements = statementsOfRole(template, stack.getLogicalId(m.stateMachine.role.node.defaultChild as iam.CfnRole));
    const actions = statements.flatMap((st) => [].concat(st.Action));
    expect(actions).toEqual(expect.arrayContaining(['glue:UpdateTable', 's3:PutObject', 's3:DeleteObject']));
    expect((serving.pipelineMetrics.throughput as cloudwatch.Metric).metricName).toBe('ExecutionsStarted');
  });

  test('only VACUUM', () => {
    const { stack, lake, serving } = fixture();
    const orders = lake.addIcebergTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
    serving.addIcebergMaintenance('M', { table: orders, schedule: scheduler.ScheduleExpression.expression('rate(1 day)'), optimize: false });
    const s = definitionOf(only(Template.fromStack(stack), 'AWS::StepFunctions::StateMachine')[1]).States;
    expect(s.Optimize).toBeUndefined();
    expect(s.Prepare.Next).toBe('Vacuum');
  });
});

describe('validation errors name the prop and the fix', () => {
  const expectError = (build: () => void, prop: string, problem: RegExp) => {
    expect(build).toThrow(new RegExp(`invalid prop "${prop.replace(/[.[\]]/g, '\\$&')}".*${problem.source}.*Fix: `));
  };

  test.each([
    ['has spaces', 'team analysts'],
    ['has a slash', 'team/analysts'],
    ['is empty', ''],
    ['is 129 characters', 'a'.repeat(129)],
  ])('workGroupName that %s', (_, name) => {
    expectError(() => fixture({ workGroupName: name }), 'workGroupName', /not a valid Athena workgroup name/);
  });

  test('128-character workgroup name is fine', () => {
    expect(() => fixture({ workGroupName: 'a'.repeat(128) })).not.toThrow();
  });

  test('scan limit under Athena\'s 10 MB minimum', () => {
    expectError(() => fixture({ bytesScannedCutoffPerQuery: Size.bytes(9_999_999) }), 'bytesScannedCutoffPerQuery', /under Athena's minimum of 10000000 bytes/);
    expectError(() => fixture({ bytesScannedCutoffPerQuery: Size.mebibytes(9) }), 'bytesScannedCutoffPerQuery', /minimum/);
  });

  test.each([
    ['rate(1 days)', /singular unit "day"/],
    ['rate(5 minute)', /plural unit "minutes"/],
    ['rate(0 minutes)', /below 1/],
    ['rate(1 week)', /does not parse/],
    ['cron(0 6 * * *)', /has 5 cron fields, not 6/],
    ['cron(0 6 * * MON *)', /exactly one of day-of-month and day-of-week/],
    ['cron(0 6 ? * ? *)', /exactly one of day-of-month and day-of-week/],
    ['cron(0 25 * * ? *)', /hours 25 outside 0-23/],
    ['cron(0 6 * 13 ? *)', /month 13 outside 1-12/],
    ['cron(0 6 * * ? $)', /invalid year field/],
    ['at(2030-02-30T06:00:00)', /not a real date/],
    ['at(2030-01-31 06:00:00)', /does not parse/],
    ['every day at 6', /does not parse/],
  ])('schedule %s', (schedule, problem) => {
    const { serving } = fixture();
    expectError(() => serving.addScheduledQuery('Q', { ...daily, schedule: scheduler.ScheduleExpression.expression(schedule) }), 'schedule', problem);
  });

  test.each(['rate(1 minute)', 'rate(12 hours)', 'cron(0/15 * * * ? *)', 'cron(0 6 ? * MON-FRI *)', 'cron(0 6 L * ? 2030)', 'at(2030-01-31T06:00:00)'])(
    'schedule %s is accepted', (schedule) => {
      const { serving } = fixture();
      expect(() => serving.addScheduledQuery('Q', { ...daily, schedule: scheduler.ScheduleExpression.expression(schedule) })).not.toThrow();
    });

  test('empty SQL (scheduled and saved)', () => {
    const { serving } = fixture();
    expectError(() => serving.addScheduledQuery('Q', { ...daily, sql: '  ;  ' }), 'sql', /the SQL is empty/);
    expectError(() => serving.addNamedQuery('N', { queryName: 'n', sql: '' }), 'namedQueries[n].sql', /the SQL is empty/);
  });

  test('SQL longer than Athena accepts', () => {
    const { serving } = fixture();
    expectError(() => serving.addScheduledQuery('Q', { ...daily, sql: `SELECT '${'x'.repeat(262_144)}'` }), 'sql', /more than Athena's 262144/);
  });

  test('Parquet report of something that is not a SELECT', () => {
    const { serving } = fixture();
    expectError(() => serving.addScheduledQuery('Q', { ...daily, sql: 'INSERT INTO t SELECT 1', format: ReportFormat.PARQUET }), 'sql', /UNLOAD, which takes a SELECT only/);
  });

  test('report name that is not a plain folder name', () => {
    const { serving } = fixture();
    expectError(() => serving.addScheduledQuery('Q', { ...daily, queryName: 'Daily Revenue' }), 'queryName', /not a valid report name/);
    expect(() => serving.addScheduledQuery('Q2', { ...daily, queryName: 'Daily Revenue' })).toThrow(/Fix: use a name such as "daily-revenue"/);
  });

  test('two scheduled queries with one name', () => {
    const { serving } = fixture();
    serving.addScheduledQuery('A', daily);
    expectError(() => serving.addScheduledQuery('B', daily), 'scheduledQueries.queryName', /two scheduled queries are named "daily-revenue"/);
  });

  test('saved query name empty or too long', () => {
    const { serving } = fixture();
    expectError(() => serving.addNamedQuery('N', { queryName: ' ', sql: 'SELECT 1' }), 'namedQueries.queryName', /1-128 characters/);
    expectError(() => serving.addNamedQuery('N', { queryName: 'q'.repeat(129), sql: 'SELECT 1' }), 'namedQueries.queryName', /1-128 characters/);
  });

  test('database names Glue rejects', () => {
    const { serving } = fixture();
    expectError(() => serving.addScheduledQuery('Q', { ...daily, database: 'Shop-Curated' }), 'database', /not a valid Glue\/Athena name/);
  });

  test('lifecycle or logging props with an existing results bucket', () => {
    const stack = new Stack(new App(), 'S');
    const lake = new LakehouseTier(stack, 'Lake');
    const resultsBucket = s3.Bucket.fromBucketName(stack, 'B', 'team-results');
    expectError(() => new AthenaServing(stack, 'A', { lake, resultsBucket, resultsExpiration: Duration.days(7) }), 'resultsExpiration', /existing results bucket/);
    expectError(() => new AthenaServing(stack, 'B2', { lake, resultsBucket, reportsExpiration: Duration.days(7) }), 'reportsExpiration', /existing results bucket/);
  });

  test('expiry that is not whole days', () => {
    expectError(() => fixture({ resultsExpiration: Duration.hours(36) }), 'resultsExpiration', /not a whole, non-negative number of days/);
  });

  test('reports under the results prefix (they would expire) and unusable prefixes', () => {
    expectError(() => fixture({ reportsPrefix: 'results/reports/' }), 'reportsPrefix', /overlaps resultsPrefix/);
    expectError(() => fixture({ resultsPrefix: '/' }), 'resultsPrefix', /not a usable S3 prefix/);
    expectError(() => fixture({ reportsPrefix: "it's/" }), 'reportsPrefix', /not a usable S3 prefix/);
  });

  test('Iceberg maintenance with nothing to run', () => {
    const { lake, serving } = fixture();
    const orders = lake.addIcebergTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
    expectError(() => serving.addIcebergMaintenance('M', { table: orders, schedule: scheduler.ScheduleExpression.expression('rate(1 day)'), optimize: false, vacuum: false }), 'optimize', /nothing to run/);
    expectError(() => serving.addIcebergMaintenance('M2', { table: orders, schedule: scheduler.ScheduleExpression.expression('daily') }), 'schedule', /does not parse/);
    const raw = lake.addRawTable('RawOrders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
    expectError(() => serving.addIcebergMaintenance('M3', { table: raw, schedule: scheduler.ScheduleExpression.expression('rate(1 day)') }), 'table', /is a raw table; OPTIMIZE and VACUUM work on Iceberg tables only/);
  });
});
