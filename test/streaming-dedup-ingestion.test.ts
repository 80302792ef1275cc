import { App, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import {
  DedupCapacity, LakehouseTier, PipelineKind, PipelineObservability, StreamingDedupIngestion, StreamingDedupIngestionProps,
} from '../src';

function build(props: Partial<StreamingDedupIngestionProps> = {}, extra?: (stack: Stack) => Partial<StreamingDedupIngestionProps>) {
  const stack = new Stack(new App(), 'Streaming');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  const construct = new StreamingDedupIngestion(stack, 'Events', { lake, ...props, ...(extra ? extra(stack) : {}) });
  return { stack, lake, construct, template: Template.fromStack(stack) };
}

const PARTITION_PREFIX = 'events/event_type=!{partitionKeyFromQuery:event_type}/event_subtype=!{partitionKeyFromQuery:event_subtype}/'
  + 'year=!{partitionKeyFromQuery:year}/month=!{partitionKeyFromQuery:month}/day=!{partitionKeyFromQuery:day}/';

describe('defaults', () => {
  const { template, construct, stack } = build();

  test('an on-demand Kinesis stream encrypted with the lake key, 24 h retention, retained', () => {
    template.hasResource('AWS::Kinesis::Stream', {
      Properties: {
        StreamModeDetails: { StreamMode: 'ON_DEMAND' },
        RetentionPeriodHours: 24,
        StreamEncryption: { EncryptionType: 'KMS', KeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LakeKey'), 'Arn'] } },
      },
      DeletionPolicy: 'Retain',
    });
  });

  test('a dedup table: on-demand, TTL, PITR, the lake key, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LakeKey'), 'Arn'] } },
      },
      DeletionPolicy: 'Retain',
    });
  });

  test('the dedup Lambda on an explicit Node runtime, configured through its environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Drops duplicate events'),
      Runtime: Match.stringLikeRegexp('^nodejs(22|24)\\.x$'),
      Architectures: ['arm64'],
      MemorySize: 512,
      Environment: {
        Variables: Match.objectLike({
          ID_FIELD: 'event_id',
          TYPE_FIELD: 'event_type',
          SUBTYPE_FIELD: 'event_subtype',
          TIME_FIELD: 'event_time',
          DEDUP_WINDOW_SECONDS: '86400',
          QUARANTINE_PREFIX: '_quarantine/events/malformed/',
          POWERTOOLS_SERVICE_NAME: 'events',
          POWERTOOLS_METRICS_NAMESPACE: 'CdkLakehouse/Streaming',
        }),
      },
    });
  });

  test('the event source: partial batch responses, bisect, bounded retries and age, SQS on failure', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 1,
      ParallelizationFactor: 1,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 21600,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EventsOnFailureQueue'), 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LakeKey'), 'Arn'] },
      MessageRetentionPeriod: 1209600,
    });
  });

  test('the Lambda may write one item kind and call PutRecordBatch on its own delivery stream only', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^EventsDedupRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: ['dynamodb:PartiQLInsert', 'dynamodb:PartiQLUpdate', 'dynamodb:BatchGetItem'], Effect: 'Allow' }),
          Match.objectLike({ Action: 'firehose:PutRecordBatch', Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EventsDeliveryStream'), 'Arn'] } }),
        ]),
      },
    });
  });

  test('Firehose: GZIP JSON, dynamic partitioning by type/subtype/year/month/day, de-aggregation, error prefix, CMK, logs', () => {
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamType: 'DirectPut',
      DeliveryStreamEncryptionConfigurationInput: { KeyType: 'CUSTOMER_MANAGED_CMK' },
      ExtendedS3DestinationConfiguration: Match.objectLike({
        Prefix: PARTITION_PREFIX,
        ErrorOutputPrefix: '_quarantine/events/delivery-errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/',
        CompressionFormat: 'GZIP',
        FileExtension: '.json.gz',
        BufferingHints: { IntervalInSeconds: 300, SizeInMBs: 128 },
        DynamicPartitioningConfiguration: { Enabled: true, RetryOptions: { DurationInSeconds: 300 } },
        CloudWatchLoggingOptions: Match.objectLike({ Enabled: true }),
        EncryptionConfiguration: { KMSEncryptionConfig: { AWSKMSKeyARN: Match.anyValue() } },
        ProcessingConfiguration: {
          Enabled: true,
          Processors: [
            { Type: 'RecordDeAggregation', Parameters: [{ ParameterName: 'SubRecordType', ParameterValue: 'JSON' }] },
            {
              Type: 'MetadataExtraction',
              Parameters: [
                {
                  ParameterName: 'MetadataExtractionQuery',
                  ParameterValue: '{event_type: .event_type, event_subtype: (if ((.event_subtype // "") | tostring) == "" then "none" else .event_subtype end), '
                    + 'year: .event_time[0:4], month: .event_time[5:7], day: .event_time[8:10]}',
                },
                { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
              ],
            },
            { Type: 'AppendDelimiterToRecord', Parameters: [{ ParameterName: 'Delimiter', ParameterValue: '\\n' }] },
          ],
        },
      }),
    });
  });

  test('a raw table with partition projection in the seed\'s order, and a curated Iceberg table', () => {
    template.hasResourceProperties('AWS::Glue::Table', {
      TableInput: Match.objectLike({
        Name: 'events',
        PartitionKeys: ['event_type', 'event_subtype', 'year', 'month', 'day'].map((name) => ({ Name: name, Type: 'string' })),
        Parameters: Match.objectLike({
          'projection.enabled': 'true',
          'projection.event_type.type': 'injected',
          'projection.month.type': 'integer',
          'projection.month.digits': '2',
        }),
        StorageDescriptor: Match.objectLike({
          Columns: [{ Name: 'event_id', Type: 'string' }, { Name: 'event_time', Type: 'string' }],
        }),
      }),
    });
    // The curated Iceberg table is created once through Glue CreateTable (docs/iceberg-tables.md).
    const icebergCreates = Object.values(template.findResources('Custom::LakeIcebergTable')).map((r) => JSON.stringify(r.Properties.Create));
    expect(icebergCreates).toEqual([expect.stringMatching(/\\"Name\\":\\"events\\".*\\"OpenTableFormatInput\\":\{\\"IcebergInput\\":\{\\"MetadataOperation\\":\\"CREATE\\"/)]);
  });

  test('a Glue 5.0 Flex merge job (MergeJob), encrypted, one run at a time, scheduled hourly by EventBridge Scheduler', () => {
    template.hasResourceProperties('AWS::Glue::Job', {
      GlueVersion: '5.0',
      ExecutionClass: 'FLEX',
      WorkerType: 'G.1X',
      NumberOfWorkers: 2,
      ExecutionProperty: { MaxConcurrentRuns: 1 },
      SecurityConfiguration: Match.anyValue(),
      DefaultArguments: Match.objectLike({
        '--datalake-formats': 'iceberg',
        '--id_field': 'event_id',
        '--curated_table': 'events',
        '--overlap_minutes': '30',
      }),
    });
    const job = Object.values(template.findResources('AWS::Glue::Job'))[0];
    expect(JSON.stringify(job.Properties.DefaultArguments['--conf'])).toMatch(/IcebergSparkSessionExtensions.*GlueCatalog.*S3FileIO/);
    expect(job.Properties.DefaultArguments['--metrics_namespace']).toBe('CdkLakehouse/Merge');
    expect(job.Properties.DefaultArguments['--pipeline_name']).toBe('events');
    // The merge reads only the curated days the dedup function's window (24 h by default) reaches,
    // and quarantines raw lines it cannot merge under the dataset's quarantine prefix.
    expect(job.Properties.DefaultArguments['--dedup_window_seconds']).toBe('86400');
    expect(JSON.stringify(stack.resolve(job.Properties.DefaultArguments['--quarantine_path']))).toMatch(/"s3:\/\/".*"\/_quarantine\/events\/merge\/"/);
    expect(construct.mergeQuarantinePrefix).toBe('_quarantine/events/merge/');
    expect(construct.quarantines.map((q) => q.prefix)).toContain('_quarantine/events/merge/');
    template.resourceCountIs('AWS::Glue::Trigger', 0);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(15 * * * ? *)',
      Target: Match.objectLike({
        Arn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':scheduler:::aws-sdk:glue:startJobRun']] },
        Input: JSON.stringify({ JobName: construct.merge.jobName }),
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: Match.anyValue() },
      }),
    });
    template.hasResourceProperties('AWS::Glue::SecurityConfiguration', {
      EncryptionConfiguration: Match.objectLike({ CloudWatchEncryption: Match.objectLike({ CloudWatchEncryptionMode: 'SSE-KMS' }) }),
    });
  });

  test('a replay function bounded to 100,000 events an invocation, with no reserved concurrency (new accounts refuse any)', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Replays raw events'),
      ReservedConcurrentExecutions: Match.absent(),
      Timeout: 900,
      Environment: { Variables: Match.objectLike({ RAW_PREFIX: 'events/', MAX_EVENTS: '100000', ENVELOPE: 'true' }) },
    });
  });

  test('the pipeline contract', () => {
    expect(construct.pipelineName).toBe('events');
    expect(construct.pipelineKind).toBe(PipelineKind.STREAMING);
    // The merge schedule's dead-letter queue and its alarm joined the contract with MergeJob.
    expect(construct.deadLetterQueues).toEqual([construct.eventSourceDeadLetterQueue, construct.merge.scheduleDeadLetterQueue]);
    // The dedup function's quarantine (malformed records) and the merge's (raw lines without an id or type).
    expect(construct.quarantines.map((q) => q.prefix)).toEqual(['_quarantine/events/malformed/', '_quarantine/events/merge/']);
    expect(stack.resolve((construct.quarantines[1].count as cloudwatch.Metric).namespace)).toBe('CdkLakehouse/Merge');
    expect(construct.pipelineAlarms).toHaveLength(3);
    expect(construct.logGroups).toHaveLength(3);
    expect(construct.freshness[0].expectedInterval.toHours()).toBe(1);
    // Freshness watches the curated table's commits (what people query), not Firehose's raw files.
    expect(construct.freshness[0].dataset).toBe('lake_curated.events');
    expect(stack.resolve((construct.freshness[0].arrivals as cloudwatch.Metric).toMetricConfig().metricStat)).toMatchObject({
      namespace: 'CdkLakehouse/Merge', metricName: 'TableCommits', statistic: 'Sum', dimensions: [{ name: 'Pipeline', value: 'events' }, { name: 'Table', value: 'events' }],
    });
    expect(stack.resolve(construct.failureEvents)).toEqual([{
      source: ['aws.glue'],
      detailType: ['Glue Job State Change'],
      detail: { jobName: [stack.resolve(construct.merge.jobName)], state: ['FAILED', 'TIMEOUT', 'ERROR'] },
    }]);
    const throughput = construct.pipelineMetrics.throughput as cloudwatch.Metric;
    expect(throughput.namespace).toBe('CdkLakehouse/Streaming');
    expect(throughput.metricName).toBe('RecordsReceived');
    expect(throughput.dimensions).toEqual({ Pipeline: 'events' });
    expect((construct.pipelineMetrics.lagMillis as cloudwatch.Metric).metricName).toBe('IteratorAge');
    expect(construct.pipelineMetrics.additional?.map((m) => m.label)).toEqual(expect.arrayContaining(['Duplicates', 'Duplicate ratio (%)', 'Quarantined', 'Forward failures']));
  });

  test('grantPut gives a producer PutRecord(s) on the stream and a data key, nothing wider', () => {
    const fresh = new Stack(new App(), 'Producer');
    const events = new StreamingDedupIngestion(fresh, 'Events', { lake: new LakehouseTier(fresh, 'Lake') });
    const producer = new iam.Role(fresh, 'Producer', { assumedBy: new iam.AccountRootPrincipal() });
    events.grantPut(producer);
    Template.fromStack(fresh).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^Producer') }],
      PolicyDocument: {
        Statement: [
          { Action: ['kinesis:PutRecord', 'kinesis:PutRecords', 'kinesis:ListShards', 'kinesis:DescribeStreamSummary'], Effect: 'Allow', Resource: Match.anyValue() },
          { Action: 'kms:GenerateDataKey', Effect: 'Allow', Resource: Match.anyValue() },
        ],
      },
    });
  });
});

test('PipelineObservability watches it through the contract: dashboard, alarms on its metrics, its merge failures', () => {
  const stack = new Stack(new App(), 'Observed');
  const lake = new LakehouseTier(stack, 'Lake');
  const events = new StreamingDedupIngestion(stack, 'Events', { lake });
  new PipelineObservability(stack, 'Ops', { pipelines: [events], lake });
  const template = Template.fromStack(stack);
  template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  const dashboard = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
  expect(dashboard).toMatch(/RecordsDuplicate/);
  expect(dashboard).toMatch(/IteratorAge/);
  template.hasResourceProperties('AWS::Events::Rule', {
    EventPattern: Match.objectLike({ 'source': ['aws.glue'], 'detail-type': ['Glue Job State Change'] }),
  });
});

describe('overrides', () => {
  test('a provisioned stream with shards and retention', () => {
    const { template } = build({ streamMode: kinesis.StreamMode.PROVISIONED, shardCount: 4, streamRetention: Duration.hours(48) });
    template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 4, RetentionPeriodHours: 48, StreamModeDetails: { StreamMode: 'PROVISIONED' } });
  });

  test('an existing stream is used, none created', () => {
    const { template, construct } = build({}, (stack) => ({ stream: kinesis.Stream.fromStreamArn(stack, 'Existing', 'arn:aws:kinesis:us-east-1:123456789012:stream/mine') }));
    template.resourceCountIs('AWS::Kinesis::Stream', 0);
    expect(construct.stream.streamName).toBe('mine');
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { EventSourceArn: 'arn:aws:kinesis:us-east-1:123456789012:stream/mine' });
  });

  test('provisioned dedup capacity with write auto scaling', () => {
    const { template } = build({
      dedupCapacity: DedupCapacity.provisioned({ minWriteCapacity: 50, maxWriteCapacity: 1000, targetUtilizationPercent: 60 }),
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', { ProvisionedThroughput: { ReadCapacityUnits: 1, WriteCapacityUnits: 50 } });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 50, MaxCapacity: 1000, ScalableDimension: 'dynamodb:table:WriteCapacityUnits' });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 60 }),
    });
  });

  test('event source, window, fields, buffering, merge and removal settings', () => {
    const { template } = build({
      datasetName: 'app_events',
      pipelineName: 'app-events',
      batchSize: 1000,
      maxBatchingWindow: Duration.seconds(5),
      parallelizationFactor: 4,
      retryAttempts: 3,
      maxRecordAge: Duration.hours(1),
      dedupWindow: Duration.hours(6),
      dedupMemorySize: 1024,
      eventFields: { id: 'id', type: 'kind', subtype: 'meta.sub', time: 'occurred_at' },
      eventTypes: ['account', 'lesson'],
      bufferInterval: Duration.seconds(60),
      bufferSize: Size.mebibytes(64),
      mergeFlex: false,
      mergeNumberOfWorkers: 4,
      mergeSchedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '*/6' }),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 1000, MaximumBatchingWindowInSeconds: 5, ParallelizationFactor: 4, MaximumRetryAttempts: 3, MaximumRecordAgeInSeconds: 3600,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1024,
      Environment: { Variables: Match.objectLike({ ID_FIELD: 'id', TYPE_FIELD: 'kind', SUBTYPE_FIELD: 'meta.sub', TIME_FIELD: 'occurred_at', DEDUP_WINDOW_SECONDS: '21600', POWERTOOLS_SERVICE_NAME: 'app-events' }) },
    });
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      ExtendedS3DestinationConfiguration: Match.objectLike({
        Prefix: Match.stringLikeRegexp('^app_events/event_type='),
        BufferingHints: { IntervalInSeconds: 60, SizeInMBs: 64 },
        ProcessingConfiguration: Match.objectLike({
          Processors: Match.arrayWith([Match.objectLike({
            Type: 'MetadataExtraction',
            Parameters: Match.arrayWith([{
              ParameterName: 'MetadataExtractionQuery',
              ParameterValue: '{event_type: .kind, event_subtype: (if ((.meta.sub // "") | tostring) == "" then "none" else .meta.sub end), year: .occurred_at[0:4], month: .occurred_at[5:7], day: .occurred_at[8:10]}',
            }]),
          })]),
        }),
      }),
    });
    template.hasResourceProperties('AWS::Glue::Table', {
      TableInput: Match.objectLike({
        Name: 'app_events',
        Parameters: Match.objectLike({ 'projection.event_type.type': 'enum', 'projection.event_type.values': 'account,lesson' }),
        StorageDescriptor: Match.objectLike({ Columns: [{ Name: 'id', Type: 'string' }, { Name: 'kind', Type: 'string' }, { Name: 'occurred_at', Type: 'string' }] }),
      }),
    });
    template.hasResourceProperties('AWS::Glue::Job', {
      ExecutionClass: 'STANDARD', NumberOfWorkers: 4, DefaultArguments: Match.objectLike({ '--curated_table': 'app_events', '--dedup_window_seconds': '21600' }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(0 */6 * * ? *)' });
    template.hasResource('AWS::Kinesis::Stream', { DeletionPolicy: 'Delete' });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
  });

  test('deduplicate: false feeds Firehose from the stream directly: no Lambda dedup, no table, no queue', () => {
    const { template, construct } = build({ deduplicate: false });
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    // The one queue left is the merge schedule's dead-letter queue.
    template.resourceCountIs('AWS::SQS::Queue', 1);
    expect(construct.eventSourceDeadLetterQueue).toBeUndefined();
    expect(construct.deadLetterQueues).toEqual([construct.merge.scheduleDeadLetterQueue]);
    expect(construct.dedupFunction).toBeUndefined();
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamType: 'KinesisStreamAsSource',
      KinesisStreamSourceConfiguration: { KinesisStreamARN: Match.anyValue(), RoleARN: Match.anyValue() },
      ExtendedS3DestinationConfiguration: Match.objectLike({ Prefix: PARTITION_PREFIX }),
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ ENVELOPE: 'false' }) } });
    expect(construct.pipelineMetrics.lagMillis).toBeDefined();
  });
});

describe('validation names the prop and the fix', () => {
  test.each<[string, Partial<StreamingDedupIngestionProps>, RegExp]>([
    ['datasetName', { datasetName: 'App-Events' }, /"datasetName".*Fix: use a name such as "app_events"/],
    ['pipelineName', { pipelineName: 'has space' }, /"pipelineName"/],
    ['eventFields.id', { eventFields: { id: 'a b' } }, /"eventFields.id".*Fix:/],
    ['eventFields shared', { eventFields: { id: 'event_type' } }, /"eventFields".*four different fields/],
    ['eventTypes', { eventTypes: ['ok', 'not/ok'] }, /"eventTypes\[1\]"/],
    ['shardCount on-demand', { shardCount: 2 }, /"shardCount".*StreamMode.PROVISIONED/],
    ['streamRetention', { streamRetention: Duration.hours(12) }, /"streamRetention"/],
    ['batchSize', { batchSize: 0 }, /"batchSize".*from 1 to 10000/],
    ['parallelizationFactor', { parallelizationFactor: 11 }, /"parallelizationFactor"/],
    ['maxRecordAge vs retention', { maxRecordAge: Duration.days(2) }, /"maxRecordAge".*below streamRetention/],
    ['dedupWindow', { dedupWindow: Duration.seconds(10) }, /"dedupWindow"/],
    ['bufferSize', { bufferSize: Size.mebibytes(32) }, /"bufferSize".*64 to 128 MiB/],
    ['bufferInterval', { bufferInterval: Duration.minutes(20) }, /"bufferInterval"/],
    ['mergeSchedule', { mergeSchedule: scheduler.ScheduleExpression.expression('rate(1 hours)') }, /"mergeSchedule".*does not parse/],
    ['mergeNumberOfWorkers', { mergeNumberOfWorkers: 1 }, /"mergeNumberOfWorkers"/],
    ['dedup capacity', { dedupCapacity: DedupCapacity.provisioned({ minWriteCapacity: 100, maxWriteCapacity: 10 }) }, /"dedupCapacity.maxWriteCapacity"/],
    ['dedup-only prop without dedup', { deduplicate: false, batchSize: 100 }, /"batchSize".*deduplicate/],
  ])('%s', (_name, props, message) => {
    expect(() => build(props)).toThrow(message);
  });

  test('stream settings with an existing stream', () => {
    expect(() => build({ streamMode: kinesis.StreamMode.PROVISIONED }, (stack) => ({
      stream: kinesis.Stream.fromStreamArn(stack, 'S', 'arn:aws:kinesis:us-east-1:123456789012:stream/mine'),
    }))).toThrow(/"streamMode".*remove "streamMode", or remove "stream"/);
  });
});
