import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ApiAuth, ApiEndpoint, ApiPagination, ApiPullIngestion, ApiPullIngestionProps, LakehouseTier, PipelineKind } from '../src';
import { CONFIG_ENV, PullerConfig } from '../src/ingestion/api-pull/runtime/config';

function build(overrides: Partial<ApiPullIngestionProps> = {}, endpointOverrides: Partial<ApiEndpoint> = {}) {
  const stack = new Stack(new App(), 'Api');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'shop' });
  const secret = new secretsmanager.Secret(stack, 'ApiSecret');
  const pipeline = new ApiPullIngestion(stack, 'Shop', {
    lake,
    pipelineName: 'shop',
    endpoints: [
      {
        name: 'orders',
        url: 'https://api.example.com/v1/orders',
        schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
        auth: ApiAuth.bearerToken(secret),
        pagination: ApiPagination.cursor({ cursorPath: '$.meta.next', parameter: 'after' }),
        recordsPath: '$.data',
        recordIdField: 'id',
        incremental: { sinceParameter: 'updated_since' },
        ...endpointOverrides,
      },
      {
        name: 'customers',
        url: 'https://api.example.com/v1/customers',
        schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '2' }),
        auth: ApiAuth.apiKeyQuery(secret, 'api_key'),
        pagination: ApiPagination.pageNumber({ pageSize: 100, pageSizeParameter: 'per_page' }),
        recordsPath: '$.customers',
        recordIdField: 'customer.id',
        tableName: 'customers_v1',
        columns: [{ name: 'customer_id', type: 'string' }],
      },
    ],
    ...overrides,
  });
  return { stack, lake, secret, pipeline, template: Template.fromStack(stack) };
}

function definition(template: Template) {
  const [sm] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  return JSON.parse(sm.Properties.DefinitionString['Fn::Join'][1].map((p: unknown) => (typeof p === 'string' ? p : 'TOKEN')).join(''));
}

/** What the puller gets: the shared part from its environment, each endpoint's part from the definition. */
function pullerConfig(template: Template): PullerConfig {
  const fns = template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { [CONFIG_ENV]: Match.anyValue() } } } });
  const [fn] = Object.values(fns);
  const value = fn.Properties.Environment.Variables[CONFIG_ENV];
  // Fn::Join of literal parts and tokens: replace every token with a placeholder and parse.
  const text = typeof value === 'string' ? value : value['Fn::Join'][1].map((p: unknown) => (typeof p === 'string' ? p : 'TOKEN')).join('');
  const shared = JSON.parse(text) as PullerConfig;
  expect(shared.endpoints).toEqual({});
  const states = definition(template).States;
  const endpoints = Object.fromEntries(Object.keys(states).filter((n) => n.startsWith('Endpoint ')).map((n) => [n.slice('Endpoint '.length), states[n].Result]));
  return { ...shared, endpoints };
}

describe('ApiPullIngestion template', () => {
  const { template, pipeline } = build();

  test('one schedule per endpoint starts the workflow with the scheduled time, with retries and a DLQ', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: Match.objectLike({
        Arn: { Ref: Match.stringLikeRegexp('ShopWorkflow') },
        Input: JSON.stringify({ endpoint: 'orders', scheduledTime: '<aws.scheduler.scheduled-time>' }),
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('ShopScheduleDlq'), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
      }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 2 * * ? *)' });
  });

  test('the workflow is pull → transform → commit, with retries and a catch that records and notifies', () => {
    const states = definition(template).States;
    expect(Object.keys(states)).toEqual(expect.arrayContaining([
      'Read input', 'Fill input defaults', 'Which endpoint?', 'Endpoint orders', 'Endpoint customers', 'Unknown endpoint', 'Pull pages into raw', 'Transform into curated', 'Commit watermark', 'Run succeeded',
      'Record failure', 'Notify failure', 'Run failed',
    ]));
    expect(states['Pull pages into raw'].Next).toBe('Transform into curated');
    expect(states['Transform into curated'].Next).toBe('Commit watermark');
    expect(states['Transform into curated'].Resource).toContain('glue:startJobRun.sync');
    expect(states['Commit watermark'].Next).toBe('Run succeeded');
    for (const name of ['Pull pages into raw', 'Transform into curated', 'Commit watermark']) {
      expect(states[name].Retry.length).toBeGreaterThan(0);
      expect(states[name].Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Record failure' }]);
    }
    expect(states['Pull pages into raw'].Retry).toEqual(expect.arrayContaining([
      expect.objectContaining({ ErrorEquals: ['ApiPull.Transient', 'States.Timeout', 'Sandbox.Timedout'], JitterStrategy: 'FULL' }),
    ]));
    // Bad input and client errors are not retried by the workflow.
    const retried = states['Pull pages into raw'].Retry.flatMap((r: { ErrorEquals: string[] }) => r.ErrorEquals);
    expect(retried).not.toContain('ApiPull.BadInput');
    expect(retried).not.toContain('States.ALL');
    expect(states['Record failure'].Next).toBe('Notify failure');
    expect(states['Notify failure'].Next).toBe('Run failed');
    expect(states['Run failed'].Type).toBe('Fail');
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({ Level: 'ALL' }),
      TracingConfiguration: { Enabled: true },
    });
  });

  test('the input names the endpoint; its configuration comes from the definition', () => {
    const states = definition(template).States;
    expect(states['Which endpoint?'].Choices.map((c: { StringEquals: string; Next: string }) => [c.StringEquals, c.Next]))
      .toEqual([['orders', 'Endpoint orders'], ['customers', 'Endpoint customers']]);
    expect(states['Which endpoint?'].Default).toBe('Unknown endpoint');
    expect(states['Endpoint orders']).toMatchObject({ Type: 'Pass', ResultPath: '$.config', Next: 'Pull pages into raw' });
    // The puller's event is the state's input (the run's input, the fixed fields, then $.config): no optional path is read.
    expect(states['Pull pages into raw'].Parameters).toBeUndefined();
  });

  test('the puller: explicit runtime, streaming-friendly memory, config without secrets', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      MemorySize: 512,
      Timeout: 900,
      TracingConfig: { Mode: 'Active' },
    });
    const config = pullerConfig(template);
    expect(config.pipelineName).toBe('shop');
    expect(Object.keys(config.endpoints)).toEqual(['orders', 'customers']);
    expect(config.endpoints.orders).toMatchObject({
      url: 'https://api.example.com/v1/orders',
      auth: { kind: 'bearer', tokenField: 'token' },
      pagination: { kind: 'cursor', cursorPath: '$.meta.next', parameter: 'after' },
      maxPages: 1000,
      recordsPath: '$.data',
      incremental: { sinceParameter: 'updated_since', initialWatermark: '1970-01-01T00:00:00Z', format: 'iso8601' },
      rawPrefix: 'shop/orders/',
      quarantinePrefix: '_quarantine/shop/orders/',
      requestTimeoutMs: 30000,
      maxAttempts: 5,
      maxRetryAfterSeconds: 120,
    });
    expect(config.endpoints.customers).toMatchObject({ tableName: 'customers_v1', recordIdField: 'customer.id', auth: { kind: 'apiKeyQuery', parameterName: 'api_key', field: 'apiKey' } });
  });

  test('watermarks in DynamoDB with PITR and the lake key', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
    });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain' });
  });

  test('the transform: Glue 5.0 with Iceberg, a security configuration, arguments from the pull', () => {
    template.hasResourceProperties('AWS::Glue::Job', {
      GlueVersion: '5.0',
      Command: Match.objectLike({ Name: 'glueetl', PythonVersion: '3' }),
      WorkerType: 'G.1X',
      NumberOfWorkers: 2,
      MaxRetries: 0,
      SecurityConfiguration: { Ref: Match.stringLikeRegexp('ShopTransformJobSecurity') },
      // MergeJob: the shared module and the merge metrics of every ingestion.
      DefaultArguments: Match.objectLike({
        '--datalake-formats': 'iceberg', '--catalog': 'glue_catalog', '--metrics_namespace': 'CdkLakehouse/Merge', '--pipeline_name': 'shop', '--extra-py-files': Match.anyValue(),
      }),
    });
    template.hasResourceProperties('AWS::Glue::SecurityConfiguration', {
      EncryptionConfiguration: Match.objectLike({
        CloudWatchEncryption: Match.objectLike({ CloudWatchEncryptionMode: 'SSE-KMS' }),
        JobBookmarksEncryption: Match.objectLike({ JobBookmarksEncryptionMode: 'CSE-KMS' }),
      }),
    });
    // An endpoint with columns gets its Iceberg table (and optimizers) registered up front.
    // (created once through Glue CreateTable, docs/iceberg-tables.md)
    const icebergCreates = Object.values(template.findResources('Custom::LakeIcebergTable')).map((r) => JSON.stringify(r.Properties.Create));
    expect(icebergCreates).toEqual([expect.stringMatching(/\\"Name\\":\\"customers_v1\\".*\\"OpenTableFormatInput\\":\{\\"IcebergInput\\":\{\\"MetadataOperation\\":\\"CREATE\\"/)]);
    expect(Object.keys(pipeline.tables)).toEqual(['customers']);
  });

  test('the pipeline contract', () => {
    expect(pipeline.pipelineName).toBe('shop');
    expect(pipeline.pipelineKind).toBe(PipelineKind.API_PULL);
    expect(pipeline.freshness.map((f) => [f.dataset, f.expectedInterval.toHours()])).toEqual([['orders', 2], ['customers_v1', 24]]);
    expect(pipeline.quarantines.map((q) => q.prefix)).toEqual(['_quarantine/shop/orders/', '_quarantine/shop/customers/']);
    expect(pipeline.deadLetterQueues).toEqual([pipeline.scheduleDeadLetterQueue]);
    expect(pipeline.pipelineAlarms).toEqual([pipeline.runFailureAlarm, pipeline.scheduleDeadLetterAlarm]);
    expect(pipeline.logGroups).toEqual([pipeline.pullerLogGroup, pipeline.stateMachineLogGroup]);
    expect(pipeline.failureEvents.map((e) => e.source)).toEqual([['aws.states'], ['aws.glue']]);
    expect(pipeline.pipelineMetrics.additional?.map((m) => m.label)).toEqual(
      ['Runs started', 'Runs succeeded', 'Pages pulled', 'Bytes pulled', 'Pages quarantined', 'Watermarks advanced',
        'Rows merged into curated', 'Rows quarantined by the transform', 'Transform run time (s)']);
    // Freshness is the curated table's commits, from the transform's merge metrics.
    const stack = pipeline.node.scope as any;
    expect(stack.resolve((pipeline.freshness[1].arrivals as any).toMetricConfig().metricStat)).toMatchObject({
      namespace: 'CdkLakehouse/Merge', metricName: 'TableCommits', dimensions: [{ name: 'Pipeline', value: 'shop' }, { name: 'Table', value: 'customers_v1' }],
    });
  });

  test('notifications go to an encrypted topic; success notifications only when asked', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    const { template: withSuccess } = build({ notifyOnSuccess: true });
    const [sm] = Object.values(withSuccess.findResources('AWS::StepFunctions::StateMachine'));
    const text = sm.Properties.DefinitionString['Fn::Join'][1].filter((p: unknown) => typeof p === 'string').join('');
    expect(text).toContain('Notify success');
    const [plain] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    expect(plain.Properties.DefinitionString['Fn::Join'][1].filter((p: unknown) => typeof p === 'string').join('')).not.toContain('Notify success');
  });
});

test('the upload drop: a schedule starts the uploads branch, which merges each file with the same job', () => {
  const { template, pipeline } = build({ uploadDrop: {} });
  expect(pipeline.uploadsPrefix).toBe('shop/_uploads/');
  template.resourceCountIs('AWS::Scheduler::Schedule', 3);
  template.hasResourceProperties('AWS::Scheduler::Schedule', {
    ScheduleExpression: 'rate(15 minutes)',
    Target: Match.objectLike({ Input: JSON.stringify({ mode: 'uploads' }) }),
  });
  const def = definition(template);
  expect(def.StartAt).toBe('Pull or uploads?');
  expect(def.States['List uploads'].Parameters.endpoints.map((e: { name: string }) => e.name)).toEqual(['orders', 'customers']);
  const each = def.States['Each upload'];
  expect(each.ItemsPath).toBe('$.list.uploads');
  expect(Object.keys(each.ItemProcessor.States)).toEqual(['Transform upload', 'Move upload to _done']);
  expect(each.ItemProcessor.States['Transform upload'].Parameters.Arguments).toMatchObject({ '--upload_url.$': '$.uploadUrl' });
  expect(each.Catch[0].Next).toBe('Record failure');
  expect(pullerConfig(template).uploadsPrefix).toBe('shop/_uploads/');
  // The puller may list the drop only.
  template.hasResourceProperties('AWS::IAM::Policy', {
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 's3:ListBucket', Condition: { StringLike: { 's3:prefix': ['shop/_uploads/*'] } } })]) },
  });
});

describe('ApiPullIngestion validation: errors name the prop and the fix', () => {
  test.each<[string, Partial<ApiEndpoint>, RegExp]>([
    ['a schedule that does not parse', { schedule: scheduler.ScheduleExpression.expression('every hour') }, /endpoints\[0\]\.schedule.*does not parse.*Fix:/],
    ['rate with the wrong unit', { schedule: scheduler.ScheduleExpression.expression('rate(2 hour)') }, /endpoints\[0\]\.schedule.*"rate\(2 hour\)" does not parse/],
    ['an endpoint name Glue rejects', { name: 'Orders-V1' }, /endpoints\[0\]\.name.*not a valid Glue\/Athena name.*orders_v1/],
    ['a URL that is not https', { url: 'http://api.example.com/orders' }, /endpoints\[0\]\.url.*not https/],
    ['a URL that does not parse', { url: 'api.example.com/orders' }, /endpoints\[0\]\.url.*not a URL/],
    ['a records path that is not a path', { recordsPath: 'data[0]' }, /endpoints\[0\]\.recordsPath.*not a supported JSON path/],
    ['a cursor path that is not a path', { pagination: ApiPagination.cursor({ cursorPath: 'next' }) }, /endpoints\[0\]\.pagination.*cursor path "next"/],
    ['max pages of zero', { maxPages: 0 }, /endpoints\[0\]\.maxPages.*0 is not a whole number >= 1/],
    ['a record id that is not a field', { recordIdField: 'id field' }, /endpoints\[0\]\.recordIdField/],
    ['a credential in headers', { headers: { Authorization: 'Bearer abc' } }, /endpoints\[0\]\.headers.*credential.*use "auth"/],
    ['an initial watermark that is not an instant', { incremental: { sinceParameter: 'since', initialWatermark: 'yesterday' } }, /initialWatermark.*not an ISO-8601/],
  ])('%s', (_name, endpoint, message) => {
    expect(() => build({}, endpoint)).toThrow(message);
  });

  test('duplicate endpoint names, no endpoint, a bad pipeline name', () => {
    expect(() => build({}, { name: 'customers' })).toThrow(/endpoints\[1\]\.name.*used by another endpoint/);
    expect(() => build({ endpoints: [] })).toThrow(/"endpoints": no endpoint/);
    expect(() => build({ pipelineName: 'My Pipeline' })).toThrow(/"pipelineName".*my-pipeline/);
  });
});
