import * as path from 'path';
import { Duration, Size, SizeRoundingBehavior, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DedupFunction } from './dedup-function';
import { KafkaBinding } from './kafka-binding';
import { KafkaSource } from './kafka-source';
import { ReplayFunction } from './replay-function';
import { resolveRawRetention, SpeedView } from './speed-view';
import { DedupCapacity, StreamingDedupIngestionProps } from './streaming-dedup-ingestion-props';
import { LakehouseDeployRules } from '../../core/deploy-rules';
import { validateFreshnessInterval } from '../../core/freshness';
import { ILakehouse, LakeLayout } from '../../core/lake';
import { lakeLogGroup } from '../../core/log-encryption';
import { MergeJob } from '../../core/merge-job';
import { MERGE_SETTING_NAMES, validateMergeSettings } from '../../core/merge-job-settings';
import { acknowledgeInlinePolicies, NagReasons, suppressNag } from '../../core/nag';
import { defaultPipelineName, GLUE_NAME_RULE, sanitizeName, validatePipelineName } from '../../core/naming';
import {
  FreshnessSignal, IDataPipeline, PipelineKind, PipelineMetrics, QuarantineLocation,
} from '../../core/pipeline';
import { renderQualityRules } from '../../core/quality-rules-render';
import { RawDelivery } from '../../core/raw-delivery';
import { resolveRemovalPolicy } from '../../core/removal';
import { validateScheduleExpression } from '../../core/schedule';
import { propError, validateGlueName } from '../../core/validation';
import { IcebergTable } from '../../lakehouse/iceberg-table';
import { PartitionProjection } from '../../lakehouse/partition-projection';
import { RawTable } from '../../lakehouse/raw-table';
import { Column } from '../../lakehouse/table-props';

const NAME = 'StreamingDedupIngestion';
/** CloudWatch namespace of the dedup handler's metrics (dimension `Pipeline` = pipeline name). */
const METRICS_NAMESPACE = 'CdkLakehouse/Streaming';
const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const PARTITION_VALUE = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * Kinesis events into the lake, each event once: a Kinesis stream (or yours), a dedup Lambda
 * that drops duplicates with one conditional DynamoDB write per record and forwards new events
 * to Firehose packed as JSON lines, Firehose landing GZIP JSON in the raw zone partitioned by
 * `event_type/event_subtype/year/month/day`, a raw table over it (partition projection, no
 * crawler), a scheduled Glue 5.0 job that MERGEs new raw objects into a curated Iceberg table by
 * event id, and a replay function. Implements the pipeline contract.
 *
 * @example
 * declare const lake: LakehouseTier;
 *
 * new StreamingDedupIngestion(this, 'Events', {
 *   lake,
 *   datasetName: 'app_events',
 *   eventFields: { id: 'id', type: 'type', subtype: 'subtype', time: 'occurred_at' },
 * });
 */
export class StreamingDedupIngestion extends Construct implements IDataPipeline {
  public readonly pipelineName: string;
  public readonly pipelineKind: PipelineKind = PipelineKind.STREAMING;
  public readonly pipelineMetrics: PipelineMetrics;
  public readonly freshness: FreshnessSignal[];
  public readonly deadLetterQueues: sqs.IQueue[];
  public readonly quarantines: QuarantineLocation[];
  public readonly pipelineAlarms: cloudwatch.IAlarm[];
  public readonly failureEvents: events.EventPattern[];
  public readonly logGroups: logs.ILogGroup[];

  /** The stream events arrive on (created, or the one given). */
  public readonly stream: kinesis.IStream;
  /** The dedup table (undefined when `deduplicate` is false). */
  public readonly dedupTable?: dynamodb.Table;
  /** The dedup Lambda (undefined when `deduplicate` is false). */
  public readonly dedupFunction?: lambda.Function;
  /** Where the dedup Lambda's event source sends pointers to batches it gave up on. */
  public readonly eventSourceDeadLetterQueue?: sqs.Queue;
  /** The Firehose delivery into the raw zone (grants, metrics). */
  public readonly delivery: firehose.IDeliveryStream;
  /** The Firehose delivery stream into the raw zone (CloudFormation resource). */
  public readonly deliveryStream: firehose.CfnDeliveryStream;
  /** The role Firehose assumes. */
  public readonly deliveryRole: iam.Role;
  /** Firehose's error log group. */
  public readonly deliveryLogGroup: logs.LogGroup;
  /** The raw table over the delivered JSON (partition projection). */
  public readonly rawTable: RawTable;
  /** The curated Iceberg table, one row per event id. */
  public readonly curatedTable: IcebergTable;
  /** The merge of raw into curated: job, role, schedule with its dead-letter queue, merge metrics. */
  public readonly merge: MergeJob;
  /** The Glue job that MERGEs raw into curated (`merge.job`). */
  public readonly mergeJob: glue.CfnJob;
  /** The merge job's role (`merge.role`). */
  public readonly mergeRole: iam.Role;
  /** The merge job's EventBridge Scheduler schedule (`merge.schedules[0]`). */
  public readonly mergeSchedule: scheduler.Schedule;
  /** The replay function (operators invoke it with a time range and an event type). */
  public readonly replayFunction: lambda.Function;
  /** Prefix in the raw bucket where the handler quarantines malformed records. */
  public readonly quarantinePrefix: string;
  /** Raw-zone prefix where the merge job puts raw lines it cannot merge (no id or type), with the reason. */
  public readonly mergeQuarantinePrefix: string;
  /** Prefix in the raw bucket where Firehose puts records it could not partition or deliver. */
  public readonly deliveryErrorPrefix: string;
  /** The speed view over curated and not-yet-merged raw events (undefined when `speedView` is false). */
  public readonly speedView?: SpeedView;

  /** The lake this pipeline writes into. */
  public readonly lake: ILakehouse;
  /** The Kafka source the dedup Lambda reads (undefined for Kinesis only). */
  public readonly kafkaSource?: KafkaSource;
  /** Security group of the self-managed Kafka event source mapping's network interfaces (created or given). */
  public readonly kafkaSecurityGroup?: ec2.ISecurityGroup;
  private readonly kafkaBinding?: KafkaBinding;

  constructor(scope: Construct, id: string, props: StreamingDedupIngestionProps) {
    super(scope, id);
    const p = resolveProps(this, props, id);
    LakehouseDeployRules._applyTo(this);
    this.lake = props.lake;
    this.pipelineName = p.pipelineName;
    const raw = props.lake.raw;
    const key = props.lake.encryptionKey;

    this.stream = props.stream ?? new kinesis.Stream(this, 'Stream', {
      streamMode: p.streamMode,
      shardCount: p.streamMode === kinesis.StreamMode.PROVISIONED ? p.shardCount : undefined,
      retentionPeriod: p.streamRetention,
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: props.streamEncryptionKey ?? key,
      removalPolicy: p.removalPolicy,
    });

    if (this.stream instanceof kinesis.Stream) {
      suppressNag(this.stream, [{
        id: 'AwsSolutions-KDS3',
        reason: 'The library encrypts every store with a customer managed key (rotation, key policy, one key for the lake); '
          + 'Kinesis reuses data keys, so the KMS cost is a few requests per shard and hour (see docs/streaming-dedup-ingestion.md, cost model).',
      }]);
    }

    this.quarantinePrefix = LakeLayout.quarantinePrefix(`${p.datasetName}/malformed`);
    this.deliveryErrorPrefix = LakeLayout.quarantinePrefix(`${p.datasetName}/delivery-errors`);
    this.mergeQuarantinePrefix = LakeLayout.quarantinePrefix(`${p.datasetName}/merge`);
    this.rawTable = new RawTable(this, 'RawTable', {
      zone: raw,
      tableName: p.datasetName,
      description: `Raw events of ${p.pipelineName}, as they arrived (GZIP JSON lines)`,
      columns: rawColumns(p.fields, props.rawColumns ?? []),
      partitionKeys: [
        { name: 'event_type', projection: props.eventTypes ? PartitionProjection.values(props.eventTypes) : PartitionProjection.injected() },
        { name: 'event_subtype', projection: PartitionProjection.injected() },
        { name: 'year', projection: PartitionProjection.integerRange(2000, 2099) },
        { name: 'month', projection: PartitionProjection.integerRange(1, 12, 2) },
        { name: 'day', projection: PartitionProjection.integerRange(1, 31, 2) },
      ],
    });
    this.curatedTable = new IcebergTable(this, 'CuratedTable', {
      zone: props.lake.curated,
      removalPolicy: p.removalPolicy,
      tableName: p.datasetName,
      description: `Events of ${p.pipelineName}, one row per event id`,
      columns: [
        { name: 'event_id', type: 'string' },
        { name: 'event_type', type: 'string' },
        { name: 'event_subtype', type: 'string' },
        { name: 'event_time', type: 'timestamp' },
        { name: 'payload', type: 'string', comment: 'The raw event, a JSON object' },
        { name: 'ingested_at', type: 'timestamp', comment: 'When the merge first wrote the event' },
      ],
    });
    for (const table of [this.rawTable, this.curatedTable]) LakehouseDeployRules._nameOwner(table, this, NAME, 'datasetName');

    const fields = p.fields;
    const jq = (field: string) => `.${field}`;
    // id "Default": the delivery's resources keep the logical ids they had before RawDelivery.
    const delivery = new RawDelivery(this, 'Default', {
      zone: raw,
      prefix: this.rawTable.prefix,
      errorPrefix: this.deliveryErrorPrefix,
      description: p.pipelineName,
      removalPolicy: p.removalPolicy,
      // With dedup, the handler puts records (Direct PUT, SSE with the lake key); without, Firehose reads the stream.
      source: p.deduplicate ? undefined : this.stream,
      directPutKey: key,
      // The handler packs up to 500 events per record as JSON lines; they are split first.
      deaggregateJsonLines: true,
      partitioning: {
        extractionQuery: `{event_type: ${jq(fields.type)}, `
          + `event_subtype: (if ((${jq(fields.subtype)} // "") | tostring) == "" then "none" else ${jq(fields.subtype)} end), `
          + `year: ${jq(fields.time)}[0:4], month: ${jq(fields.time)}[5:7], day: ${jq(fields.time)}[8:10]}`,
        keys: ['event_type', 'event_subtype', 'year', 'month', 'day'],
      },
      bufferInterval: p.bufferInterval,
      bufferSize: p.bufferSize,
      logKey: key,
      userLogKey: props.logEncryptionKey,
    });
    this.delivery = delivery.deliveryStream;
    this.deliveryStream = delivery.cfnDeliveryStream;
    this.deliveryRole = delivery.role;
    this.deliveryLogGroup = delivery.logGroup;
    const deliveryStreamArn = this.deliveryStream.attrArn;

    const lambdaLogGroups: logs.LogGroup[] = [];
    if (p.deduplicate) {
      const provisioned = p.dedupCapacity.provisionedOptions;
      this.dedupTable = new dynamodb.Table(this, 'DedupTable', {
        partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
        timeToLiveAttribute: 'expiresAt',
        billingMode: provisioned ? dynamodb.BillingMode.PROVISIONED : dynamodb.BillingMode.PAY_PER_REQUEST,
        readCapacity: provisioned ? provisioned.readCapacity ?? 1 : undefined,
        writeCapacity: provisioned ? provisioned.minWriteCapacity : undefined,
        encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryptionKey: key,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        removalPolicy: p.removalPolicy,
      });
      if (provisioned) {
        this.dedupTable.autoScaleWriteCapacity({ minCapacity: provisioned.minWriteCapacity, maxCapacity: provisioned.maxWriteCapacity })
          .scaleOnUtilization({ targetUtilizationPercent: provisioned.targetUtilizationPercent ?? 70 });
      }

      this.eventSourceDeadLetterQueue = new sqs.Queue(this, 'OnFailureQueue', {
        encryption: sqs.QueueEncryption.KMS,
        encryptionMasterKey: key,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
        removalPolicy: p.removalPolicy,
      });
      suppressNag(this.eventSourceDeadLetterQueue, [{
        id: 'AwsSolutions-SQS3',
        reason:
          'This queue is itself the on-failure destination of the dedup Lambda\'s Kinesis event source: it holds '
          + 'pointers to batches that exhausted their retries; an alarm fires on its first message.',
      }]);

      const logGroup = lakeLogGroup(this, 'DedupLogs', { constructKey: key, userKey: props.logEncryptionKey, keyProp: 'logEncryptionKey', retention: logs.RetentionDays.ONE_MONTH, removalPolicy: p.removalPolicy });
      lambdaLogGroups.push(logGroup);
      const role = lambdaRole(this, 'DedupRole', logGroup, `Dedup Lambda of ${p.pipelineName}`);
      this.dedupFunction = new DedupFunction(this, 'DedupFunction', {
        role,
        logGroup,
        memorySize: p.dedupMemorySize,
        timeout: Duration.minutes(2),
        architecture: lambda.Architecture.ARM_64,
        description: `Drops duplicate events of ${p.pipelineName} and forwards new ones to Firehose`,
        environment: {
          ID_FIELD: fields.id,
          TYPE_FIELD: fields.type,
          SUBTYPE_FIELD: fields.subtype,
          TIME_FIELD: fields.time,
          DEDUP_TABLE_NAME: this.dedupTable.tableName,
          DEDUP_WINDOW_SECONDS: String(p.dedupWindow.toSeconds()),
          DELIVERY_STREAM_NAME: this.deliveryStream.ref,
          QUARANTINE_BUCKET: raw.bucket.bucketName,
          QUARANTINE_PREFIX: this.quarantinePrefix,
          POWERTOOLS_SERVICE_NAME: p.pipelineName,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          PIPELINE_NAME: p.pipelineName,
        },
      });
      this.dedupTable.grant(this.dedupFunction, 'dynamodb:PartiQLInsert', 'dynamodb:PartiQLUpdate', 'dynamodb:BatchGetItem');
      key.grant(this.dedupFunction, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey');
      this.dedupFunction.addToRolePolicy(new iam.PolicyStatement({ actions: ['firehose:PutRecordBatch'], resources: [deliveryStreamArn] }));
      this.dedupFunction.addToRolePolicy(new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [raw.bucket.arnForObjects(`${this.quarantinePrefix}*`)],
      }));
      this.dedupFunction.addEventSource(new KinesisEventSource(this.stream, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: p.batchSize,
        maxBatchingWindow: p.maxBatchingWindow,
        parallelizationFactor: p.parallelizationFactor,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts: p.retryAttempts,
        maxRecordAge: p.maxRecordAge,
        onFailure: new SqsDlq(this.eventSourceDeadLetterQueue),
      }));
      if (props.kafka) {
        this.kafkaSource = props.kafka;
        this.kafkaBinding = props.kafka._bind(this, this.dedupFunction, {
          pipelineName: p.pipelineName, batchSize: p.batchSize, maxBatchingWindow: p.maxBatchingWindow, fields,
        });
        this.kafkaSecurityGroup = this.kafkaBinding.securityGroup;
        for (const [name, value] of Object.entries(this.kafkaBinding.environment)) this.dedupFunction.addEnvironment(name, value);
        suppressNag(role.node.findChild('DefaultPolicy'), [{
          id: 'AwsSolutions-IAM5',
          reason: 'Lambda\'s Kafka event source mapping creates, describes and deletes its network interfaces in the cluster\'s VPC with the '
            + 'function\'s role (the EC2 actions of AWSLambdaMSKExecutionRole); the Describe actions have no resource-level scoping.',
          appliesTo: ['Resource::*'],
        }]);
      }
      suppressNag(role.node.findChild('DefaultPolicy'), [{
        id: 'AwsSolutions-IAM5',
        reason: 'The dedup Lambda writes quarantined records under its own quarantine prefix only; the KMS actions are '
          + 'what aws-cdk-lib\'s SqsDlq grants to send to the KMS-encrypted on-failure queue, on the lake key alone.',
        appliesTo: ['/^Resource::<.*\\.Arn>/_quarantine/.*\\*$/', 'Action::kms:ReEncrypt*', 'Action::kms:GenerateDataKey*'],
      }]);
    }

    const replayLogGroup = lakeLogGroup(this, 'ReplayLogs', { constructKey: key, userKey: props.logEncryptionKey, keyProp: 'logEncryptionKey', retention: logs.RetentionDays.ONE_MONTH, removalPolicy: p.removalPolicy });
    lambdaLogGroups.push(replayLogGroup);
    const replayRole = lambdaRole(this, 'ReplayRole', replayLogGroup, `Replay of ${p.pipelineName}`);
    this.replayFunction = new ReplayFunction(this, 'ReplayFunction', {
      role: replayRole,
      logGroup: replayLogGroup,
      memorySize: 1024,
      timeout: Duration.minutes(15),
      architecture: lambda.Architecture.ARM_64,
      // No reserved concurrency: an account whose quota is 10 refuses any reservation. Replays need
      // no serialising: each event travels in an envelope the dedup handler claims once per replay
      // id, and the curated MERGE keeps one row per event id (docs/streaming-dedup-ingestion.md).
      description: `Replays raw events of ${p.pipelineName} into its stream: { eventType, from, to, replayId?, maxEvents?, startAfter? }`,
      environment: {
        RAW_BUCKET: raw.bucket.bucketName,
        RAW_PREFIX: this.rawTable.prefix,
        STREAM_NAME: this.stream.streamName,
        MAX_EVENTS: String(p.replayMaxEvents),
        ENVELOPE: String(p.deduplicate),
        POWERTOOLS_SERVICE_NAME: `${p.pipelineName}-replay`,
      },
    });
    this.rawTable.grantRead(this.replayFunction);
    this.grantPut(this.replayFunction);
    suppressNag(replayRole.node.findChild('DefaultPolicy'), [{
      id: 'AwsSolutions-IAM5',
      reason: 'The replay function reads the raw objects of this dataset only (its prefix of the raw bucket) and the '
        + 'Glue entries of the raw database it is granted by the zone.',
      appliesTo: ['/^Resource::<.*\\.Arn>/.*\\*$/', '/^Resource::arn:<AWS::Partition>:glue:.*$/'],
    }]);

    this.merge = new MergeJob(this, 'Merge', {
      lake: props.lake,
      pipelineName: p.pipelineName,
      scriptPath: path.join(__dirname, 'glue', 'streaming_merge.py'),
      description: `MERGEs new raw events of ${p.pipelineName} into the curated Iceberg table by event id`,
      jobEncryptionKey: key,
      workerType: p.mergeWorkerType,
      numberOfWorkers: p.mergeNumberOfWorkers,
      flex: p.mergeFlex,
      timeout: p.mergeTimeout,
      maxRetries: 1,
      schedule: p.mergeSchedule,
      removalPolicy: p.removalPolicy,
      qualityRules: p.qualityRules.length > 0 ? [{ table: p.datasetName, rules: p.qualityRules }] : undefined,
      arguments: {
        '--raw_path': raw.s3Url(this.rawTable.prefix),
        '--curated_database': props.lake.curated.databaseName,
        '--curated_table': this.curatedTable.tableName,
        '--id_field': fields.id,
        '--type_field': fields.type,
        '--subtype_field': fields.subtype,
        '--time_field': fields.time,
        '--overlap_minutes': String(p.mergeOverlap.toMinutes()),
        // The merge reads only the curated days this window can reach from a batch's events: it
        // must be the dedup function's window, or a duplicate the function let through would
        // escape the merge too.
        '--dedup_window_seconds': String(p.dedupWindow.toSeconds()),
        '--quarantine_path': raw.s3Url(this.mergeQuarantinePrefix),
      },
    });
    this.rawTable.grantRead(this.merge.role);
    raw.grantReadWrite(this.merge.role, this.mergeQuarantinePrefix);
    this.curatedTable.grantReadWrite(this.merge.role);
    this.merge.job.node.addDependency(this.curatedTable);
    this.mergeJob = this.merge.job;
    this.mergeRole = this.merge.role;
    this.mergeSchedule = this.merge.schedules[0];
    if (p.speedView) {
      this.speedView = new SpeedView(this, 'SpeedView', {
        rawTable: this.rawTable,
        curatedTable: this.curatedTable,
        viewName: props.speedViewName,
        eventFields: { id: fields.id, type: fields.type, time: fields.time },
        lookback: props.speedViewLookback,
        dedupWindow: p.dedupWindow,
      });
    }
    if (p.rawRetentionDays !== undefined) {
      // Only a bucket of this app takes a lifecycle rule (resolveProps checked it is one).
      (raw.bucket as s3.Bucket).addLifecycleRule({
        id: `raw-retention-${p.datasetName}`,
        prefix: this.rawTable.prefix,
        expiration: Duration.days(p.rawRetentionDays),
        noncurrentVersionExpiration: Duration.days(1),
      });
    }
    const contract = this.contract(p.expectedInterval);
    this.pipelineMetrics = contract.pipelineMetrics;
    this.freshness = contract.freshness;
    this.deadLetterQueues = contract.deadLetterQueues;
    this.quarantines = contract.quarantines;
    this.pipelineAlarms = contract.pipelineAlarms;
    this.failureEvents = contract.failureEvents;
    this.logGroups = [...lambdaLogGroups, this.deliveryLogGroup];
    this.acknowledgeNistFindings(p.parallelizationFactor);
  }

  /** Metrics, freshness, dead-letter queues, quarantine, alarms and failure events of the pipeline contract. */
  private contract(expectedInterval: Duration) {
    const period = Duration.minutes(5);
    const own = (metricName: string, label: string) => this.metric(metricName, { period, label });
    const firehoseMetric = (metricName: string, statistic: string, label: string) => new cloudwatch.Metric({
      namespace: 'AWS/Firehose', metricName, dimensionsMap: { DeliveryStreamName: this.deliveryStream.ref }, statistic, period, label,
    });
    const delivered = firehoseMetric('DeliveryToS3.Records', 'Sum', 'Records delivered to S3');
    const mergeMetrics = [
      { label: 'Rows merged into curated', metric: this.merge.metricRowsMerged() },
      { label: 'Curated table commits', metric: this.merge.metricTableCommits() },
      { label: 'Merge run time (s)', metric: this.merge.metricRunTime() },
    ];
    let pipelineMetrics: PipelineMetrics;
    let deadLetterQueues: sqs.IQueue[] = [];
    let quarantines: QuarantineLocation[] = [];
    let pipelineAlarms: cloudwatch.IAlarm[] = [];
    if (this.dedupFunction && this.eventSourceDeadLetterQueue) {
      const received = own('RecordsReceived', 'Received');
      const duplicates = own('RecordsDuplicate', 'Duplicates');
      const quarantined = own('RecordsQuarantined', 'Quarantined');
      const forwardFailures = own('ForwardFailures', 'Forward failures');
      const claimFailures = own('ClaimFailures', 'Claim failures');
      const iteratorAge = this.dedupFunction.metric('IteratorAge', { statistic: 'Maximum', period });
      pipelineMetrics = {
        throughput: received,
        errors: new cloudwatch.MathExpression({
          expression: 'FILL(ff, 0) + FILL(cf, 0) + FILL(le, 0)',
          usingMetrics: { ff: forwardFailures, cf: claimFailures, le: this.dedupFunction.metricErrors({ period, statistic: 'Sum' }) },
          period,
          label: 'Forward, claim and function errors',
        }),
        lagMillis: iteratorAge,
        additional: [
          { label: 'New', metric: own('RecordsNew', 'New') },
          { label: 'Duplicates', metric: duplicates },
          {
            label: 'Duplicate ratio (%)',
            metric: new cloudwatch.MathExpression({
              expression: 'IF(rc > 0, 100 * FILL(dp, 0) / rc, 0)', usingMetrics: { dp: duplicates, rc: received }, period, label: 'Duplicate ratio (%)',
            }),
          },
          { label: 'Quarantined', metric: quarantined },
          { label: 'Forward failures', metric: forwardFailures },
          { label: 'Delivered to S3', metric: delivered },
          { label: 'Delivery freshness (s)', metric: firehoseMetric('DeliveryToS3.DataFreshness', 'Maximum', 'Delivery freshness') },
          ...mergeMetrics,
        ],
      };
      if (this.kafkaBinding) {
        const offsetLag = this.metricOffsetLag();
        pipelineMetrics.additional!.push({ label: 'Kafka offset lag (records behind the topic)', metric: offsetLag });
        pipelineAlarms.push(new cloudwatch.Alarm(this, 'OffsetLagAlarm', {
          metric: offsetLag,
          threshold: this.kafkaBinding.offsetLagAlarmThreshold,
          evaluationPeriods: 3,
          alarmDescription: `${this.pipelineName}: the dedup Lambda is more than ${this.kafkaBinding.offsetLagAlarmThreshold} records behind the Kafka topic for 15 minutes`,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }));
      }
      deadLetterQueues = [this.eventSourceDeadLetterQueue];
      quarantines = [{ bucket: this.lake.raw.bucket, prefix: this.quarantinePrefix, count: quarantined }];
      pipelineAlarms = [
        ...pipelineAlarms,
        new cloudwatch.Alarm(this, 'IteratorAgeAlarm', {
          metric: iteratorAge,
          threshold: Duration.minutes(15).toMilliseconds(),
          evaluationPeriods: 3,
          alarmDescription: `${this.pipelineName}: the dedup Lambda is more than 15 minutes behind the stream`,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        new cloudwatch.Alarm(this, 'OnFailureAlarm', {
          metric: this.eventSourceDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          alarmDescription: `${this.pipelineName}: a batch exhausted its retries; its pointer is in the on-failure queue`,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      ];
    } else {
      const lag = firehoseMetric('DataReadFromKinesisStream.Records', 'Sum', 'Records read from Kinesis');
      pipelineMetrics = {
        throughput: lag,
        errors: firehoseMetric('ThrottledGetRecords', 'Sum', 'Throttled GetRecords'),
        lagMillis: firehoseMetric('KinesisMillisBehindLatest', 'Maximum', 'Milliseconds behind the stream'),
        additional: [{ label: 'Delivered to S3', metric: delivered }, ...mergeMetrics],
      };
    }
    // Freshness is measured where people query: new snapshots of the curated table.
    const freshness: FreshnessSignal[] = [{
      dataset: `${this.lake.curated.databaseName}.${this.curatedTable.tableName}`,
      arrivals: this.merge.metricTableCommits({ dimensionsMap: { Table: this.curatedTable.tableName } }),
      expectedInterval,
      ...this.merge.qualitySignals(this.curatedTable.tableName),
    }];
    return {
      pipelineMetrics,
      freshness,
      deadLetterQueues: [...deadLetterQueues, this.merge.scheduleDeadLetterQueue!],
      // The merge's own quarantine (raw lines without an id or type), whatever feeds the raw zone.
      quarantines: [...quarantines, { bucket: this.lake.raw.bucket, prefix: this.mergeQuarantinePrefix, count: this.merge.metricQuarantined() }],
      pipelineAlarms: [
        ...pipelineAlarms, this.merge.scheduleDeadLetterAlarm!, ...(this.merge.auditFailureAlarm ? [this.merge.auditFailureAlarm] : []),
      ],
      failureEvents: [this.merge.failureEvent],
    };
  }

  /** NIST 800-53 R5 findings on resources this construct creates, each with its reason. */
  private acknowledgeNistFindings(parallelizationFactor: number): void {
    acknowledgeInlinePolicies(this, 'StreamingDedupIngestion');
    const calls = 'Kinesis, DynamoDB, Firehose, S3 and KMS';
    if (this.dedupFunction) {
      suppressNag(this.dedupFunction, [
        {
          id: 'NIST.800.53.R5-LambdaDLQ',
          reason: NagReasons.synchronousLambda('The dedup function', 'its Kinesis event source mapping')
            + ' Batches that exhaust their retries go to the mapping\'s on-failure queue (eventSourceDeadLetterQueue), which has an alarm.',
        },
        { id: 'NIST.800.53.R5-LambdaConcurrency', reason: NagReasons.noReservedConcurrency('The dedup function', `the stream's shards × parallelizationFactor (${parallelizationFactor})`) },
        { id: 'NIST.800.53.R5-LambdaInsideVPC', reason: NagReasons.noVpc('The dedup function', calls) },
      ]);
    }
    suppressNag(this.replayFunction, [
      {
        id: 'NIST.800.53.R5-LambdaDLQ',
        reason: 'The replay function is an operator command, run with `aws lambda invoke` (RequestResponse, the CLI default; '
          + 'docs/streaming-dedup-ingestion.md) so the operator sees its answer; a failed replay loses nothing: the raw events stay in S3 and it can be run again.',
      },
      { id: 'NIST.800.53.R5-LambdaInsideVPC', reason: NagReasons.noVpc('The replay function', calls) },
      {
        id: 'NIST.800.53.R5-LambdaConcurrency',
        reason: NagReasons.noReservedConcurrency('The replay function', 'the operators who invoke it (a replay is idempotent per replayId, and a long range is a loop of synchronous calls with continueAfter)'),
      },
    ]);
    if (this.dedupTable) {
      suppressNag(this.dedupTable, [
        {
          id: 'NIST.800.53.R5-DynamoDBInBackupPlan',
          reason: 'The dedup table holds only claims of event ids that expire after the dedup window (TTL); point-in-time recovery is on. '
            + 'Losing it lets duplicates of that window through, which the curated merge removes by event id. Add it to an AWS Backup plan by tag if your policy wants one.',
        },
        {
          id: 'NIST.800.53.R5-DynamoDBAutoScalingEnabled',
          reason: 'In provisioned mode the write capacity auto scales (dedupCapacity); the function never reads the table '
            + '(a conditional PutItem consumes write capacity only), so read capacity stays at its minimum.',
        },
      ]);
    }
    for (const alarm of this.pipelineAlarms) {
      suppressNag(alarm, [{ id: 'NIST.800.53.R5-CloudWatchAlarmAction', reason: NagReasons.alarmWithoutAction(alarm.node.id) }]);
    }
  }

  /**
   * Lets a producer put events on the stream: PutRecord(s) and the shard listing a producer
   * library needs on this stream, and a data key of the stream's key. Explicit actions only.
   * @param grantee the principal that gets the access
   */
  public grantPut(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['kinesis:PutRecord', 'kinesis:PutRecords', 'kinesis:ListShards', 'kinesis:DescribeStreamSummary'],
      resourceArns: [this.stream.streamArn],
    });
    const key = this.stream.encryptionKey;
    return key ? grant.combine(key.grant(grantee, 'kms:GenerateDataKey')) : grant;
  }

  /**
   * Lambda's `OffsetLag` of the Kafka event source: how many records the dedup function's consumer
   * group is behind the topic (maximum over the period; `AWS/Lambda`, dimension `FunctionName`).
   * Throws when the pipeline has no Kafka source.
   */
  public metricOffsetLag(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    if (!this.kafkaSource || !this.dedupFunction) {
      throw propError(NAME, 'kafka', 'is not set, so there is no offset lag to measure', 'give a KafkaSource, or use the Kinesis iterator age (pipelineMetrics.lagMillis)');
    }
    return this.dedupFunction.metric('OffsetLag', { statistic: 'Maximum', period: Duration.minutes(5), label: 'Kafka offset lag (records)', ...props });
  }

  /**
   * Lets a principal invoke the replay function.
   * @param grantee the principal that starts replays
   */
  public grantReplay(grantee: iam.IGrantable): iam.Grant {
    return this.replayFunction.grantInvoke(grantee);
  }

  /**
   * A metric the dedup handler publishes: namespace `CdkLakehouse/Streaming`, dimension
   * `Pipeline` (the pipeline name), the sum over 5 minutes unless `props` says otherwise.
   * @param metricName the handler's metric name, e.g. `RecordsNew`
   * @param props overrides of the statistic, period, label...
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { Pipeline: this.pipelineName }, statistic: 'Sum', period: Duration.minutes(5), ...props,
    });
  }

  /**
   * Records the dedup handler received from the stream (duplicates and malformed ones included).
   * @param props overrides of the statistic, period, label...
   */
  public metricRecordsReceived(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('RecordsReceived', { label: 'Records received', ...props });
  }

  /**
   * New records: claimed for the first time and forwarded to Firehose.
   * @param props overrides of the statistic, period, label...
   */
  public metricRecordsNew(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('RecordsNew', { label: 'New records', ...props });
  }

  /**
   * Duplicates the dedup handler dropped (their event id was claimed within the dedup window).
   * @param props overrides of the statistic, period, label...
   */
  public metricRecordsDuplicate(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('RecordsDuplicate', { label: 'Duplicates dropped', ...props });
  }

  /**
   * Malformed records the dedup handler put in the quarantine.
   * @param props overrides of the statistic, period, label...
   */
  public metricRecordsQuarantined(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('RecordsQuarantined', { label: 'Records quarantined', ...props });
  }

  /**
   * Records Firehose refused after every retry (the batch fails and is retried by Lambda).
   * @param props overrides of the statistic, period, label...
   */
  public metricForwardFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('ForwardFailures', { label: 'Forward failures', ...props });
  }

  /**
   * Claims DynamoDB refused after every retry (the batch fails and is retried by Lambda).
   * @param props overrides of the statistic, period, label...
   */
  public metricClaimFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('ClaimFailures', { label: 'Claim failures', ...props });
  }

}


/** A Lambda role that writes its own log group, and nothing else yet. */
function lambdaRole(scope: Construct, id: string, logGroup: logs.LogGroup, description: string): iam.Role {
  const role = new iam.Role(scope, id, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description });
  logGroup.grantWrite(role);
  return role;
}

function rawColumns(fields: Required<ResolvedFields>, extra: Column[]): Column[] {
  const columns: Column[] = [];
  const partitionKeys = new Set(['event_type', 'event_subtype', 'year', 'month', 'day']);
  for (const field of [fields.id, fields.type, fields.subtype, fields.time]) {
    if (field.includes('.')) continue; // nested: reachable through a struct column of rawColumns
    const name = field.toLowerCase(); // the JSON SerDe matches keys case-insensitively
    if (partitionKeys.has(name) || columns.some((c) => c.name === name)) continue;
    columns.push({ name, type: 'string' });
  }
  for (const column of extra) {
    if (!columns.some((c) => c.name === column.name)) columns.push(column);
  }
  return columns;
}

interface ResolvedFields {
  id: string;
  type: string;
  subtype: string;
  time: string;
}

/** Every default and every validation of the props, in one place. */
function resolveProps(scope: Construct, props: StreamingDedupIngestionProps, id: string) {
  // The dataset decides where raw data lives (its prefix): a default from the construct id, which
  // the user chose, never from the construct path or the stack, so moving the construct keeps it.
  const datasetName = props.datasetName ?? sanitizeName(GLUE_NAME_RULE, [id]);
  validateGlueName(NAME, 'datasetName', datasetName);
  const pipelineName = props.pipelineName ?? defaultPipelineName(scope);
  validatePipelineName(NAME, pipelineName);
  const fields: ResolvedFields = {
    id: props.eventFields?.id ?? 'event_id',
    type: props.eventFields?.type ?? 'event_type',
    subtype: props.eventFields?.subtype ?? 'event_subtype',
    time: props.eventFields?.time ?? 'event_time',
  };
  for (const [name, value] of Object.entries(fields)) {
    if (!FIELD_PATH.test(value)) {
      throw propError(NAME, `eventFields.${name}`, `"${value}" is not a JSON field path`, 'use a field name such as "event_id", or dots for nested fields ("meta.id")');
    }
  }
  if (new Set(Object.values(fields)).size !== 4) {
    throw propError(NAME, 'eventFields', 'two roles share one field', 'give the id, type, subtype and time four different fields');
  }
  (props.eventTypes ?? []).forEach((t, i) => {
    if (!PARTITION_VALUE.test(t)) {
      throw propError(NAME, `eventTypes[${i}]`, `"${t}" is not a partition value`, 'use letters, digits, "_", "." or "-" (what the handler accepts as a type)');
    }
  });

  if (props.kafka) {
    if (props.stream) throw propError(NAME, 'kafka', 'and "stream" are both given', 'give one source: remove "stream" (replays use the stream the construct creates), or remove "kafka"');
    if (props.deduplicate === false) {
      throw propError(NAME, 'deduplicate', 'is false, but a Kafka source is read by the dedup Lambda', 'remove deduplicate: false, or remove "kafka"');
    }
    const kinesisOnly = ['parallelizationFactor', 'retryAttempts', 'maxRecordAge'] as const;
    const given = kinesisOnly.filter((s) => props[s] !== undefined);
    if (given.length > 0) {
      throw propError(NAME, given[0], 'configures the Kinesis event source; with a Kafka source it would apply to replays only and mislead',
        `remove "${given[0]}": the Kafka event source retries a failed batch until it succeeds or its records leave the topic (docs/streaming-dedup-ingestion.md, Kafka)`);
    }
  }
  const created = props.stream === undefined;
  const streamSettings = ['streamMode', 'shardCount', 'streamRetention', 'streamEncryptionKey'] as const;
  if (!created) {
    const given = streamSettings.filter((s) => props[s] !== undefined);
    if (given.length > 0) {
      throw propError(NAME, given[0], 'it configures a stream the construct creates, but "stream" brings an existing one', `remove "${given[0]}", or remove "stream"`);
    }
  }
  const streamMode = props.streamMode ?? kinesis.StreamMode.ON_DEMAND;
  const shardCount = props.shardCount ?? 1;
  if (props.shardCount !== undefined && streamMode !== kinesis.StreamMode.PROVISIONED) {
    throw propError(NAME, 'shardCount', 'an on-demand stream has no shard count', 'set streamMode: StreamMode.PROVISIONED, or remove shardCount');
  }
  integerIn('shardCount', shardCount, 1, 10_000);
  const streamRetention = props.streamRetention ?? Duration.hours(24);
  hoursIn('streamRetention', streamRetention, 24, 8760);

  const deduplicate = props.deduplicate ?? true;
  const dedupOnly = ['dedupWindow', 'dedupCapacity', 'batchSize', 'maxBatchingWindow', 'parallelizationFactor', 'retryAttempts', 'maxRecordAge', 'dedupMemorySize'] as const;
  if (!deduplicate) {
    const given = dedupOnly.filter((s) => props[s] !== undefined);
    if (given.length > 0) {
      throw propError(NAME, given[0], 'it configures the dedup Lambda, but "deduplicate" is false', `remove "${given[0]}", or set deduplicate: true`);
    }
  }
  const dedupWindow = props.dedupWindow ?? Duration.hours(24);
  secondsIn('dedupWindow', dedupWindow, 60, 365 * 86400);
  const dedupCapacity = props.dedupCapacity ?? DedupCapacity.onDemand();
  if (dedupCapacity.provisionedOptions) {
    const o = dedupCapacity.provisionedOptions;
    integerIn('dedupCapacity.minWriteCapacity', o.minWriteCapacity, 1, 40_000);
    integerIn('dedupCapacity.maxWriteCapacity', o.maxWriteCapacity, o.minWriteCapacity, 40_000);
    integerIn('dedupCapacity.targetUtilizationPercent', o.targetUtilizationPercent ?? 70, 20, 90);
    integerIn('dedupCapacity.readCapacity', o.readCapacity ?? 1, 1, 40_000);
  }
  const batchSize = props.batchSize ?? 500;
  integerIn('batchSize', batchSize, 1, 10_000);
  const maxBatchingWindow = props.maxBatchingWindow ?? Duration.seconds(1);
  secondsIn('maxBatchingWindow', maxBatchingWindow, 0, 300);
  const parallelizationFactor = props.parallelizationFactor ?? 1;
  integerIn('parallelizationFactor', parallelizationFactor, 1, 10);
  const retryAttempts = props.retryAttempts ?? 10;
  integerIn('retryAttempts', retryAttempts, 0, 10_000);
  const maxRecordAge = props.maxRecordAge ?? Duration.hours(6);
  secondsIn('maxRecordAge', maxRecordAge, 60, 7 * 86400);
  if (created && maxRecordAge.toSeconds() >= streamRetention.toSeconds()) {
    throw propError(NAME, 'maxRecordAge', `${maxRecordAge.toHumanString()} is not below the stream retention (${streamRetention.toHumanString()})`,
      'keep maxRecordAge below streamRetention so a record named in the on-failure queue can still be read');
  }
  const dedupMemorySize = props.dedupMemorySize ?? 512;
  integerIn('dedupMemorySize', dedupMemorySize, 128, 10_240);

  const bufferInterval = props.bufferInterval ?? Duration.seconds(300);
  secondsIn('bufferInterval', bufferInterval, 0, 900);
  const bufferSize = props.bufferSize ?? Size.mebibytes(128);
  const mib = bufferSize.toMebibytes({ rounding: SizeRoundingBehavior.NONE });
  if (!Number.isInteger(mib) || mib < 64 || mib > 128) {
    throw propError(NAME, 'bufferSize', `${mib} MiB is outside 64-128 MiB`, 'Firehose dynamic partitioning needs a buffer of 64 to 128 MiB: use Size.mebibytes(64..128)');
  }

  const mergeSchedule = props.mergeSchedule ?? scheduler.ScheduleExpression.cron({ minute: '15' });
  validateScheduleExpression(NAME, 'mergeSchedule', mergeSchedule);
  const mergeNumberOfWorkers = props.mergeNumberOfWorkers ?? 2;
  integerIn('mergeNumberOfWorkers', mergeNumberOfWorkers, 2, 299);
  const mergeFlex = props.mergeFlex ?? true;
  const mergeTimeout = props.mergeTimeout ?? Duration.hours(2);
  validateMergeSettings(NAME, MERGE_SETTING_NAMES, {
    workerType: props.mergeWorkerType, numberOfWorkers: mergeNumberOfWorkers, timeout: mergeTimeout, flex: mergeFlex,
  });
  const mergeOverlap = props.mergeOverlap ?? Duration.minutes(30);
  secondsIn('mergeOverlap', mergeOverlap, 0, 7 * 86400);
  const replayMaxEvents = props.replayMaxEvents ?? 100_000;
  integerIn('replayMaxEvents', replayMaxEvents, 1, 10_000_000);
  const expectedInterval = props.expectedInterval ?? Duration.hours(1);
  validateFreshnessInterval(NAME, 'expectedInterval', expectedInterval);
  const qualityRules = props.qualityRules ?? [];
  renderQualityRules(NAME, [{ table: datasetName, prop: 'qualityRules', rules: qualityRules }]);
  const speedView = props.speedView ?? true;
  if (!speedView && (props.speedViewName !== undefined || props.speedViewLookback !== undefined)) {
    const given = props.speedViewName !== undefined ? 'speedViewName' : 'speedViewLookback';
    throw propError(NAME, given, 'it configures the speed view, but "speedView" is false', `remove "${given}", or set speedView: true`);
  }
  const rawRetentionDays = resolveRawRetention(NAME, props.rawRetention, mergeSchedule.expressionString, mergeOverlap, dedupWindow);
  if (rawRetentionDays !== undefined && !(props.lake.raw.bucket instanceof s3.Bucket)) {
    throw propError(NAME, 'rawRetention', 'the raw zone\'s bucket is imported, so this app cannot add a lifecycle rule to it',
      `remove rawRetention and have the bucket's owner add a lifecycle rule: prefix "${LakeLayout.dataPrefix(datasetName)}", `
      + `expiration ${rawRetentionDays} days, noncurrent versions 1 day`);
  }

  return {
    datasetName,
    pipelineName,
    fields,
    streamMode,
    shardCount,
    streamRetention,
    deduplicate,
    dedupWindow,
    dedupCapacity,
    batchSize,
    maxBatchingWindow,
    parallelizationFactor,
    retryAttempts,
    maxRecordAge,
    dedupMemorySize,
    bufferInterval,
    bufferSize: Size.mebibytes(mib),
    mergeSchedule,
    mergeFlex,
    mergeWorkerType: props.mergeWorkerType ?? 'G.1X',
    mergeNumberOfWorkers,
    mergeTimeout,
    mergeOverlap,
    replayMaxEvents,
    expectedInterval,
    removalPolicy: resolveRemovalPolicy(scope, props.removalPolicy),
    qualityRules,
    speedView,
    rawRetentionDays,
  };
}

function integerIn(prop: string, value: number, min: number, max: number): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw propError(NAME, prop, `${value} is not a whole number from ${min} to ${max}`, `give a whole number from ${min} to ${max}`);
  }
}

function secondsIn(prop: string, value: Duration, min: number, max: number): void {
  const seconds = value.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    throw propError(NAME, prop, `${value.toHumanString()} is not a whole number of seconds from ${min} to ${max}`, `give a duration from ${min} s to ${max} s`);
  }
}

function hoursIn(prop: string, value: Duration, min: number, max: number): void {
  const hours = value.toHours({ integral: false });
  if (!Number.isInteger(hours) || hours < min || hours > max) {
    throw propError(NAME, prop, `${value.toHumanString()} is not a whole number of hours from ${min} to ${max}`, `give Duration.hours(n) with ${min} <= n <= ${max}`);
  }
}
