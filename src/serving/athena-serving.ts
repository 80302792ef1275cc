import { Duration, Names, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  AthenaEngineVersion, AthenaServingProps, IcebergMaintenanceOptions, NamedQueryOptions, QueryAccess, ScheduledQueryOptions,
} from './athena-serving-props';
import { IcebergMaintenance, IQueryServing, ScheduledQuery, ScheduledWorkflow } from './scheduled-query';
import { MIN_BYTES_SCANNED_CUTOFF, normalizePrefix, validateSql, validateWorkGroupName } from './validation';
import { LakehouseDeployRules } from '../core/deploy-rules';
import { attachedPolicyOf, granteeForStatementsIn } from '../core/grants';
import { ILakehouse } from '../core/lake';
import { lakeLogGroup } from '../core/log-encryption';
import { acknowledgeInlinePolicies, NagReasons, suppressNag } from '../core/nag';
import {
  FreshnessSignal, IDataPipeline, LabeledMetric, PipelineKind, PipelineMetrics, QuarantineLocation,
} from '../core/pipeline';
import { resolveRemovalPolicy } from '../core/removal';
import { propError, validateGlueName, wholeDays } from '../core/validation';
import { LakehouseTier } from '../lakehouse/lakehouse-tier';

// What one person (or workflow) needs to run queries in the workgroup and read their results.
// Explicit actions only; each statement is scoped to the workgroup, the catalog or the bucket.
const ATHENA_WORKGROUP_ACTIONS = [
  'athena:StartQueryExecution',
  'athena:StopQueryExecution',
  'athena:GetQueryExecution',
  'athena:GetQueryResults',
  'athena:GetQueryResultsStream', // the JDBC/ODBC drivers stream results
  'athena:GetQueryRuntimeStatistics',
  'athena:BatchGetQueryExecution',
  'athena:ListQueryExecutions',
  'athena:GetWorkGroup',
  'athena:GetNamedQuery',
  'athena:BatchGetNamedQuery',
  'athena:ListNamedQueries',
];
const ATHENA_CATALOG_ACTIONS = [
  'athena:GetDataCatalog',
  'athena:ListDatabases',
  'athena:GetDatabase',
  'athena:ListTableMetadata',
  'athena:GetTableMetadata',
];
const RESULTS_BUCKET_ACTIONS = ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'];
const RESULTS_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];
const RESULTS_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];

/**
 * SQL over the lake for the people who use it: one Athena workgroup (engine version 3, enforced
 * settings, results encrypted with the lake's key in a results bucket whose results expire, a
 * per-query scan limit, CloudWatch metrics), one `grantQuery` call that lets a role query it,
 * saved queries, scheduled reports (EventBridge Scheduler → Step Functions → Athena → S3 →
 * SNS) and scheduled Iceberg maintenance.
 *
 * One `AthenaServing` is one workgroup: make one per team (each with its own scan limit,
 * results, reports and grants) rather than one construct with many workgroups.
 *
 * It implements the pipeline contract for its scheduled queries (runs, failures, duration), so
 * `PipelineObservability` can watch it.
 *
 * @example
 * declare const lake: LakehouseTier;
 * declare const analysts: iam.IRole;
 *
 * const serving = new AthenaServing(this, 'Analysts', { lake, workGroupName: 'analysts' });
 * serving.grantQuery(analysts, { zones: [lake.curated] });
 * serving.addScheduledQuery('DailyRevenue', {
 *   queryName: 'daily-revenue',
 *   sql: 'SELECT day, sum(amount) AS revenue FROM orders GROUP BY day',
 *   schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '6' }),
 * });
 */
export class AthenaServing extends Construct implements IDataPipeline, IQueryServing {
  /** The lake this workgroup queries. */
  public readonly lake: ILakehouse;
  /** The Athena workgroup (escape hatch). */
  public readonly workGroup: athena.CfnWorkGroup;
  /** Name of the workgroup. */
  public readonly workGroupName: string;
  /** ARN of the workgroup. */
  public readonly workGroupArn: string;
  /** Bucket of query results and reports. */
  public readonly resultsBucket: s3.IBucket;
  /** Key encrypting query results and reports. */
  public readonly resultsEncryptionKey: kms.IKey;
  /** Prefix of query results in the results bucket (ends with `/`). */
  public readonly resultsPrefix: string;
  /** Prefix of reports in the results bucket (ends with `/`). */
  public readonly reportsPrefix: string;
  /** Database saved and scheduled queries run in unless they name one: the curated database. */
  public readonly defaultDatabase: string;
  /** Topic notified when a scheduled query succeeds or fails. */
  public readonly notificationTopic: sns.ITopic;
  /** Key of the notification topic, when this construct created the topic. */
  public readonly notificationKey?: kms.IKey;
  /** Queue of schedule invocations that could not start their workflow. */
  public readonly scheduleDeadLetterQueue: sqs.Queue;
  /** Log group of the scheduled workflows. */
  public readonly logGroup: logs.LogGroup;
  /** The removal policy of the results bucket, workgroup and log group. */
  public readonly removalPolicy: RemovalPolicy;
  /** Saved queries (escape hatch). */
  public readonly namedQueries: athena.CfnNamedQuery[] = [];
  /** Scheduled queries. */
  public readonly scheduledQueries: ScheduledQuery[] = [];
  /** Scheduled Iceberg maintenance. */
  public readonly icebergMaintenance: IcebergMaintenance[] = [];

  public readonly pipelineKind = PipelineKind.SERVING;
  public readonly freshness: FreshnessSignal[] = [];
  public readonly quarantines: QuarantineLocation[] = [];
  public readonly pipelineAlarms: cloudwatch.IAlarm[] = [];

  private readonly scheduledNames = new Set<string>();

  constructor(scope: Construct, id: string, props: AthenaServingProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.lake = props.lake;
    this.removalPolicy = resolveRemovalPolicy(this, props.removalPolicy);
    const tier = props.lake instanceof LakehouseTier ? props.lake : undefined;
    const destroy = this.removalPolicy === RemovalPolicy.DESTROY;

    // ---- validation, all in one place --------------------------------------------------------
    this.workGroupName = props.workGroupName
      ?? Names.uniqueResourceName(this, { maxLength: 128, separator: '-', allowedSpecialCharacters: '._-' });
    validateWorkGroupName('AthenaServing', 'workGroupName', this.workGroupName);
    // The workgroup (and the log group named after it) is unique per account and region: the
    // default above carries the stack name; a name the user sets twice is reported at synth.
    LakehouseDeployRules._applyTo(this);
    LakehouseDeployRules._nameOwner(this, this, 'AthenaServing', 'workGroupName');

    const cutoff = props.bytesScannedCutoffPerQuery ?? Size.gibibytes(100);
    const cutoffBytes = cutoff.toBytes();
    if (cutoffBytes !== 0 && cutoffBytes < MIN_BYTES_SCANNED_CUTOFF) {
      throw propError('AthenaServing', 'bytesScannedCutoffPerQuery', `${cutoffBytes} bytes is under Athena's minimum of ${MIN_BYTES_SCANNED_CUTOFF} bytes (10 MB)`,
        'use Size.megabytes(10) or more, or Size.bytes(0) to remove the limit');
    }
    this.resultsPrefix = normalizePrefix('AthenaServing', 'resultsPrefix', props.resultsPrefix ?? 'results/');
    this.reportsPrefix = normalizePrefix('AthenaServing', 'reportsPrefix', props.reportsPrefix ?? 'reports/');
    if (this.reportsPrefix.startsWith(this.resultsPrefix) || this.resultsPrefix.startsWith(this.reportsPrefix)) {
      throw propError('AthenaServing', 'reportsPrefix', `"${this.reportsPrefix}" overlaps resultsPrefix "${this.resultsPrefix}", whose objects expire`,
        'give reports and results separate prefixes, e.g. "reports/" and "results/"');
    }
    if (props.resultsBucket) {
      for (const prop of ['resultsExpiration', 'reportsExpiration', 'serverAccessLogsBucket'] as const) {
        if (props[prop] !== undefined) {
          throw propError('AthenaServing', prop, 'it cannot be applied to an existing results bucket',
            `remove "${prop}" and configure the bucket where it is defined, or drop "resultsBucket" to let AthenaServing create it`);
        }
      }
    }
    const resultsDays = wholeDays('AthenaServing', 'resultsExpiration', props.resultsExpiration ?? Duration.days(30));
    const reportsDays = wholeDays('AthenaServing', 'reportsExpiration', props.reportsExpiration ?? Duration.days(0));

    this.defaultDatabase = props.lake.curated.databaseName;

    // ---- results: bucket and key -------------------------------------------------------------
    this.resultsEncryptionKey = props.resultsEncryptionKey ?? props.lake.encryptionKey;
    const rules: s3.LifecycleRule[] = [{ id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) }];
    if (resultsDays > 0) rules.push({ id: 'expire-query-results', prefix: this.resultsPrefix, expiration: Duration.days(resultsDays) });
    if (reportsDays > 0) rules.push({ id: 'expire-reports', prefix: this.reportsPrefix, expiration: Duration.days(reportsDays) });
    const accessLogs = props.serverAccessLogsBucket ?? tier?.accessLogsBucket;
    this.resultsBucket = props.resultsBucket ?? new s3.Bucket(this, 'ResultsBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.resultsEncryptionKey,
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Results are re-creatable by re-running the query; versions would only keep expired ones.
      versioned: false,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: accessLogs ? `athena/${this.workGroupName}/` : undefined,
      lifecycleRules: rules,
      removalPolicy: this.removalPolicy,
      autoDeleteObjects: destroy,
    });

    // ---- workgroup ---------------------------------------------------------------------------
    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: this.workGroupName,
      description: props.description ?? `Queries over the ${props.lake.lakeName} lake`,
      state: 'ENABLED',
      // Deleting the workgroup with the stack also deletes saved queries people added by hand.
      recursiveDeleteOption: destroy,
      workGroupConfiguration: {
        engineVersion: { selectedEngineVersion: (props.engineVersion ?? AthenaEngineVersion.V3).name },
        enforceWorkGroupConfiguration: props.enforceWorkGroupConfiguration ?? true,
        publishCloudWatchMetricsEnabled: props.publishCloudWatchMetrics ?? true,
        bytesScannedCutoffPerQuery: cutoffBytes > 0 ? cutoffBytes : undefined,
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/${this.resultsPrefix}`,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: this.resultsEncryptionKey.keyArn },
          expectedBucketOwner: stack.account,
        },
      },
    });
    this.workGroup.applyRemovalPolicy(this.removalPolicy);
    this.workGroupArn = stack.formatArn({ service: 'athena', resource: 'workgroup', resourceName: this.workGroupName });

    // ---- scheduled-query plumbing (shared by every scheduled query) --------------------------
    if (props.notificationTopic) {
      this.notificationTopic = props.notificationTopic;
    } else {
      const key = new kms.Key(this, 'NotificationKey', {
        description: `Encrypts the report notifications of Athena workgroup ${this.workGroupName}`,
        enableKeyRotation: true,
        removalPolicy: this.removalPolicy,
      });
      this.notificationKey = key;
      this.notificationTopic = new sns.Topic(this, 'NotificationTopic', {
        displayName: `Reports of Athena workgroup ${this.workGroupName}`.slice(0, 100),
        masterKey: key,
        enforceSSL: true,
      });
    }
    this.scheduleDeadLetterQueue = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: this.removalPolicy,
    });
    suppressNag(this.scheduleDeadLetterQueue, [{
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the EventBridge Scheduler targets; a DLQ of a DLQ would only move the problem.',
    }]);
    this.logGroup = lakeLogGroup(this, 'WorkflowLogs', {
      userKey: props.logEncryptionKey,
      constructKey: this.resultsEncryptionKey,
      keyProp: 'logEncryptionKey',
      logGroupName: `/aws/vendedlogs/states/athena-${this.workGroupName}`.slice(0, 512),
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: this.removalPolicy,
    });

    for (const query of props.namedQueries ?? []) this.addNamedQuery(idOf(query.queryName), query);
    for (const query of props.scheduledQueries ?? []) this.addScheduledQuery(idOf(query.queryName), query);
    this.acknowledgeNistFindings();
  }

  /** NIST 800-53 R5 findings on resources this construct creates (scheduled workflows' policies included). */
  private acknowledgeNistFindings(): void {
    acknowledgeInlinePolicies(this, 'AthenaServing (scheduled workflow roles)');
    suppressNag(this.resultsBucket, [
      { id: 'NIST.800.53.R5-S3BucketReplicationEnabled', reason: NagReasons.noReplication('Athena results bucket (re-creatable query results and reports)') },
      {
        id: 'NIST.800.53.R5-S3BucketVersioningEnabled',
        reason: 'Athena query results and scheduled reports are derived data, re-created by running the query again, and expire by '
          + 'lifecycle (resultsExpiration, reportsExpiration); versions would only keep expired results. Pass `resultsBucket` for a versioned bucket of your own.',
      },
    ]);
  }

  /**
   * Lets a principal run queries in this workgroup and read and write its results, and read the
   * catalog entries and data of the zones and tables given (through their own grant methods:
   * S3 get/list, KMS decrypt, Glue get). Explicit actions only, scoped to this workgroup, the
   * `AwsDataCatalog`, the results bucket and key, and the lake resources given.
   *
   * Across stacks: the statements go into the grantee's own policy, whose stack then depends on
   * this one. When the grantee lives in a stack this one depends on (typically a role of the lake's
   * stack), they go instead into one `iam.Policy` of this construct attached to the role, user or
   * group by name, so that no dependency cycle forms. That policy is inline like a role's default
   * policy: it counts towards IAM's 10,240-character limit on a role's inline policies.
   *
   * @param grantee who gets the access (a data-scientist role, a BI tool's role)
   * @param access lake data the principal may query (default: none; only the workgroup and results)
   */
  public grantQuery(grantee: iam.IGrantable, access: QueryAccess = {}): iam.Grant {
    const stack = Stack.of(this);
    // The statements go into the grantee's own policy or, when the grantee lives in a stack this
    // one depends on (a role of the lake's stack), into a policy of this stack attached to it, so
    // that no stack cycle forms.
    const serving = granteeForStatementsIn(this, grantee,
      [this.lake, this.lake.encryptionKey, this.resultsEncryptionKey, this.resultsBucket, this.notificationTopic]);
    const add = (actions: string[], resourceArns: string[]) => iam.Grant.addToPrincipal({ grantee: serving, actions, resourceArns });
    const grants: iam.Grant[] = [
      add(ATHENA_WORKGROUP_ACTIONS, [this.workGroupArn]),
      add(ATHENA_CATALOG_ACTIONS, [stack.formatArn({ service: 'athena', resource: 'datacatalog', resourceName: 'AwsDataCatalog' })]),
      add(RESULTS_BUCKET_ACTIONS, [this.resultsBucket.bucketArn]),
      add(RESULTS_OBJECT_ACTIONS, [this.resultsBucket.arnForObjects(`${this.resultsPrefix}*`)]),
      add(['s3:GetObject'], [this.resultsBucket.arnForObjects(`${this.reportsPrefix}*`)]),
      this.resultsEncryptionKey.grant(serving, ...RESULTS_KEY_ACTIONS),
    ];
    // Lake data through the zones' and tables' own grants, into the same policy.
    for (const zone of access.zones ?? []) grants.push(zone.grantRead(serving));
    for (const table of access.tables ?? []) grants.push(table.grantRead(serving));
    const attached = attachedPolicyOf(serving);
    if (attached) {
      // This construct made the policy, so it explains its findings (a grantee's own policy is the user's to suppress).
      suppressNag(attached, [{
        id: 'AwsSolutions-IAM5',
        reason: 'grantQuery for a role of a stack this one depends on: object ARNs under the workgroup\'s results and reports prefixes and under '
          + 'the granted zones and tables (a bucket ARN followed by a prefix and *), and every table of a granted zone\'s database; explicit actions only.',
        appliesTo: [
          '/^Resource::<.*\\.Arn>/([^*]*/)?\\*$/',
          '/^Resource::arn:<AWS::Partition>:glue:[^:]+:[^:]+:table/[^/*]+/\\*$/',
        ],
      }]);
    }
    return grants.reduce((all, g) => all.combine(g));
  }

  /**
   * Adds a saved query to the workgroup.
   * @param id the construct id of the saved query
   * @param options the query: name, SQL, database, description
   */
  public addNamedQuery(id: string, options: NamedQueryOptions): athena.CfnNamedQuery {
    const name = options.queryName.trim();
    if (name.length === 0 || name.length > 128) {
      throw propError('AthenaServing', 'namedQueries.queryName', `"${options.queryName}" must have 1-128 characters`, 'give the saved query a short name');
    }
    const sql = validateSql('AthenaServing', `namedQueries[${name}].sql`, options.sql);
    const database = options.database ?? this.defaultDatabase;
    validateGlueName('AthenaServing', `namedQueries[${name}].database`, database);
    const query = new athena.CfnNamedQuery(this, id, {
      name,
      queryString: sql,
      database,
      description: options.description,
      workGroup: this.workGroupName,
    });
    query.addDependency(this.workGroup);
    this.namedQueries.push(query);
    return query;
  }

  /**
   * Adds a query that runs on a schedule and leaves a report under the reports prefix.
   * @param id the construct id of the scheduled query
   * @param options the query, its schedule, report format and what it may read
   */
  public addScheduledQuery(id: string, options: ScheduledQueryOptions): ScheduledQuery {
    if (this.scheduledNames.has(options.queryName)) {
      throw propError('AthenaServing', 'scheduledQueries.queryName', `two scheduled queries are named "${options.queryName}" and would write the same reports`,
        'give each scheduled query its own queryName');
    }
    const query = new ScheduledQuery(this, id, { ...options, serving: this });
    this.scheduledNames.add(options.queryName);
    query.node.addDependency(this.workGroup);
    this.scheduledQueries.push(query);
    return query;
  }

  /**
   * Adds scheduled `OPTIMIZE` / `VACUUM` of an Iceberg table.
   * @param id the construct id of the maintenance workflow
   * @param options the Iceberg table, the schedule and what to run
   */
  public addIcebergMaintenance(id: string, options: IcebergMaintenanceOptions): IcebergMaintenance {
    const maintenance = new IcebergMaintenance(this, id, { ...options, serving: this });
    maintenance.node.addDependency(this.workGroup);
    this.icebergMaintenance.push(maintenance);
    return maintenance;
  }

  // ---- the pipeline contract (computed when read, so queries added later count) -------------

  /** The workgroup name. */
  public get pipelineName(): string {
    return this.workGroupName;
  }

  /**
   * Runs and failed runs of the scheduled workflows (summed) and their longest duration; the
   * workgroup's succeeded and failed queries when there is no scheduled workflow. A CloudWatch
   * alarm takes at most 10 metrics, so alarm on a sum only up to 10 scheduled workflows (or use
   * each `ScheduledQuery`'s own metrics).
   */
  public get pipelineMetrics(): PipelineMetrics {
    const workflows = this.workflows;
    const additional: LabeledMetric[] = [
      { label: 'Bytes scanned', metric: this.metricProcessedBytes() },
      { label: 'Failed queries (all users)', metric: this.metricFailedQueries() },
    ];
    if (workflows.length === 0) {
      return {
        throughput: this.metricSucceededQueries(),
        errors: this.metricFailedQueries(),
        additional,
      };
    }
    return {
      throughput: combine('Scheduled runs', workflows.map((w) => w.metricRuns()), 'sum'),
      errors: combine('Failed scheduled runs', workflows.map((w) => w.metricFailures()), 'sum'),
      additional: [{ label: 'Scheduled run duration (ms)', metric: combine('Run duration', workflows.map((w) => w.metricDuration()), 'max') }, ...additional],
    };
  }

  /** The schedules' dead-letter queue. */
  public get deadLetterQueues(): sqs.IQueue[] {
    return [this.scheduleDeadLetterQueue];
  }

  /** Step Functions executions of the scheduled workflows that failed, timed out or were aborted. */
  public get failureEvents(): events.EventPattern[] {
    const workflows = this.workflows;
    if (workflows.length === 0) return [];
    return [{
      source: ['aws.states'],
      detailType: ['Step Functions Execution Status Change'],
      detail: {
        status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
        stateMachineArn: workflows.map((w) => w.stateMachine.stateMachineArn),
      },
    }];
  }

  /** The scheduled workflows' log group. */
  public get logGroups(): logs.ILogGroup[] {
    return [this.logGroup];
  }

  /**
   * A metric Athena publishes for the workgroup's DML queries (namespace `AWS/Athena`, dimensions
   * `WorkGroup`, `QueryState`, `QueryType`; the workgroup publishes them), over 5 minutes.
   * @param metricName Athena's metric name, e.g. `ProcessedBytes` or `TotalExecutionTime`
   * @param props overrides: `dimensionsMap` replaces the dimensions (e.g. `QueryState: 'FAILED'`), and the statistic, period, label...
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/Athena',
      metricName,
      dimensionsMap: { WorkGroup: this.workGroupName, QueryState: 'SUCCEEDED', QueryType: 'DML' },
      statistic: 'Sum',
      period: Duration.minutes(5),
      ...props,
    });
  }

  /**
   * Bytes the workgroup's succeeded DML queries scanned (what Athena bills), summed.
   * @param props overrides of the statistic, period, label...
   */
  public metricProcessedBytes(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('ProcessedBytes', { label: 'Bytes scanned', ...props });
  }

  /**
   * DML queries of the workgroup that succeeded (the sample count of their execution time).
   * @param props overrides of the statistic, period, label...
   */
  public metricSucceededQueries(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('TotalExecutionTime', { statistic: 'SampleCount', label: 'Succeeded queries', ...props });
  }

  /**
   * DML queries of the workgroup that failed, whoever ran them (the sample count of their execution time).
   * @param props overrides of the statistic, period, label...
   */
  public metricFailedQueries(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('TotalExecutionTime', {
      statistic: 'SampleCount', label: 'Failed queries', dimensionsMap: { WorkGroup: this.workGroupName, QueryState: 'FAILED', QueryType: 'DML' }, ...props,
    });
  }

  private get workflows(): ScheduledWorkflow[] {
    return [...this.scheduledQueries, ...this.icebergMaintenance];
  }
}

/** One metric as is, several as one math expression (missing points count as 0). */
function combine(label: string, metrics: cloudwatch.IMetric[], how: 'sum' | 'max'): cloudwatch.IMetric {
  if (metrics.length === 1) return metrics[0];
  const usingMetrics: Record<string, cloudwatch.IMetric> = {};
  metrics.forEach((m, i) => { usingMetrics[`m${i}`] = m; });
  const filled = metrics.map((_, i) => `FILL(m${i}, 0)`);
  return new cloudwatch.MathExpression({
    expression: how === 'sum' ? filled.join(' + ') : `MAX([${filled.join(', ')}])`,
    usingMetrics,
    label,
    period: Duration.minutes(5),
  });
}

/** A construct id from a query name given in props. */
function idOf(queryName: string): string {
  return queryName.replace(/[^A-Za-z0-9]+/g, '-') || 'Query';
}
