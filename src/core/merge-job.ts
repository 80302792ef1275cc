import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Duration, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FailureEvents } from './failure-events';
import { glueJobSecurityConfiguration, grantGlueJobRuntime, icebergJobArguments } from './glue-job';
import { ILakehouse, LakeLayout } from './lake';
import { resolveMergeJobProps } from './merge-job-settings';
import { acknowledgeInlinePolicies, acknowledgeScheduleRole, NagReasons, suppressNag } from './nag';
import { QualitySignals } from './pipeline';
import { TableQualityRules } from './quality-rules';
import { renderQualityRules } from './quality-rules-render';
import { ScheduleDeadLetterQueue, validateScheduleExpression } from './schedule';
import { propError } from './validation';

/**
 * CloudWatch namespace every merge job of the library publishes in (Glue argument
 * `--metrics_namespace`), with the dimensions `{Pipeline}` (run totals) and `{Pipeline, Table}`
 * (per curated table): `RowsMerged`, `RowsQuarantined`, `TablesFailed`, `TableCommits`,
 * `CommitAgeSeconds`, `RunSeconds`.
 */
export const MERGE_METRICS_NAMESPACE = 'CdkLakehouse/Merge';

/** The shared Glue module every merge script imports (`import lakehouse_glue as lg`). */
const SHARED_MODULE = path.join(__dirname, 'glue', 'lakehouse_glue.py');
/** The quality module `lakehouse_glue` imports when a table declares rules (Deequ through py4j). */
const QUALITY_MODULE = path.join(__dirname, 'glue', 'lakehouse_quality.py');
const NAME = 'MergeJob';
/**
 * Deequ (the library behind Glue Data Quality) for Spark 3.5, shipped with `--extra-jars` when a
 * table has quality rules: Maven Central `com.amazon.deequ:deequ:2.0.7-spark-3.5`, put in
 * `assets/glue/` by `build-tools/fetch-deequ.js` (the bundle task).
 */
export const DEEQU_JAR_FILE = 'deequ-2.0.7-spark-3.5.jar';
const DEEQU_JAR = path.join(__dirname, '..', '..', 'assets', 'glue', DEEQU_JAR_FILE);
/**
 * Largest `--quality_rules` document passed inline, in bytes; a larger one goes to an S3 asset
 * (`--quality_rules_path`). Glue refuses a run whose arguments together exceed 260 KB (Glue
 * developer guide, "Using job parameters in AWS Glue jobs"), and the rules share that budget with
 * every other argument (CDC's table list, a run's own arguments).
 */
export const QUALITY_RULES_INLINE_MAX_BYTES = 16_384;

/** Props of `MergeJob`. */
export interface MergeJobProps {
  /** The lake: the job reads and writes Iceberg tables of its curated zone and encrypts its S3 writes with the lake key. */
  readonly lake: ILakehouse;
  /** Pipeline the job belongs to: the `Pipeline` dimension of its metrics (`--pipeline_name`) and part of its name. */
  readonly pipelineName: string;
  /** Local path of the PySpark script (a `.py` file; shipped as an asset). */
  readonly scriptPath: string;
  /**
   * Start of the job's name; a unique suffix of the construct path follows.
   * @default - the pipeline name and "-merge"
   */
  readonly jobNamePrefix?: string;
  /**
   * Description of the job.
   * @default - "Merge job of <pipelineName>"
   */
  readonly description?: string;
  /**
   * The script's own default arguments (`--name` → value), added to the Iceberg, metrics and
   * logging arguments the construct sets.
   * @default - none
   */
  readonly arguments?: { [name: string]: string };
  /**
   * Glue worker type.
   * @default 'G.1X'
   */
  readonly workerType?: string;
  /**
   * Number of workers (2 or more, Glue's minimum for a Spark job).
   * @default 2
   */
  readonly numberOfWorkers?: number;
  /**
   * Run as Glue Flex (cheaper, may start later; G.1X and G.2X only). Flex runs are not queued.
   * @default false
   */
  readonly flex?: boolean;
  /**
   * Longest run, in whole minutes.
   * @default Duration.hours(2)
   */
  readonly timeout?: Duration;
  /**
   * Glue retries of a failed run (0-10).
   * @default 0 - the next run picks up what a failed one did not merge
   */
  readonly maxRetries?: number;
  /**
   * Runs at the same time. With 1 (one writer per table ledger), a standard run started while
   * another is going waits in Glue's queue instead of failing.
   * @default 1
   */
  readonly maxConcurrentRuns?: number;
  /**
   * Key of the job's logs and bookmarks (and of the schedule dead-letter queue).
   * @default - a new key with rotation
   */
  readonly jobEncryptionKey?: kms.IKey;
  /**
   * When to start the job (EventBridge Scheduler, with a dead-letter queue and its alarm).
   * More schedules: `addSchedule()`.
   * @default - no schedule: start it by hand, from a workflow, or with `addSchedule()`
   */
  readonly schedule?: scheduler.ScheduleExpression;
  /**
   * Glue connections (names) the job runs in, e.g. a NETWORK connection into a VPC.
   * @default - none
   */
  readonly connections?: string[];
  /**
   * Removal policy of the job key and the schedule dead-letter queue the construct creates.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Data quality rules per curated table: each run audits a table's new snapshot on an audit
   * branch and publishes it to main only when every blocking rule passes (docs/quality-rules.md).
   * The job gets `--quality_rules` (or `--quality_rules_path` for a document over
   * `QUALITY_RULES_INLINE_MAX_BYTES`) and the Deequ jar (`--extra-jars`), and the construct an
   * alarm on failed audits (`auditFailureAlarm`).
   * @default - no rules: no audit arguments, no Deequ jar, no audit alarm
   */
  readonly qualityRules?: TableQualityRules[];
}

/** Options of the quality metrics of `MergeJob`. */
export interface QualityMetricOptions extends cloudwatch.MetricOptions {
  /**
   * One curated table (`Table` dimension).
   * @default - the whole pipeline (`Pipeline` dimension only)
   */
  readonly table?: string;
}

/** Options of `MergeJob.addSchedule()`. */
export interface MergeJobScheduleOptions {
  /** When to start the job. */
  readonly schedule: scheduler.ScheduleExpression;
  /**
   * Arguments of the runs this schedule starts (they replace the job's defaults of the same name).
   * @default - none: the job's default arguments
   */
  readonly arguments?: { [name: string]: string };
  /**
   * Description of the schedule.
   * @default - "Starts <job name>"
   */
  readonly description?: string;
}

/**
 * A scheduled Glue 5.0 Spark job that merges raw data into curated Iceberg tables of a lake:
 * the script and the shared `lakehouse_glue` module (`--extra-py-files`) as assets, the job
 * role (Glue logs under `/aws-glue/*`, PutMetricData in the Glue and `CdkLakehouse/Merge`
 * namespaces only), a security configuration (S3 writes with the lake key, logs and bookmarks
 * with the job key), optional EventBridge Scheduler schedules whose failed starts go to one
 * KMS-encrypted dead-letter queue with an alarm, the EventBridge pattern of a failed run, and
 * the merge metrics every ingestion of the library publishes.
 *
 * Data access is the caller's: grant the `role` what the script reads and writes.
 *
 * @example
 * declare const lake: LakehouseTier;
 *
 * const merge = new MergeJob(this, 'Merge', {
 *   lake,
 *   pipelineName: 'orders',
 *   scriptPath: './glue/merge_orders.py',
 *   schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
 * });
 * lake.curated.grantReadWrite(merge.role, 'orders/');
 */
export class MergeJob extends Construct {
  /** CloudWatch namespace of the merge metrics (`MERGE_METRICS_NAMESPACE`, for languages without module constants). */
  public static readonly METRICS_NAMESPACE = MERGE_METRICS_NAMESPACE;

  /** Name of the job. */
  public readonly jobName: string;
  /** ARN of the job. */
  public readonly jobArn: string;
  /** The job. */
  public readonly job: glue.CfnJob;
  /** Role of the job. */
  public readonly role: iam.Role;
  /** The script asset. */
  public readonly script: s3assets.Asset;
  /** The shared `lakehouse_glue` module asset, passed with `--extra-py-files`. */
  public readonly sharedModule: s3assets.Asset;
  /** The `lakehouse_quality` module asset (the audit's rules), passed with `--extra-py-files` beside the shared module. */
  public readonly qualityModule: s3assets.Asset;
  /** Encryption of what the job writes: S3 with the lake key, logs and bookmarks with the job key. */
  public readonly securityConfiguration: glue.CfnSecurityConfiguration;
  /** Key of the job's logs and bookmarks (and of the schedule dead-letter queue). */
  public readonly jobEncryptionKey: kms.IKey;
  /** The pipeline the job belongs to (`Pipeline` dimension of its metrics). */
  public readonly pipelineName: string;
  /** EventBridge pattern of a run that ended FAILED, TIMEOUT or ERROR. */
  public readonly failureEvent: events.EventPattern;
  /** Schedules of the job (the `schedule` prop first, then `addSchedule()`'s). */
  public readonly schedules: scheduler.Schedule[] = [];
  /**
   * Where the job writes audit results and the record of each rollback and reprocess
   * (`--quality_results_path`): `s3://<raw bucket>/_ops/quality/<pipelineName>/`.
   */
  public readonly qualityResultsUrl: string;
  /** Prefix of `qualityResultsUrl` in the raw zone. */
  public readonly qualityResultsPrefix: string;
  /** The Deequ jar asset (`--extra-jars`); undefined without quality rules. */
  public readonly deequJar?: s3assets.Asset;
  /** The rules document asset (`--quality_rules_path`); undefined unless the rules exceed `QUALITY_RULES_INLINE_MAX_BYTES`. */
  public readonly qualityRulesAsset?: s3assets.Asset;
  /** Alarm on an audit that failed (a blocking rule broke; main was not published); undefined without quality rules. */
  public readonly auditFailureAlarm?: cloudwatch.Alarm;
  /** Curated tables that have quality rules. */
  public readonly auditedTables: string[];

  private readonly removalPolicy: RemovalPolicy;
  private deadLetter?: ScheduleDeadLetterQueue;

  constructor(scope: Construct, id: string, props: MergeJobProps) {
    super(scope, id);
    const p = resolveMergeJobProps(props);
    const stack = Stack.of(this);
    this.pipelineName = props.pipelineName;
    this.removalPolicy = p.removalPolicy;
    this.jobName = `${p.jobNamePrefix}-${Names.uniqueResourceName(this, { maxLength: 20 })}`.slice(0, 255);
    this.jobArn = stack.formatArn({ service: 'glue', resource: 'job', resourceName: this.jobName });

    this.jobEncryptionKey = props.jobEncryptionKey ?? new kms.Key(this, 'Key', {
      enableKeyRotation: true,
      description: `Merge job of ${props.pipelineName}: Glue job logs, bookmarks and the schedule dead-letter queue`,
      removalPolicy: p.removalPolicy,
    });
    this.script = new s3assets.Asset(this, 'Script', { path: props.scriptPath });
    this.sharedModule = new s3assets.Asset(this, 'SharedModule', { path: SHARED_MODULE });
    this.qualityModule = new s3assets.Asset(this, 'QualityModule', { path: QUALITY_MODULE });
    this.securityConfiguration = glueJobSecurityConfiguration(this, 'Security', `${this.jobName}-security`, props.lake.encryptionKey, this.jobEncryptionKey);

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
      description: `Merge job of ${props.pipelineName}`,
    });
    this.script.grantRead(this.role);
    this.sharedModule.grantRead(this.role);
    this.qualityModule.grantRead(this.role);
    this.jobEncryptionKey.grant(this.role, 'kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey');
    grantGlueJobRuntime(this.role, ['Glue', MERGE_METRICS_NAMESPACE]);
    if (p.connections.length > 0) {
      this.role.addToPolicy(new iam.PolicyStatement({
        // Glue attaches the job's network interfaces in the connection's subnet.
        actions: ['ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups', 'ec2:DescribeVpcEndpoints', 'ec2:DescribeRouteTables',
          'ec2:DescribeNetworkInterfaces', 'ec2:DescribeVpcAttribute', 'ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface',
          'ec2:CreateTags', 'ec2:DeleteTags'],
        resources: ['*'],
      }));
    }

    const quality = this.qualityArguments(props);
    this.qualityResultsPrefix = quality.resultsPrefix;
    this.qualityResultsUrl = quality.resultsUrl;
    this.deequJar = quality.deequJar;
    this.qualityRulesAsset = quality.rulesAsset;
    this.auditedTables = quality.tables;
    const userArguments = { ...(props.arguments ?? {}) };
    // The user's own jars join Deequ's (one comma-separated `--extra-jars`).
    if (quality.arguments['--extra-jars'] && userArguments['--extra-jars']) {
      userArguments['--extra-jars'] = `${quality.arguments['--extra-jars']},${userArguments['--extra-jars']}`;
    }

    this.job = new glue.CfnJob(this, 'Job', {
      name: this.jobName,
      description: props.description ?? `Merge job of ${props.pipelineName}`,
      role: this.role.roleArn,
      glueVersion: '5.0',
      command: { name: 'glueetl', pythonVersion: '3', scriptLocation: this.script.s3ObjectUrl },
      workerType: p.workerType,
      numberOfWorkers: p.numberOfWorkers,
      executionClass: p.flex ? 'FLEX' : 'STANDARD',
      timeout: p.timeout.toMinutes(),
      maxRetries: p.maxRetries,
      executionProperty: { maxConcurrentRuns: p.maxConcurrentRuns },
      jobRunQueuingEnabled: p.flex ? undefined : true,
      securityConfiguration: this.securityConfiguration.ref,
      connections: p.connections.length > 0 ? { connections: p.connections } : undefined,
      defaultArguments: {
        ...icebergJobArguments(props.lake.curated.s3Url()),
        '--extra-py-files': `${this.sharedModule.s3ObjectUrl},${this.qualityModule.s3ObjectUrl}`,
        '--metrics_namespace': MERGE_METRICS_NAMESPACE,
        '--pipeline_name': props.pipelineName,
        ...quality.arguments,
        ...userArguments,
      },
    });
    // The role's policy must exist before a run can use it.
    this.job.node.addDependency(this.role);
    this.failureEvent = FailureEvents.glueJob([this.jobName]);

    suppressNag(this.role.node.findChild('DefaultPolicy'), [{
      id: 'AwsSolutions-IAM5',
      reason: `The merge job of ${props.pipelineName} reads and writes object prefixes of the lake it is granted (raw input, its ledger and `
        + 'quarantine, its quality results under _ops/quality/<pipeline>/, the data files of its curated tables, whose names Iceberg picks at run time, and those tables in the Glue catalog); '
        + 'Glue writes its logs under /aws-glue/*; the script and the shared module are objects of the CDK asset bucket; '
        + `PutMetricData is limited to the Glue and ${MERGE_METRICS_NAMESPACE} namespaces by condition (the action has no resource)`
        + (p.connections.length > 0 ? '; Glue manages the network interfaces of a connection (ec2 needs "*").' : '.'),
      appliesTo: [
        '/^Resource::<.*\\.Arn>/.*\\*$/',
        '/^Resource::arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-.*\\*$/',
        '/^Resource::arn:<AWS::Partition>:logs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):log-group:/aws-glue/\\*$/',
        '/^Resource::arn:<AWS::Partition>:glue:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):table/.*\\*$/',
        'Action::s3:GetBucket*',
        'Action::s3:GetObject*',
        'Action::s3:List*',
        'Action::s3:DeleteObject*',
        'Action::s3:Abort*',
        'Action::kms:GenerateDataKey*',
        'Action::kms:ReEncrypt*',
        'Resource::*',
      ],
    }]);

    if (this.auditedTables.length > 0) {
      this.auditFailureAlarm = new cloudwatch.Alarm(this, 'AuditFailureAlarm', {
        alarmDescription: `MergeJob of ${props.pipelineName}: an audit failed, so a curated table was not published (results under ${this.qualityResultsUrl})`,
        metric: this.metricAuditsFailed(),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      suppressNag(this.auditFailureAlarm, [{ id: 'NIST.800.53.R5-CloudWatchAlarmAction', reason: NagReasons.alarmWithoutAction(this.auditFailureAlarm.node.path) }]);
    }

    acknowledgeInlinePolicies(this, `MergeJob of ${props.pipelineName}`);
    if (props.schedule) this.addSchedule('Schedule', { schedule: props.schedule, description: `${props.pipelineName}: merge new data into the curated tables` });
  }

  /** The dead-letter queue of the job's schedules; undefined while the job has no schedule. */
  public get scheduleDeadLetterQueue(): sqs.IQueue | undefined {
    return this.deadLetter?.queue;
  }

  /** Alarm on a schedule that could not start the job; undefined while the job has no schedule. */
  public get scheduleDeadLetterAlarm(): cloudwatch.IAlarm | undefined {
    return this.deadLetter?.alarm;
  }

  /**
   * Starts the job on a schedule (EventBridge Scheduler). Every schedule of the job shares one
   * dead-letter queue (created with the first) and one retry policy; its role may start this job
   * only and use the queue's key.
   */
  public addSchedule(id: string, options: MergeJobScheduleOptions): scheduler.Schedule {
    validateScheduleExpression(NAME, id === 'Schedule' ? 'schedule' : `addSchedule(${id}).schedule`, options.schedule);
    this.deadLetter ??= new ScheduleDeadLetterQueue(this, 'ScheduleDlq', {
      encryptionKey: this.jobEncryptionKey,
      what: `the merge job ${this.jobName}`,
      owner: `MergeJob of ${this.pipelineName}`,
      removalPolicy: this.removalPolicy,
    });
    // Schedules send only the job name (and their own arguments): the job's default arguments
    // take 260 KB, a schedule's input does not.
    const target = new targets.Universal({
      service: 'glue',
      action: 'startJobRun',
      input: scheduler.ScheduleTargetInput.fromObject({
        JobName: this.jobName,
        ...(options.arguments ? { Arguments: options.arguments } : {}),
      }),
      policyStatements: [new iam.PolicyStatement({ actions: ['glue:StartJobRun'], resources: [this.jobArn] })],
      ...this.deadLetter.targetOptions,
    });
    const schedule = new scheduler.Schedule(this, id, {
      schedule: options.schedule,
      description: options.description ?? `Starts ${this.jobName}`,
      target: this.deadLetter.target(target),
    });
    acknowledgeScheduleRole(schedule, `MergeJob of ${this.pipelineName}: schedule`);
    this.schedules.push(schedule);
    return schedule;
  }

  /**
   * Lets a principal start runs of the job and read their state: merge runs, and the table
   * operations the job takes as arguments, `--operation rollback --table <t> --snapshot_id <n>`
   * (or `--to_timestamp <ISO-8601>`) and `--operation reprocess --table <t>` (docs/quality-rules.md).
   * IAM cannot tell these apart: `glue:StartJobRun` has no condition key on a run's arguments, so
   * this one grant covers all three.
   */
  public grantStartRun(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['glue:StartJobRun', 'glue:GetJobRun', 'glue:GetJobRuns', 'glue:BatchStopJobRun'],
      resourceArns: [this.jobArn],
    });
  }

  /**
   * A metric of the merge (namespace `CdkLakehouse/Merge`, dimension `Pipeline`; add `Table` in
   * `props.dimensionsMap` for one curated table). Sum over 5 minutes unless `props` say otherwise.
   */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: MERGE_METRICS_NAMESPACE,
      metricName,
      statistic: 'Sum',
      period: Duration.minutes(5),
      ...props,
      dimensionsMap: { Pipeline: this.pipelineName, ...(props?.dimensionsMap ?? {}) },
    });
  }

  /** Rows merged into the curated tables (`RowsMerged`, Sum). */
  public metricRowsMerged(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('RowsMerged', { label: 'Rows merged', ...props });
  }

  /** Rows put into the quarantine instead of a curated table (`RowsQuarantined`, Sum). */
  public metricQuarantined(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('RowsQuarantined', { label: 'Rows quarantined', ...props });
  }

  /** Curated tables a run could not merge (`TablesFailed`, Sum). */
  public metricTablesFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('TablesFailed', { label: 'Tables failed', ...props });
  }

  /**
   * New snapshots of the curated tables' main branch (`TableCommits`, Sum): the arrivals of a
   * freshness signal, measured on the curated table people query.
   */
  public metricTableCommits(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('TableCommits', { label: 'Table commits', ...props });
  }

  /** Wall time of a run in seconds (`RunSeconds`, Maximum). */
  public metricRunTime(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('RunSeconds', { label: 'Run time (s)', statistic: 'Maximum', ...props });
  }

  /** Age of the newest merged change when its commit landed, in seconds (`CommitAgeSeconds`, Maximum). */
  public metricCommitAge(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('CommitAgeSeconds', { label: 'Commit age (s)', statistic: 'Maximum', ...props });
  }

  /** Audits that passed, so the table's new snapshot was published to main (`AuditsPassed`, Sum). */
  public metricAuditsPassed(props?: QualityMetricOptions): cloudwatch.Metric {
    return this.qualityMetric('AuditsPassed', 'Audits passed', props);
  }

  /** Audits that failed: a blocking rule broke and main was left as it was (`AuditsFailed`, Sum). */
  public metricAuditsFailed(props?: QualityMetricOptions): cloudwatch.Metric {
    return this.qualityMetric('AuditsFailed', 'Audits failed', props);
  }

  /** Rules that failed in an audit, blocking and warning ones (`RuleFailures`, Sum). */
  public metricRuleFailures(props?: QualityMetricOptions): cloudwatch.Metric {
    return this.qualityMetric('RuleFailures', 'Rule failures', props);
  }

  /**
   * The quality signals of one curated table, for its `FreshnessSignal`: audits passed and failed
   * (when the table has rules) and the age of its newest data when published (`CommitAgeSeconds`).
   * Its arrivals are `metricTableCommits` with its `Table`: new snapshots of main, so publishes only.
   */
  public qualitySignals(table: string): QualitySignals {
    return {
      publishedDataAge: this.metricCommitAge({ dimensionsMap: { Table: table }, label: `Published data age (s) (${table})` }),
      ...(this.auditedTables.includes(table)
        ? { auditsPassed: this.metricAuditsPassed({ table }), auditsFailed: this.metricAuditsFailed({ table }) }
        : {}),
    };
  }

  private qualityMetric(metricName: string, label: string, props?: QualityMetricOptions): cloudwatch.Metric {
    const { table, ...options } = props ?? {};
    const dimensionsMap = { ...(options.dimensionsMap ?? {}), ...(table !== undefined ? { Table: table } : {}) };
    return this.metric(metricName, { label: table !== undefined ? `${label} (${table})` : label, ...options, dimensionsMap });
  }

  /** The audit arguments, the Deequ jar, the rules asset and the results prefix (with the role's access to them). */
  private qualityArguments(props: MergeJobProps) {
    const resultsPrefix = `${LakeLayout.opsPrefix('quality')}${props.pipelineName}/`;
    const resultsUrl = props.lake.raw.s3Url(resultsPrefix);
    // Audit results and the record of rollbacks and reprocesses: the ops data of the lake.
    props.lake.raw.grantReadWrite(this.role, resultsPrefix);
    const args: { [name: string]: string } = { '--quality_results_path': resultsUrl };
    const rendered = renderQualityRules(NAME, (props.qualityRules ?? []).map((t, i) => {
      if (!t || typeof t.table !== 'string' || t.table.trim() === '') {
        throw propError(NAME, `qualityRules[${i}].table`, 'it is empty', 'give the curated table the rules are for');
      }
      return { table: t.table, prop: `qualityRules[${i}].rules`, rules: t.rules };
    }));
    const tables = Object.keys(rendered.tables);
    if (tables.length === 0) return { arguments: args, resultsPrefix, resultsUrl, tables };
    if (!fs.existsSync(DEEQU_JAR)) {
      throw new Error(`MergeJob: the Deequ jar ${DEEQU_JAR} is missing (a build output). Fix: run \`npx projen bundle\` (build-tools/fetch-deequ.js).`);
    }
    const deequJar = new s3assets.Asset(this, 'DeequJar', { path: DEEQU_JAR });
    deequJar.grantRead(this.role);
    args['--extra-jars'] = deequJar.s3ObjectUrl;
    const json = JSON.stringify(rendered);
    let rulesAsset: s3assets.Asset | undefined;
    if (Buffer.byteLength(json, 'utf8') <= QUALITY_RULES_INLINE_MAX_BYTES) {
      args['--quality_rules'] = json;
    } else {
      // A plain file asset: its hash (and so its S3 key) follows the content.
      const digest = crypto.createHash('sha256').update(json).digest('hex');
      const file = path.join(os.tmpdir(), 'cdk-lakehouse-quality-rules', `${digest}.json`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      if (!fs.existsSync(file)) fs.writeFileSync(file, json);
      rulesAsset = new s3assets.Asset(this, 'QualityRules', { path: file });
      rulesAsset.grantRead(this.role);
      args['--quality_rules_path'] = rulesAsset.s3ObjectUrl;
    }
    return { arguments: args, resultsPrefix, resultsUrl, tables, deequJar, rulesAsset };
  }
}
