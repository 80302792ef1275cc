import * as path from 'path';
import { Duration, Names, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ApiAuth } from './api-auth';
import { ApiPagination } from './api-pagination';
import { ApiEndpoint, ApiPullIngestionProps, WatermarkFormat } from './api-pull-ingestion-props';
import { apiPullWorkflow } from './api-pull-workflow';
import { PullerFunction } from './puller-function';
import { CONFIG_ENV, EndpointConfig, JSON_PATH, PullerConfig, WatermarkFormatConfig } from './runtime/config';
import { DEFAULT_NAMESPACE, METRIC_NAMES } from './runtime/metrics';
import { LakehouseDeployRules } from '../../core/deploy-rules';
import { FailureEvents } from '../../core/failure-events';
import { MAX_FRESHNESS_SECONDS, validateFreshnessInterval } from '../../core/freshness';
import { ILakehouse, LakeLayout } from '../../core/lake';
import { lakeLogGroup } from '../../core/log-encryption';
import { MergeJob } from '../../core/merge-job';
import { MERGE_SETTING_NAMES, validateMergeSettings } from '../../core/merge-job-settings';
import { acknowledgeInlinePolicies, acknowledgeScheduleRole, escapeRegex, NagReasons, suppressNag } from '../../core/nag';
import { defaultPipelineName, validatePipelineName } from '../../core/naming';
import { FreshnessSignal, IDataPipeline, LabeledMetric, PipelineKind, PipelineMetrics, QuarantineLocation } from '../../core/pipeline';
import { renderQualityRules } from '../../core/quality-rules-render';
import { resolveRemovalPolicy } from '../../core/removal';
import { parseRate, ScheduleDeadLetterQueue, validateScheduleExpression } from '../../core/schedule';
import { propError, validateGlueName } from '../../core/validation';
import { IcebergTable } from '../../lakehouse/iceberg-table';

const NAME = 'ApiPullIngestion';

/**
 * Pulls third-party HTTP GET endpoints into the lake on a schedule.
 *
 * Per endpoint, an EventBridge Scheduler schedule starts one shared Step Functions workflow:
 * **Pull** (a Lambda that walks the pages, streams each body into the raw zone unchanged and
 * writes a run manifest) → **Transform** (a Glue 5.0 Spark job that explodes the records,
 * flattens them and MERGEs them into a curated Iceberg table by record id) → **Commit** (the
 * endpoint's watermark moves to the end of the window) → **Succeeded**. Every step retries with
 * backoff; a failure is recorded under the lake's `_ops/` prefix, notified on SNS, and the run
 * can be started again with the same input: same keys, same rows, no gap.
 *
 * @example
 * declare const lake: LakehouseTier;
 * declare const secret: secretsmanager.ISecret;
 *
 * new ApiPullIngestion(this, 'Shop', {
 *   lake,
 *   pipelineName: 'shop',
 *   endpoints: [{
 *     name: 'orders',
 *     url: 'https://api.example.com/v1/orders',
 *     schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
 *     auth: ApiAuth.bearerToken(secret),
 *     pagination: ApiPagination.cursor({ cursorPath: '$.meta.next' }),
 *     recordsPath: '$.data',
 *     recordIdField: 'id',
 *     incremental: { sinceParameter: 'updated_since' },
 *   }],
 * });
 */
export class ApiPullIngestion extends Construct implements IDataPipeline {
  public readonly pipelineName: string;
  public readonly pipelineKind = PipelineKind.API_PULL;
  public readonly pipelineMetrics: PipelineMetrics;
  public readonly freshness: FreshnessSignal[];
  public readonly deadLetterQueues: sqs.IQueue[];
  public readonly quarantines: QuarantineLocation[];
  public readonly pipelineAlarms: cloudwatch.IAlarm[];
  public readonly failureEvents: events.EventPattern[];
  public readonly logGroups: logs.ILogGroup[];

  /** The lake the pipeline writes into. */
  public readonly lake: ILakehouse;
  /** The puller function (every endpoint). */
  public readonly puller: lambda.Function;
  /** Role of the puller. */
  public readonly pullerRole: iam.Role;
  /** Log group of the puller. */
  public readonly pullerLogGroup: logs.LogGroup;
  /** Watermarks, one item per endpoint (`pk` = `<pipelineName>#<endpoint>`). */
  public readonly watermarkTable: dynamodb.Table;
  /** The workflow: pull → transform → commit, with retries and a catch that records and notifies. */
  public readonly stateMachine: sfn.StateMachine;
  /** Log group of the workflow. */
  public readonly stateMachineLogGroup: logs.LogGroup;
  /** The transform: the Glue job the workflow runs, its role, key and merge metrics. */
  public readonly transform: MergeJob;
  /** The transform job (Glue 5.0, PySpark, Iceberg; `transform.job`). */
  public readonly transformJob: glue.CfnJob;
  /** Role of the transform job. */
  public readonly transformRole: iam.Role;
  /** Key of the job's security configuration. */
  public readonly jobEncryptionKey: kms.IKey;
  /** Topic told about failed (and, if asked, successful) runs. */
  public readonly notificationTopic: sns.ITopic;
  /** One schedule per endpoint, by endpoint name. */
  public readonly schedules: { [endpoint: string]: scheduler.Schedule };
  /** Where schedules put the invocations they could not deliver. */
  public readonly scheduleDeadLetterQueue: sqs.Queue;
  /** Curated tables registered up front (endpoints that declared `columns`), by endpoint name. */
  public readonly tables: { [endpoint: string]: IcebergTable };
  /** Alarm on failed, timed-out or aborted runs. */
  public readonly runFailureAlarm: cloudwatch.Alarm;
  /** Alarm on schedule invocations that reached the dead-letter queue. */
  public readonly scheduleDeadLetterAlarm: cloudwatch.Alarm;
  /** Prefix of the upload drop in the raw zone (`<pipelineName>/_uploads/`); undefined without one. */
  public readonly uploadsPrefix?: string;
  /** Schedule that merges the upload drop; undefined without one. */
  public readonly uploadSchedule?: scheduler.Schedule;
  /** Prefix of the pipeline's raw pages in the raw zone. */
  public readonly rawPrefix: string;

  constructor(scope: Construct, id: string, props: ApiPullIngestionProps) {
    super(scope, id);
    const resolved = resolveProps(this, props);
    LakehouseDeployRules._applyTo(this);
    const { lake, endpoints } = resolved;
    this.lake = lake;
    this.pipelineName = resolved.pipelineName;
    this.rawPrefix = LakeLayout.dataPrefix(this.pipelineName);
    this.uploadsPrefix = props.uploadDrop ? LakeLayout.dataPrefix(`${this.pipelineName}/_uploads`) : undefined;
    const removalPolicy = resolveRemovalPolicy(this, props.removalPolicy);
    const stack = Stack.of(this);

    // Watermarks.
    this.watermarkTable = new dynamodb.Table(this, 'Watermarks', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: lake.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
    });

    // Puller.
    // What all endpoints share goes into the function's environment; each endpoint's own
    // configuration is set by the workflow definition and passed in the event (no 4 KiB limit).
    const endpointConfigs = endpoints.map((ep) => endpointConfig(this.pipelineName, ep));
    const config: PullerConfig = {
      pipelineName: this.pipelineName,
      bucket: lake.raw.bucket.bucketName,
      watermarkTable: this.watermarkTable.tableName,
      metricsNamespace: DEFAULT_NAMESPACE,
      endpoints: {},
      uploadsPrefix: this.uploadsPrefix,
    };
    const configJson = stack.toJsonString(config);

    this.pullerLogGroup = lakeLogGroup(this, 'PullerLogs', { ...this.logKeys(props), retention: logs.RetentionDays.ONE_YEAR, removalPolicy });
    // An own role instead of AWSLambdaBasicExecutionRole: logs go to this log group only.
    this.pullerRole = new iam.Role(this, 'PullerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `ApiPullIngestion ${this.pipelineName}: puller`,
    });
    this.pullerRole.addToPolicy(new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [this.pullerLogGroup.logGroupArn],
    }));
    this.puller = new PullerFunction(this, 'Puller', {
      role: this.pullerRole,
      memorySize: props.pullerMemorySize ?? 512,
      timeout: props.pullerTimeout ?? Duration.minutes(15),
      description: `ApiPullIngestion ${this.pipelineName}: pulls pages into the raw zone`,
      logGroup: this.pullerLogGroup,
      tracing: lambda.Tracing.ACTIVE,
      environment: { [CONFIG_ENV]: configJson },
    });
    // Objects only (no Glue): pages and manifests under the pipeline's raw prefix, quarantined pages
    // (copied from raw, then deleted there) under its quarantine prefix.
    this.pullerRole.addToPolicy(new iam.PolicyStatement({
      actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: [
        lake.raw.bucket.arnForObjects(`${this.rawPrefix}*`),
        lake.raw.bucket.arnForObjects(`${LakeLayout.quarantinePrefix(this.pipelineName)}*`),
      ],
    }));
    lake.encryptionKey.grant(this.pullerRole, 'kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey');
    if (this.uploadsPrefix) {
      this.pullerRole.addToPolicy(new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [lake.raw.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${this.uploadsPrefix}*`] } },
      }));
    }
    this.watermarkTable.grant(this.puller, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    const secrets = new Map<string, ApiAuth>();
    for (const ep of endpoints) if (ep.auth?.secret) secrets.set(ep.auth.secret.node.path, ep.auth);
    for (const auth of secrets.values()) auth.secret!.grantRead(this.puller);

    // Transform.
    this.jobEncryptionKey = this.jobKey(props);
    // Started by the workflow (one run per endpoint run), not on a schedule of its own.
    this.transform = new MergeJob(this, 'TransformJob', {
      lake,
      pipelineName: this.pipelineName,
      scriptPath: path.join(__dirname, 'glue', 'api_pull_transform.py'),
      jobNamePrefix: `${this.pipelineName}-transform`,
      description: `ApiPullIngestion ${this.pipelineName}: raw pages → curated Iceberg (MERGE by record id)`,
      jobEncryptionKey: this.jobEncryptionKey,
      workerType: props.mergeWorkerType,
      numberOfWorkers: props.mergeNumberOfWorkers,
      timeout: props.mergeTimeout ?? Duration.hours(1),
      flex: props.mergeFlex,
      maxRetries: 0, // the workflow retries
      maxConcurrentRuns: Math.max(10, endpoints.length * 2),
      removalPolicy,
      qualityRules: endpoints.filter((ep) => (ep.qualityRules ?? []).length > 0).map((ep) => ({ table: ep.tableName, rules: ep.qualityRules! })),
      arguments: {
        '--database': lake.curated.databaseName,
        '--quarantine_url': lake.raw.s3Url(LakeLayout.quarantinePrefix(this.pipelineName)),
      },
    });
    lake.raw.grantRead(this.transform.role, this.rawPrefix);
    lake.raw.grantReadWrite(this.transform.role, LakeLayout.quarantinePrefix(this.pipelineName));
    for (const table of new Set(endpoints.map((e) => e.tableName))) {
      lake.curated.grantReadWrite(this.transform.role, LakeLayout.dataPrefix(table));
    }
    this.transformJob = this.transform.job;
    this.transformRole = this.transform.role;

    this.tables = {};
    for (const ep of endpoints) {
      if (ep.columns) {
        const table = new IcebergTable(this, `Table-${ep.name}`, { zone: lake.curated, tableName: ep.tableName, columns: ep.columns, removalPolicy });
        LakehouseDeployRules._nameOwner(table, this, NAME, 'endpoints[].tableName');
        this.tables[ep.name] = table;
        this.transformJob.node.addDependency(table);
      }
    }

    // Notifications.
    this.notificationTopic = props.notificationTopic ?? new sns.Topic(this, 'Notifications', {
      displayName: `ApiPullIngestion ${this.pipelineName}`,
      masterKey: lake.encryptionKey,
      enforceSSL: true,
    });

    // Workflow.
    const failuresPrefix = `${LakeLayout.opsPrefix('api-pull')}${this.pipelineName}/failures/`;
    this.stateMachineLogGroup = lakeLogGroup(this, 'WorkflowLogs', {
      ...this.logKeys(props),
      logGroupName: `/aws/vendedlogs/states/${this.pipelineName}-${Names.uniqueResourceName(this, { maxLength: 40 })}`,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy,
    });
    const definition = apiPullWorkflow(this, {
      pipelineName: this.pipelineName,
      puller: this.puller,
      transformJob: this.transformJob,
      rawBucket: lake.raw.bucket,
      notificationTopic: this.notificationTopic,
      failuresPrefix,
      notifyOnSuccess: props.notifyOnSuccess ?? false,
      uploads: this.uploadsPrefix !== undefined,
      endpoints: endpointConfigs,
    });
    this.stateMachine = new sfn.StateMachine(this, 'Workflow', {
      comment: `ApiPullIngestion ${this.pipelineName}: pull → land raw → transform to curated → commit watermark`,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: (props.pullerTimeout ?? Duration.minutes(15)).plus(props.mergeTimeout ?? Duration.hours(1)).plus(Duration.hours(1)),
      tracingEnabled: true,
      logs: { destination: this.stateMachineLogGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    lake.encryptionKey.grant(this.stateMachine, 'kms:GenerateDataKey', 'kms:Encrypt', 'kms:Decrypt');
    // A topic the user brings may have its own key: publishing to an SSE topic needs it.
    const topicEncryptionKey = this.notificationTopic.masterKey;
    if (topicEncryptionKey && topicEncryptionKey !== lake.encryptionKey) topicEncryptionKey.grant(this.stateMachine, 'kms:GenerateDataKey', 'kms:Decrypt');

    // Schedules.
    const deadLetter = new ScheduleDeadLetterQueue(this, 'ScheduleDlq', {
      encryptionKey: lake.encryptionKey,
      what: 'the workflow',
      owner: `ApiPullIngestion ${this.pipelineName}`,
      removalPolicy,
    });
    this.scheduleDeadLetterQueue = deadLetter.queue;
    this.scheduleDeadLetterAlarm = deadLetter.alarm;
    this.schedules = {};
    for (const ep of endpoints) {
      this.schedules[ep.name] = new scheduler.Schedule(this, `Schedule-${ep.name}`, {
        schedule: ep.schedule,
        description: `ApiPullIngestion ${this.pipelineName}: pull ${ep.name}`,
        target: deadLetter.target(new targets.StepFunctionsStartExecution(this.stateMachine, {
          input: scheduler.ScheduleTargetInput.fromObject({ endpoint: ep.name, scheduledTime: scheduler.ContextAttribute.scheduledTime }),
          ...deadLetter.targetOptions,
        })),
      });
    }

    if (props.uploadDrop) {
      this.uploadSchedule = new scheduler.Schedule(this, 'Schedule-uploads', {
        schedule: props.uploadDrop.schedule ?? scheduler.ScheduleExpression.rate(Duration.minutes(15)),
        description: `ApiPullIngestion ${this.pipelineName}: merge files of the upload drop`,
        target: deadLetter.target(new targets.StepFunctionsStartExecution(this.stateMachine, {
          input: scheduler.ScheduleTargetInput.fromObject({ mode: 'uploads' }),
          ...deadLetter.targetOptions,
        })),
      });
    }

    // The pipeline contract.
    const metric = (name: string, statistic: string, endpoint?: string) => this.metric(name, {
      statistic, dimensionsMap: endpoint ? { Pipeline: this.pipelineName, Endpoint: endpoint } : { Pipeline: this.pipelineName },
    });
    const errors = new cloudwatch.MathExpression({
      expression: 'failed + timedOut + aborted',
      usingMetrics: {
        failed: this.stateMachine.metricFailed({ statistic: 'Sum' }),
        timedOut: this.stateMachine.metricTimedOut({ statistic: 'Sum' }),
        aborted: this.stateMachine.metricAborted({ statistic: 'Sum' }),
      },
      label: 'Failed runs',
      period: Duration.minutes(5),
    });
    const additional: LabeledMetric[] = [
      { label: 'Runs started', metric: this.stateMachine.metricStarted({ statistic: 'Sum' }) },
      { label: 'Runs succeeded', metric: this.stateMachine.metricSucceeded({ statistic: 'Sum' }) },
      { label: 'Pages pulled', metric: this.metricPagesPulled() },
      { label: 'Bytes pulled', metric: this.metricBytesPulled() },
      { label: 'Pages quarantined', metric: this.metricPagesQuarantined() },
      { label: 'Watermarks advanced', metric: this.metricWatermarkAdvanced() },
      { label: 'Rows merged into curated', metric: this.transform.metricRowsMerged() },
      { label: 'Rows quarantined by the transform', metric: this.transform.metricQuarantined() },
      { label: 'Transform run time (s)', metric: this.transform.metricRunTime() },
    ];
    this.pipelineMetrics = {
      throughput: this.metricRecordsPulled(),
      errors,
      lagMillis: this.metricWatermarkAge(),
      additional,
    };
    // Freshness on the curated table's commits (what people query); tables shared by endpoints count once per commit.
    this.freshness = endpoints.map((ep) => ({
      dataset: ep.tableName,
      arrivals: this.transform.metricTableCommits({ dimensionsMap: { Table: ep.tableName } }),
      expectedInterval: ep.expectedInterval,
      ...this.transform.qualitySignals(ep.tableName),
    }));
    this.quarantines = endpoints.map((ep) => ({
      bucket: lake.raw.bucket,
      prefix: LakeLayout.quarantinePrefix(`${this.pipelineName}/${ep.name}`),
      count: metric(METRIC_NAMES.quarantined, 'Sum', ep.name),
    }));
    this.deadLetterQueues = [this.scheduleDeadLetterQueue];
    this.runFailureAlarm = new cloudwatch.Alarm(this, 'RunFailures', {
      alarmDescription: `ApiPullIngestion ${this.pipelineName}: a run failed, timed out or was aborted`,
      metric: errors,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.pipelineAlarms = [this.runFailureAlarm, this.scheduleDeadLetterAlarm];
    if (this.transform.auditFailureAlarm) this.pipelineAlarms.push(this.transform.auditFailureAlarm);
    this.failureEvents = [FailureEvents.stateMachine([this.stateMachine.stateMachineArn]), this.transform.failureEvent];
    this.logGroups = [this.pullerLogGroup, this.stateMachineLogGroup];

    this.suppressJustifiedFindings(failuresPrefix);
    this.acknowledgeNistFindings();
  }

  /**
   * Lets a principal start a run by hand: a Step Functions execution of the workflow, with the
   * input a schedule sends (`{ "endpoint": "<name>" }`, or `{ "mode": "uploads" }` for the upload drop).
   * @param grantee the principal that starts runs (an operator role, another workflow)
   */
  public grantStartRun(grantee: iam.IGrantable): iam.Grant {
    return this.stateMachine.grantStartExecution(grantee);
  }

  /**
   * A metric the puller publishes: namespace `CdkLakehouse/ApiPull`, dimension `Pipeline` (add
   * `Endpoint: '<name>'` through `dimensionsMap` for one endpoint), the sum over 5 minutes.
   * @param metricName the puller's metric name, e.g. `RecordsPulled`
   * @param props overrides of the dimensions, statistic, period, label...
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: DEFAULT_NAMESPACE, metricName, dimensionsMap: { Pipeline: this.pipelineName }, statistic: 'Sum', period: Duration.minutes(5), ...props,
    });
  }

  /**
   * Records pulled (the items of every page's records array).
   * @param props overrides of the dimensions, statistic, period, label...
   */
  public metricRecordsPulled(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC_NAMES.records, { label: 'Records pulled', ...props });
  }

  /**
   * Pages pulled and landed in the raw zone.
   * @param props overrides of the dimensions, statistic, period, label...
   */
  public metricPagesPulled(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC_NAMES.pages, { label: 'Pages pulled', ...props });
  }

  /**
   * Bytes of the pages pulled.
   * @param props overrides of the dimensions, statistic, period, label...
   */
  public metricBytesPulled(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC_NAMES.bytes, { label: 'Bytes pulled', ...props });
  }

  /**
   * Pages put in the quarantine (no records array where `recordsPath` points).
   * @param props overrides of the dimensions, statistic, period, label...
   */
  public metricPagesQuarantined(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC_NAMES.quarantined, { label: 'Pages quarantined', ...props });
  }

  /**
   * Watermarks committed (an incremental run landed and merged).
   * @param props overrides of the dimensions, statistic, period, label...
   */
  public metricWatermarkAdvanced(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC_NAMES.watermarkAdvanced, { label: 'Watermarks advanced', ...props });
  }

  /**
   * How far the committed watermark is behind the time of the run, in milliseconds (maximum).
   * @param props overrides of the dimensions, statistic, period, label...
   */
  public metricWatermarkAge(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC_NAMES.watermarkAge, { statistic: 'Maximum', label: 'Watermark age (ms)', ...props });
  }

  /** Log groups use `logEncryptionKey`, else the job key (created on first use, so the puller's group can have it too). */
  private logKeys(props: ApiPullIngestionProps) {
    return { userKey: props.logEncryptionKey, constructKey: this.jobKey(props), keyProp: 'logEncryptionKey' };
  }

  private jobKey(props: ApiPullIngestionProps): kms.IKey {
    return props.jobEncryptionKey ?? (this.node.tryFindChild('JobKey') as kms.Key | undefined) ?? new kms.Key(this, 'JobKey', {
      enableKeyRotation: true,
      description: `ApiPullIngestion ${this.pipelineName}: Glue job logs and bookmarks`,
      removalPolicy: resolveRemovalPolicy(this, props.removalPolicy),
    });
  }

  /** NIST 800-53 R5 findings on resources this construct creates, each with its reason. */
  private acknowledgeNistFindings() {
    acknowledgeInlinePolicies(this, 'ApiPullIngestion');
    for (const schedule of [...Object.values(this.schedules), ...(this.uploadSchedule ? [this.uploadSchedule] : [])]) {
      acknowledgeScheduleRole(schedule, `ApiPullIngestion ${this.pipelineName} schedule`);
    }
    suppressNag(this.puller, [
      { id: 'NIST.800.53.R5-LambdaDLQ', reason: NagReasons.synchronousLambda('The puller', 'the workflow (a Step Functions Task with retries; failures are recorded and alarmed)') },
      { id: 'NIST.800.53.R5-LambdaConcurrency', reason: NagReasons.noReservedConcurrency('The puller', 'the workflow executions the schedules start (one per endpoint and tick; uploads at most 2 at a time)') },
      {
        id: 'NIST.800.53.R5-LambdaInsideVPC',
        reason: 'The puller calls the third-party HTTPS endpoint and AWS APIs (S3, DynamoDB, Secrets Manager, KMS) only and accepts no inbound '
          + 'connection; a VPC would need a NAT gateway to reach the third-party API. The construct offers no `vpc` prop yet: teams that '
          + 'must pin egress IPs put the puller behind their own NAT (escape hatch on `puller`).',
      },
    ]);
    suppressNag(this.watermarkTable, [{
      id: 'NIST.800.53.R5-DynamoDBInBackupPlan',
      reason: 'The watermark table holds one cursor per endpoint; point-in-time recovery is on (35 days). Losing it re-pulls from the '
        + 'endpoint\'s start, which the curated merge de-duplicates by record id. Add it to an AWS Backup plan by tag if your policy wants one.',
    }]);
    for (const alarm of this.pipelineAlarms) {
      suppressNag(alarm, [{ id: 'NIST.800.53.R5-CloudWatchAlarmAction', reason: NagReasons.alarmWithoutAction(alarm.node.id) }]);
    }
  }

  private suppressJustifiedFindings(failuresPrefix: string) {
    const rawBucket = '/^Resource::<.*RawBucket[A-Za-z0-9]*\\.Arn>/';
    suppressNag(this.pullerRole.node.findChild('DefaultPolicy'), [
      {
        id: 'AwsSolutions-IAM5',
        reason: `The puller writes one object per page under the pipeline's own raw and quarantine prefixes (${this.rawPrefix}, `
          + `${LakeLayout.quarantinePrefix(this.pipelineName)}); page keys are only known at run time. X-Ray tracing needs "*".`,
        appliesTo: [
          `${rawBucket}${escapeRegex(this.rawPrefix)}\\*$/`,
          `${rawBucket}${escapeRegex(LakeLayout.quarantinePrefix(this.pipelineName))}\\*$/`,
          'Resource::*',
        ],
      },
    ]);
    const workflowPolicy = this.stateMachine.role.node.findChild('DefaultPolicy');
    suppressNag(workflowPolicy, [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'Step Functions invokes the puller by any version (<fn>:*); it records failures as one object per execution under '
          + `${failuresPrefix}; log delivery and X-Ray need "*" (AWS documents no narrower resource for them).`,
        appliesTo: [
          '/^Resource::<.*Puller[A-Za-z0-9]*\\.Arn>:\\*$/',
          `${rawBucket}${escapeRegex(failuresPrefix)}\\*$/`,
          'Resource::*',
        ],
      },
    ]);
  }
}

interface ResolvedEndpoint extends ApiEndpoint {
  readonly tableName: string;
  readonly recordsPath: string;
  readonly expectedInterval: Duration;
}

function resolveProps(scope: Construct, props: ApiPullIngestionProps): { lake: ILakehouse; pipelineName: string; endpoints: ResolvedEndpoint[] } {
  // The pipeline name decides where raw data lands and keys the metrics: a default from the
  // construct's path inside its stack, so moving the construct to another stack keeps it.
  const pipelineName = props.pipelineName ?? defaultPipelineName(scope);
  validatePipelineName(NAME, pipelineName);
  validateMergeSettings(NAME, MERGE_SETTING_NAMES, {
    workerType: props.mergeWorkerType, numberOfWorkers: props.mergeNumberOfWorkers, timeout: props.mergeTimeout, flex: props.mergeFlex,
  });
  if (!props.endpoints || props.endpoints.length === 0) {
    throw propError(NAME, 'endpoints', 'no endpoint is given', 'give at least one endpoint to pull');
  }
  const names = new Set<string>();
  const endpoints = props.endpoints.map((ep, i) => {
    const at = `endpoints[${i}]`;
    validateGlueName(NAME, `${at}.name`, ep.name);
    if (ep.name.length > 64) throw propError(NAME, `${at}.name`, `"${ep.name}" is longer than 64 characters`, 'use a shorter endpoint name');
    if (names.has(ep.name)) throw propError(NAME, `${at}.name`, `"${ep.name}" is used by another endpoint`, 'give every endpoint a unique name');
    names.add(ep.name);
    validateUrl(at, ep.url);
    validateScheduleExpression(NAME, `${at}.schedule`, ep.schedule);
    const tableName = ep.tableName ?? ep.name;
    validateGlueName(NAME, `${at}.tableName`, tableName);
    const recordsPath = ep.recordsPath ?? '$';
    if (!JSON_PATH.test(recordsPath)) {
      throw propError(NAME, `${at}.recordsPath`, `"${recordsPath}" is not a supported JSON path`, 'use "$" for a page that is an array, or "$.key" / "$.key.subkey" for an array inside an object');
    }
    if (!ep.recordIdField || !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(ep.recordIdField)) {
      throw propError(NAME, `${at}.recordIdField`, `"${ep.recordIdField ?? ''}" is not a field name`, 'give the field that identifies a record, e.g. "id" or "meta.id" for a nested field');
    }
    const pagination = (ep.pagination ?? ApiPagination.none())._config();
    if (pagination.kind === 'cursor' && !JSON_PATH.test(pagination.cursorPath)) {
      throw propError(NAME, `${at}.pagination`, `cursor path "${pagination.cursorPath}" is not a supported JSON path`, 'use a path such as "$.meta.next_cursor"');
    }
    if (pagination.kind === 'pageNumber' && (!Number.isInteger(pagination.startAt) || (pagination.pageSize !== undefined && !(Number.isInteger(pagination.pageSize) && pagination.pageSize >= 1)))) {
      throw propError(NAME, `${at}.pagination`, 'startAt and pageSize must be whole numbers (pageSize at least 1)', 'fix the values given to ApiPagination.pageNumber()');
    }
    if (pagination.kind === 'offset' && !(Number.isInteger(pagination.limit) && pagination.limit >= 1)) {
      throw propError(NAME, `${at}.pagination`, `limit ${pagination.limit} is not a whole number >= 1`, 'give ApiPagination.offset() a limit of at least 1');
    }
    const maxPages = ep.maxPages ?? 1000;
    if (!Number.isInteger(maxPages) || maxPages < 1) {
      throw propError(NAME, `${at}.maxPages`, `${maxPages} is not a whole number >= 1`, 'give the most pages one run may pull, e.g. 1000');
    }
    const maxAttempts = ep.maxAttempts ?? 5;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 20) {
      throw propError(NAME, `${at}.maxAttempts`, `${maxAttempts} is not a whole number between 1 and 20`, 'give the attempts per page, e.g. 5');
    }
    if (ep.incremental) {
      if (!/^[A-Za-z0-9_.\-[\]]+$/.test(ep.incremental.sinceParameter ?? '')) {
        throw propError(NAME, `${at}.incremental.sinceParameter`, `"${ep.incremental.sinceParameter}" is not a query parameter name`, 'give the parameter the API reads the window start from, e.g. "since"');
      }
      if (ep.incremental.initialWatermark !== undefined && Number.isNaN(Date.parse(ep.incremental.initialWatermark))) {
        throw propError(NAME, `${at}.incremental.initialWatermark`, `"${ep.incremental.initialWatermark}" is not an ISO-8601 instant`, 'use e.g. "2024-01-01T00:00:00Z"');
      }
    }
    for (const [key, value] of Object.entries(ep.headers ?? {})) {
      if (/^(authorization|proxy-authorization|cookie)$/i.test(key) && !Token.isUnresolved(value)) {
        throw propError(NAME, `${at}.headers`, `the "${key}" header would put a credential into the template`, 'keep credentials in a secret and use "auth" (ApiAuth.bearerToken, ApiAuth.basic...)');
      }
    }
    if (ep.expectedInterval !== undefined) validateFreshnessInterval(NAME, `${at}.expectedInterval`, ep.expectedInterval);
    return { ...ep, tableName, recordsPath, expectedInterval: ep.expectedInterval ?? defaultInterval(ep.schedule) };
  });
  // Rules are keyed by curated table: endpoints that share a table declare its rules once.
  renderQualityRules(NAME, endpoints.map((ep, i) => ({ table: ep.tableName, prop: `endpoints[${i}].qualityRules`, rules: ep.qualityRules ?? [] })));
  return { lake: props.lake, pipelineName, endpoints };
}

function validateUrl(at: string, url: string) {
  if (Token.isUnresolved(url)) return;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw propError(NAME, `${at}.url`, `"${url}" is not a URL`, 'give an absolute https:// URL');
  }
  if (parsed.protocol !== 'https:') {
    throw propError(NAME, `${at}.url`, `"${url}" is not https`, 'use the https:// URL of the API (credentials and data must not travel in clear text)');
  }
  if (parsed.username || parsed.password) {
    throw propError(NAME, `${at}.url`, 'the URL carries credentials', 'move them to a secret and use "auth"');
  }
}

/**
 * Twice the schedule's rate (at least 10 minutes), at most the 7 days a freshness alarm can
 * watch; a cron that names days of the week or month runs about weekly: 7 days; other schedules
 * (daily or more often, one-time) one day.
 */
function defaultInterval(schedule: scheduler.ScheduleExpression): Duration {
  const text = schedule.expressionString;
  const rate = parseRate(text);
  if (!rate) {
    const cron = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$/.exec(text);
    const wildcard = (field: string) => field === '*' || field === '?';
    return cron && (!wildcard(cron[3]) || !wildcard(cron[5])) ? Duration.days(MAX_FRESHNESS_SECONDS / 86400) : Duration.days(1);
  }
  const seconds = Math.min(Math.max(rate.count * 2 * rate.unitSeconds, 600), MAX_FRESHNESS_SECONDS);
  if (seconds % 86400 === 0) return Duration.days(seconds / 86400);
  return seconds % 3600 === 0 ? Duration.hours(seconds / 3600) : Duration.minutes(seconds / 60);
}

function endpointConfig(pipelineName: string, ep: ResolvedEndpoint): EndpointConfig {
  const dataset = `${pipelineName}/${ep.name}`;
  return {
    name: ep.name,
    url: ep.url,
    query: ep.queryParameters ?? {},
    headers: ep.headers ?? {},
    auth: (ep.auth ?? ApiAuth.none())._config(),
    pagination: (ep.pagination ?? ApiPagination.none())._config(),
    maxPages: ep.maxPages ?? 1000,
    recordsPath: ep.recordsPath,
    recordIdField: ep.recordIdField,
    tableName: ep.tableName,
    incremental: ep.incremental ? {
      sinceParameter: ep.incremental.sinceParameter,
      untilParameter: ep.incremental.untilParameter,
      initialWatermark: ep.incremental.initialWatermark ?? '1970-01-01T00:00:00Z',
      format: (ep.incremental.format ?? WatermarkFormat.ISO_8601) as string as WatermarkFormatConfig,
    } : undefined,
    rawPrefix: LakeLayout.dataPrefix(dataset),
    quarantinePrefix: LakeLayout.quarantinePrefix(dataset),
    requestTimeoutMs: (ep.requestTimeout ?? Duration.seconds(30)).toMilliseconds(),
    maxAttempts: ep.maxAttempts ?? 5,
    maxRetryAfterSeconds: (ep.maxRetryAfter ?? Duration.minutes(2)).toSeconds(),
  };
}

