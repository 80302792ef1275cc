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
import { ILakehouse } from './lake';
import { resolveMergeJobProps } from './merge-job-settings';
import { acknowledgeInlinePolicies, acknowledgeScheduleRole, suppressNag } from './nag';
import { ScheduleDeadLetterQueue, validateScheduleExpression } from './schedule';

/**
 * CloudWatch namespace every merge job of the library publishes in (Glue argument
 * `--metrics_namespace`), with the dimensions `{Pipeline}` (run totals) and `{Pipeline, Table}`
 * (per curated table): `RowsMerged`, `RowsQuarantined`, `TablesFailed`, `TableCommits`,
 * `CommitAgeSeconds`, `RunSeconds`.
 */
export const MERGE_METRICS_NAMESPACE = 'CdkLakehouse/Merge';

/** The shared Glue module every merge script imports (`import lakehouse_glue as lg`). */
const SHARED_MODULE = path.join(__dirname, 'glue', 'lakehouse_glue.py');
const NAME = 'MergeJob';

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
    this.securityConfiguration = glueJobSecurityConfiguration(this, 'Security', `${this.jobName}-security`, props.lake.encryptionKey, this.jobEncryptionKey);

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
      description: `Merge job of ${props.pipelineName}`,
    });
    this.script.grantRead(this.role);
    this.sharedModule.grantRead(this.role);
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
        '--extra-py-files': this.sharedModule.s3ObjectUrl,
        '--metrics_namespace': MERGE_METRICS_NAMESPACE,
        '--pipeline_name': props.pipelineName,
        ...(props.arguments ?? {}),
      },
    });
    // The role's policy must exist before a run can use it.
    this.job.node.addDependency(this.role);
    this.failureEvent = FailureEvents.glueJob([this.jobName]);

    suppressNag(this.role.node.findChild('DefaultPolicy'), [{
      id: 'AwsSolutions-IAM5',
      reason: `The merge job of ${props.pipelineName} reads and writes object prefixes of the lake it is granted (raw input, its ledger and `
        + 'quarantine, the data files of its curated tables, whose names Iceberg picks at run time, and those tables in the Glue catalog); '
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

  /** Lets a principal start runs of the job and read their state. */
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
}
