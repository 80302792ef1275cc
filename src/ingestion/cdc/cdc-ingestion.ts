import * as path from 'path';
import { Duration, Names, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dms from 'aws-cdk-lib/aws-dms';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import {
  CdcIngestionProps, CdcTableMode, DmsAccountRoles, PostgresSslMode,
} from './cdc-ingestion-props';
import {
  CdcTableSpec, curatedTableName, jobTableEntry, resolveTables,
} from './cdc-table-spec';
import { DmsReplication, dmsIdentifier, LOB_MAX_SIZE_KB } from './dms-replication';
import { PREFLIGHT_CONFIG_ENV, PreflightFunctionConfig } from './preflight/config';
import { PreflightFunction } from './preflight-function';
import { grantLambdaVpcAccess } from '../../core/access';
import { LakehouseDeployRules } from '../../core/deploy-rules';
import { ILakehouse, LakeLayout } from '../../core/lake';
import { lakeLogGroup } from '../../core/log-encryption';
import { MERGE_METRICS_NAMESPACE, MergeJob } from '../../core/merge-job';
import { MERGE_SETTING_NAMES, validateMergeSettings } from '../../core/merge-job-settings';
import { acknowledgeInlinePolicies, NagReasons, suppressNag } from '../../core/nag';
import { defaultPipelineName, pipelineIdentifier, validatePipelineName } from '../../core/naming';
import {
  FreshnessSignal, IDataPipeline, LabeledMetric, PipelineKind, PipelineMetrics, QuarantineLocation,
} from '../../core/pipeline';
import { TableQualityRules } from '../../core/quality-rules';
import { renderQualityRules } from '../../core/quality-rules-render';
import { resolveRemovalPolicy } from '../../core/removal';
import { validateScheduleExpression } from '../../core/schedule';
import { propError } from '../../core/validation';

const NAME = 'CdcIngestion';
const SERVERLESS_CAPACITY = [1, 2, 4, 8, 16, 32, 64, 128, 192, 256, 384];

/**
 * PostgreSQL changes into upsertable lakehouse tables.
 *
 * AWS DMS (serverless by default) reads a full load and then the write-ahead log of the source,
 * and writes every change unchanged into the raw zone as Parquet under
 * `<pipelineName>/<schema>/<table>/` (date partitions for changes), with the operation (`Op`),
 * the commit timestamp and DMS's change sequence on every row. One Glue 5.0 Spark job, on a
 * schedule or started by hand, merges the new change files into one curated Iceberg table per
 * source table: per primary key the last change in commit order wins, deletes delete, a file is
 * never merged twice and a re-run changes nothing. Slow sources can be pulled by a watermark
 * column instead, through the same merge; a source whose tables are all pulled deploys no DMS at
 * all. A preflight function tells what the source lacks for CDC.
 *
 * Per table the stack gains no CloudFormation resource (a CDC table is one DMS selection rule
 * and one entry of the job's arguments; a pulled table with its own schedule adds one schedule),
 * so 100 tables fit easily in one stack.
 *
 * @example
 * declare const lake: LakehouseTier;
 * declare const vpc: ec2.IVpc;
 * declare const dbSecret: secretsmanager.ISecret;
 * declare const dbSecurityGroup: ec2.ISecurityGroup;
 *
 * new CdcIngestion(this, 'Orders', {
 *   lake,
 *   pipelineName: 'shop',
 *   vpc,
 *   source: { secret: dbSecret, databaseName: 'shop', securityGroup: dbSecurityGroup },
 *   tables: [
 *     { name: 'public.orders', primaryKey: ['id'] },
 *     { name: 'sales.*', primaryKey: ['id'] },
 *     { name: 'legacy.invoices', primaryKey: ['invoice_no'], mode: CdcTableMode.PULL, watermarkColumn: 'updated_at' },
 *   ],
 * });
 */
export class CdcIngestion extends Construct implements IDataPipeline, ec2.IConnectable {
  /**
   * CloudWatch namespace of the merge job's metrics: the one every merge of the library publishes
   * (`MERGE_METRICS_NAMESPACE`), plus CDC's own `FilesMerged`.
   */
  public static readonly METRICS_NAMESPACE = MERGE_METRICS_NAMESPACE;

  /**
   * Name of the curated table the merge job keeps for source table `schema.table`:
   * `<prefix><schema>_<table>`, lowercased, anything outside `[a-z0-9_]` replaced by `_`.
   * @param tableNamePrefix the prefix of the curated table names (`tableNamePrefix`)
   * @param schema the source schema
   * @param table the source table
   */
  public static curatedTableName(tableNamePrefix: string, schema: string, table: string): string {
    return curatedTableName(tableNamePrefix, schema, table);
  }

  public readonly pipelineName: string;
  public readonly pipelineKind = PipelineKind.CDC;
  public readonly pipelineMetrics: PipelineMetrics;
  public readonly freshness: FreshnessSignal[];
  public readonly deadLetterQueues: sqs.IQueue[];
  public readonly quarantines: QuarantineLocation[];
  public readonly pipelineAlarms: cloudwatch.IAlarm[];
  public readonly failureEvents: events.EventPattern[];
  public readonly logGroups: logs.ILogGroup[];

  /** The lake the pipeline writes into. */
  public readonly lake: ILakehouse;
  /** Network access of DMS, the preflight function and the pull connection (allow it into the database). */
  public readonly connections: ec2.Connections;
  /** Security group of the DMS replication; undefined when every table is pulled (no DMS). */
  public readonly replicationSecurityGroup?: ec2.SecurityGroup;
  /** Subnet group DMS runs in; undefined when every table is pulled (no DMS). */
  public readonly replicationSubnetGroup?: dms.CfnReplicationSubnetGroup;
  /** The PostgreSQL source endpoint; undefined when every table is pulled (no DMS). */
  public readonly sourceEndpoint?: dms.CfnEndpoint;
  /** The S3 target endpoint (raw zone, Parquet); undefined when every table is pulled (no DMS). */
  public readonly targetEndpoint?: dms.CfnEndpoint;
  /** Role DMS reads the source secret with; undefined when every table is pulled (no DMS). */
  public readonly sourceAccessRole?: iam.Role;
  /** Role DMS writes the raw zone with; undefined when every table is pulled (no DMS). */
  public readonly targetAccessRole?: iam.Role;
  /** The DMS Serverless replication; undefined with `DmsCapacityMode.PROVISIONED`. */
  public readonly replicationConfig?: dms.CfnReplicationConfig;
  /** The replication instance; undefined with `DmsCapacityMode.SERVERLESS`. */
  public readonly replicationInstance?: dms.CfnReplicationInstance;
  /** The replication task; undefined with `DmsCapacityMode.SERVERLESS`. */
  public readonly replicationTask?: dms.CfnReplicationTask;
  /** ARN of the replication config (serverless) or task (provisioned); undefined when every table is pulled (no DMS). */
  public readonly replicationArn?: string;
  /** The account-level DMS roles, when this stack creates them (`DmsAccountRoles.CREATE`). */
  public readonly dmsVpcRole?: iam.Role;
  /** See `dmsVpcRole`. */
  public readonly dmsCloudWatchLogsRole?: iam.Role;
  /** Starts the replication on first deploy; undefined when `startReplication` is off. */
  public readonly replicationStarter?: cr.AwsCustomResource;
  /** The merge: job, role, schedules with their dead-letter queue, merge metrics. */
  public readonly merge: MergeJob;
  /** The merge job (Glue 5.0, PySpark, Iceberg; `merge.job`). */
  public readonly mergeJob: glue.CfnJob;
  /** Name of the merge job (start a run by hand: `aws glue start-job-run --job-name <name>`). */
  public readonly mergeJobName: string;
  /** Role of the merge job. */
  public readonly mergeRole: iam.Role;
  /** Key of the job's logs, DMS storage and the schedule DLQ. */
  public readonly jobEncryptionKey: kms.IKey;
  /** Schedule of the merge (CDC tables). */
  public readonly mergeSchedule: scheduler.Schedule;
  /** Schedules of pulled tables that have their own `pullSchedule`, by table name. */
  public readonly pullSchedules: { [table: string]: scheduler.Schedule };
  /** Where schedules put the job starts they could not deliver. */
  public readonly scheduleDeadLetterQueue: sqs.IQueue;
  /** The JDBC connection pulled tables are read through; undefined without pulled tables. */
  public readonly pullConnection?: glue.CfnConnection;
  /** Security group of the pull connection; undefined without pulled tables. */
  public readonly pullSecurityGroup?: ec2.SecurityGroup;
  /** The preflight check (invoke it to see what CDC would trip on); undefined when turned off. */
  public readonly preflight?: lambda.Function;
  /** Log group of the preflight function. */
  public readonly preflightLogGroup?: logs.LogGroup;
  /** Alarm on a schedule that could not start the merge job. */
  public readonly scheduleDeadLetterAlarm: cloudwatch.IAlarm;
  /** Alarm on changes the merge quarantined. */
  public readonly quarantineAlarm: cloudwatch.Alarm;
  /** Prefix of the change files in the raw zone (`<pipelineName>/`). */
  public readonly rawPrefix: string;
  /** Prefix of the merge job's state (ledger of merged files, pull watermarks) in the raw zone. */
  public readonly statePrefix: string;
  /** Prefix of quarantined changes in the raw zone. */
  public readonly quarantinePrefix: string;
  /** Prefix of the curated table names. */
  public readonly tableNamePrefix: string;
  /** Curated table names of the tables declared by full name (patterns name theirs at run time). */
  public readonly curatedTableNames: string[];

  private readonly specs: CdcTableSpec[];
  private readonly replication?: DmsReplication;

  constructor(scope: Construct, id: string, props: CdcIngestionProps) {
    super(scope, id);
    LakehouseDeployRules._applyTo(this);
    const resolved = resolveProps(this, props);
    const { lake } = props;
    const stack = Stack.of(this);
    this.lake = lake;
    this.pipelineName = resolved.pipelineName;
    this.tableNamePrefix = resolved.tablePrefix;
    this.specs = resolved.specs;
    this.curatedTableNames = this.specs.filter((s) => s.curatedTable).map((s) => s.curatedTable!);
    this.rawPrefix = LakeLayout.dataPrefix(this.pipelineName);
    this.statePrefix = `${LakeLayout.opsPrefix('cdc')}${this.pipelineName}/`;
    this.quarantinePrefix = LakeLayout.quarantinePrefix(this.pipelineName);
    const removalPolicy = resolveRemovalPolicy(this, props.removalPolicy);
    const port = props.source.port ?? 5432;
    const cdcSpecs = this.specs.filter((s) => s.mode === CdcTableMode.CDC);
    const useDms = cdcSpecs.length > 0;
    const pullSpecs = this.specs.filter((s) => s.mode === CdcTableMode.PULL);
    const identifier = dmsIdentifier(this);

    this.jobEncryptionKey = props.jobEncryptionKey ?? new kms.Key(this, 'Key', {
      enableKeyRotation: true,
      description: `CdcIngestion ${this.pipelineName}: DMS storage, merge job logs, schedule DLQ`,
      removalPolicy,
    });

    const subnets = props.vpc.selectSubnets(props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
    this.connections = new ec2.Connections();
    // DMS only replicates CDC tables: a source whose tables are all pulled deploys no DMS resource at all
    // (no security group, subnet group, endpoints, roles, replication or starter).
    if (useDms) {
      // id "Default": the DMS resources keep the logical ids they had before this split (a new id
      // would make CloudFormation replace the replication, which restarts the full load).
      const replication = new DmsReplication(this, 'Default', {
        cdc: props,
        owner: this,
        pipelineName: this.pipelineName,
        lake,
        rawPrefix: this.rawPrefix,
        encryptionKey: this.jobEncryptionKey,
        specs: this.specs,
        identifier,
        subnets,
        minCapacityUnits: resolved.minCapacityUnits,
        maxCapacityUnits: resolved.maxCapacityUnits,
        allocatedStorage: resolved.allocatedStorage,
      });
      this.replication = replication;
      this.connections.addSecurityGroup(replication.replicationSecurityGroup);
      this.replicationSecurityGroup = replication.replicationSecurityGroup;
      this.replicationSubnetGroup = replication.replicationSubnetGroup;
      this.sourceEndpoint = replication.sourceEndpoint;
      this.targetEndpoint = replication.targetEndpoint;
      this.sourceAccessRole = replication.sourceAccessRole;
      this.targetAccessRole = replication.targetAccessRole;
      this.replicationConfig = replication.replicationConfig;
      this.replicationInstance = replication.replicationInstance;
      this.replicationTask = replication.replicationTask;
      this.replicationArn = replication.replicationArn;
      this.dmsVpcRole = replication.dmsVpcRole;
      this.dmsCloudWatchLogsRole = replication.dmsCloudWatchLogsRole;
      this.replicationStarter = replication.replicationStarter;
    }

    // The merge job: DMS change files and pulled tables → curated Iceberg.
    if (pullSpecs.length > 0) {
      const pull = this.pullNetwork(props, subnets);
      this.pullSecurityGroup = pull.securityGroup;
      this.pullConnection = pull.connection;
    }
    this.merge = new MergeJob(this, 'Merge', {
      lake,
      pipelineName: this.pipelineName,
      scriptPath: path.join(__dirname, 'glue', 'cdc_merge.py'),
      jobNamePrefix: `${this.pipelineName}-cdc-merge`,
      description: `CdcIngestion ${this.pipelineName}: DMS change files → curated Iceberg (last change per key wins)`,
      jobEncryptionKey: this.jobEncryptionKey,
      workerType: props.mergeWorkerType,
      numberOfWorkers: resolved.workers,
      timeout: props.mergeTimeout,
      flex: props.mergeFlex,
      connections: this.pullConnection ? [this.pullConnection.ref] : undefined,
      // The merge schedule runs every table except the pulled ones that have a schedule of their
      // own (`ownSchedule` in the job's table list).
      schedule: props.mergeSchedule ?? scheduler.ScheduleExpression.rate(Duration.hours(1)),
      removalPolicy,
      qualityRules: resolved.qualityRules,
      arguments: {
        '--source_name': this.pipelineName,
        '--raw_bucket': lake.raw.bucket.bucketName,
        '--raw_prefix': this.rawPrefix,
        '--database': lake.curated.databaseName,
        '--table_prefix': this.tableNamePrefix,
        '--tables': stack.toJsonString(this.specs.map(jobTableEntry)),
        '--state_prefix': this.statePrefix,
        '--quarantine_prefix': this.quarantinePrefix,
        '--maintenance': String(props.maintenance ?? true),
        '--snapshot_retention_hours': String(resolved.retentionHours),
        ...(pullSpecs.length > 0 ? { '--jdbc_secret_id': props.source.secret.secretArn, '--jdbc_database': props.source.databaseName } : {}),
      },
    });
    // Raw: change files (read; pulled rows are written there too), the ledger, the quarantine.
    for (const prefix of [this.rawPrefix, this.statePrefix, this.quarantinePrefix]) lake.raw.grantReadWrite(this.merge.role, prefix);
    // Curated: the job creates and evolves the tables it owns (`<prefix>*`).
    lake.curated.grantReadWrite(this.merge.role, this.tableNamePrefix);
    if (pullSpecs.length > 0) props.source.secret.grantRead(this.merge.role);
    this.mergeJob = this.merge.job;
    this.mergeJobName = this.merge.jobName;
    this.mergeRole = this.merge.role;
    this.mergeSchedule = this.merge.schedules[0];
    this.scheduleDeadLetterQueue = this.merge.scheduleDeadLetterQueue!;
    this.scheduleDeadLetterAlarm = this.merge.scheduleDeadLetterAlarm!;
    // Schedules send only the table of a pull: the table list lives in the job's arguments.
    this.pullSchedules = {};
    pullSpecs.filter((s) => s.pullSchedule).forEach((s, i) => {
      this.pullSchedules[s.name] = this.merge.addSchedule(`PullSchedule${i}`, {
        schedule: s.pullSchedule!,
        description: `CdcIngestion ${this.pipelineName}: pull ${s.name}`,
        arguments: { '--only_table': s.name },
      });
    });

    if (props.preflightFunction ?? useDms) {
      const preflight = this.preflightCheck(props, cdcSpecs, removalPolicy);
      this.preflight = preflight.fn;
      this.preflightLogGroup = preflight.logGroup;
    }
    // Network rules into the source: DMS, the preflight function, the pull connection.
    // `remoteRule: true` is what `Connections.allowTo` passes: when the database's group lives in
    // another stack (a network stack), the rule is created in this construct's stack, next to the
    // group it admits, so the network stack never depends on this one (aws-ec2 `determineRuleScope`).
    // In one stack the rule stays where it always was.
    const sourceGroup = props.source.securityGroup;
    if (sourceGroup) {
      for (const group of this.connections.securityGroups) {
        // remoteRule: when the database's group lives in another stack (a network stack), the rule
        // is created in this one, so that stack never depends on this one (which would be a cycle).
        sourceGroup.addIngressRule(group, ec2.Port.tcp(port), `CdcIngestion ${this.pipelineName}`, true);
      }
    }

    const contract = this.contract();
    this.pipelineMetrics = contract.pipelineMetrics;
    this.freshness = contract.freshness;
    this.quarantines = contract.quarantines;
    this.deadLetterQueues = [this.scheduleDeadLetterQueue];
    this.quarantineAlarm = contract.quarantineAlarm;
    this.pipelineAlarms = [this.scheduleDeadLetterAlarm, this.quarantineAlarm];
    if (this.merge.auditFailureAlarm) this.pipelineAlarms.push(this.merge.auditFailureAlarm);
    this.failureEvents = contract.failureEvents;
    this.logGroups = this.preflightLogGroup ? [this.preflightLogGroup] : [];

    this.suppressJustifiedFindings();
    this.acknowledgeNistFindings();
  }

  /** The Glue NETWORK connection pulled tables are read through, and its security group. */
  private pullNetwork(props: CdcIngestionProps, subnets: ec2.SelectedSubnets) {
    const securityGroup = new ec2.SecurityGroup(this, 'PullSecurityGroup', {
      vpc: props.vpc,
      description: `CdcIngestion ${this.pipelineName}: Glue pull connection`,
      allowAllOutbound: true,
    });
    // Glue's workers talk to each other: a JDBC connection's group must admit itself.
    securityGroup.addIngressRule(securityGroup, ec2.Port.allTcp(), 'Glue workers of the pull connection');
    this.connections.addSecurityGroup(securityGroup);
    const subnet = subnets.subnets[0];
    const connection = new glue.CfnConnection(this, 'PullConnection', {
      catalogId: Stack.of(this).account,
      connectionInput: {
        // The name the connection had before MergeJob (the merge job's old name + "-pull").
        name: `${this.pipelineName}-cdc-merge-${Names.uniqueResourceName(this, { maxLength: 20 })}-pull`.slice(0, 255),
        description: `CdcIngestion ${this.pipelineName}: network path to the source for pulled tables`,
        connectionType: 'NETWORK',
        physicalConnectionRequirements: {
          subnetId: subnet.subnetId,
          availabilityZone: subnet.availabilityZone,
          securityGroupIdList: [securityGroup.securityGroupId],
        },
      },
    });
    return { securityGroup, connection };
  }

  /** The preflight function (in the VPC, reads the source secret) that reports what CDC would trip on. */
  private preflightCheck(props: CdcIngestionProps, cdcSpecs: CdcTableSpec[], removalPolicy: RemovalPolicy) {
    const logGroup = lakeLogGroup(this, 'PreflightLogs', {
      userKey: props.logEncryptionKey, constructKey: this.jobEncryptionKey, keyProp: 'logEncryptionKey', retention: logs.RetentionDays.ONE_YEAR, removalPolicy,
    });
    const role = new iam.Role(this, 'PreflightRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `CdcIngestion ${this.pipelineName}: preflight check`,
    });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    // A VPC function: Lambda checks at create time that the role can manage its network interfaces
    // (Lambda guide, "Giving Lambda functions access to a VPC"); LakehouseDeployRules refuses it without.
    grantLambdaVpcAccess(role);
    const securityGroup = new ec2.SecurityGroup(this, 'PreflightSecurityGroup', {
      vpc: props.vpc,
      description: `CdcIngestion ${this.pipelineName}: preflight check`,
      allowAllOutbound: true,
    });
    this.connections.addSecurityGroup(securityGroup);
    const fn = new PreflightFunction(this, 'Preflight', {
      role,
      description: `CdcIngestion ${this.pipelineName}: reports what CDC from the source would trip on`,
      timeout: Duration.minutes(1),
      memorySize: 256,
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [securityGroup],
      environment: {
        [PREFLIGHT_CONFIG_ENV]: Stack.of(this).toJsonString(<PreflightFunctionConfig>{
          secretArn: props.source.secret.secretArn,
          databaseName: props.source.databaseName,
          sslMode: props.source.sslMode ?? PostgresSslMode.REQUIRE,
          tables: cdcSpecs.map((s) => ({ name: s.name, primaryKey: s.primaryKey })),
          // What the replication's LOB settings are, so LOB warnings match the task.
          fullLobMode: false,
          lobMaxSizeKb: LOB_MAX_SIZE_KB,
        }),
      },
    });
    props.source.secret.grantRead(role);
    return { fn, logGroup };
  }

  /** Metrics, freshness, quarantine, dead-letter queues, alarms and failure events of the pipeline contract. */
  private contract() {
    const quarantined = this.merge.metricQuarantined();
    // Tables the merge job could not merge this run (a type change Iceberg cannot widen, a name
    // clash of wildcard tables): the job merges the others, then fails naming these.
    const tablesFailed = this.merge.metricTablesFailed();
    const additional: LabeledMetric[] = [
      // DMS's latency only where DMS runs (a pull-only source has none).
      ...(this.replication ? [
        { label: 'CDC latency, source (s)', metric: this.replication.metricLatency('CDCLatencySource', 'CDC latency source') },
        { label: 'CDC latency, target (s)', metric: this.replication.metricLatency('CDCLatencyTarget', 'CDC latency target') },
      ] : []),
      { label: 'Change files merged', metric: this.merge.metric('FilesMerged') },
      { label: 'Changes quarantined', metric: quarantined },
      { label: 'Tables that failed to merge', metric: tablesFailed },
      { label: 'Merge run time (s)', metric: this.merge.metricRunTime() },
    ];
    const pipelineMetrics: PipelineMetrics = {
      throughput: this.merge.metricRowsMerged(),
      // A quarantined change or a table that failed to merge each needs a look.
      errors: new cloudwatch.MathExpression({
        expression: 'FILL(quarantined, 0) + FILL(tablesFailed, 0)',
        usingMetrics: { quarantined, tablesFailed },
        label: 'Changes quarantined + tables failed',
        period: Duration.minutes(5),
      }),
      // How old the newest change of a run was when it reached the curated table.
      lagMillis: new cloudwatch.MathExpression({
        expression: 'age * 1000',
        usingMetrics: { age: this.merge.metricCommitAge() },
        label: 'Change age at merge (ms)',
        period: Duration.minutes(5),
      }),
      additional,
    };
    // Freshness on the curated table's commits. A pattern names its tables at run time: its
    // signal counts the commits of every table of the pipeline.
    const freshness: FreshnessSignal[] = this.specs.map((s) => ({
      dataset: s.curatedTable ?? `${this.tableNamePrefix}${s.name}`,
      arrivals: this.merge.metricTableCommits(s.curatedTable ? { dimensionsMap: { Table: s.curatedTable } } : undefined),
      expectedInterval: s.expectedInterval,
      ...(s.curatedTable ? this.merge.qualitySignals(s.curatedTable) : {}),
    }));
    const quarantines: QuarantineLocation[] = [{ bucket: this.lake.raw.bucket, prefix: this.quarantinePrefix, count: quarantined }];
    const quarantineAlarm = new cloudwatch.Alarm(this, 'QuarantineAlarm', {
      alarmDescription: `CdcIngestion ${this.pipelineName}: the merge quarantined changes (see ${this.quarantinePrefix} in the raw zone)`,
      metric: quarantined,
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const failureEvents: events.EventPattern[] = [this.merge.failureEvent, ...(this.replication ? [this.replication.failureEvent] : [])];
    return { pipelineMetrics, freshness, quarantines, quarantineAlarm, failureEvents };
  }

  /**
   * Lets a principal start a merge run by hand (all tables, or `--only_table`).
   * @param grantee the principal that gets the access
   */
  public grantStartMerge(grantee: iam.IGrantable): iam.Grant {
    return this.merge.grantStartRun(grantee);
  }

  /** NIST 800-53 R5 findings on resources this construct creates, each with its reason. */
  private acknowledgeNistFindings(): void {
    acknowledgeInlinePolicies(this, 'CdcIngestion');
    if (this.preflight) {
      suppressNag(this.preflight, [
        {
          id: 'NIST.800.53.R5-LambdaDLQ',
          reason: NagReasons.synchronousLambda('The preflight check', 'the person or pipeline that runs it (`aws lambda invoke`, RequestResponse) and reads its report'),
        },
        { id: 'NIST.800.53.R5-LambdaConcurrency', reason: NagReasons.noReservedConcurrency('The preflight check', 'the people who run it by hand (one report per run)') },
      ]);
    }
    for (const alarm of this.pipelineAlarms) {
      suppressNag(alarm, [{ id: 'NIST.800.53.R5-CloudWatchAlarmAction', reason: NagReasons.alarmWithoutAction(alarm.node.id) }]);
    }
  }

  private suppressJustifiedFindings(): void {
    if (this.preflight) {
      suppressNag(this.preflight.role!.node.findChild('DefaultPolicy'), [{
        id: 'AwsSolutions-IAM5',
        reason: 'X-Ray tracing (PutTraceSegments, PutTelemetryRecords) and the network interface actions Lambda needs for a '
          + 'function in a VPC have no narrower resource than "*".',
        appliesTo: ['Resource::*'],
      }]);
    }
  }
}

interface ResolvedProps {
  readonly pipelineName: string;
  readonly tablePrefix: string;
  readonly specs: CdcTableSpec[];
  readonly minCapacityUnits: number;
  readonly maxCapacityUnits: number;
  readonly allocatedStorage: number;
  readonly workers: number;
  readonly retentionHours: number;
  readonly qualityRules: TableQualityRules[];
}

/** All prop validation, in one place. */
function resolveProps(scope: Construct, props: CdcIngestionProps): ResolvedProps {
  const name = props.pipelineName ?? defaultPipelineName(scope);
  validatePipelineName(NAME, name);
  const tablePrefix = props.tableNamePrefix ?? `${pipelineIdentifier(name)}_`;
  if (!/^[a-z0-9_]*$/.test(tablePrefix)) {
    throw propError(NAME, 'tableNamePrefix', `"${tablePrefix}" may only hold lowercase letters, digits and "_"`, `use a prefix such as "${name}_"`);
  }
  // At least one table (resolveTables); a source whose tables are all pulled deploys without DMS.
  const specs = resolveTables(props.tables, tablePrefix);
  // Quality rules are keyed by curated table: a pattern names its tables at run time.
  props.tables.forEach((t, i) => {
    if (t.qualityRules && t.qualityRules.length > 0 && specs[i].wildcard) {
      throw propError(NAME, `tables[${i}].qualityRules`, `"${t.name}" is a pattern, whose curated tables are named at run time`,
        'declare the tables that need rules by their full name ("schema.table")');
    }
  });
  const qualityRules = props.tables.flatMap((t, i) => ((t.qualityRules ?? []).length > 0 ? [{ table: specs[i].curatedTable!, rules: t.qualityRules!, prop: `tables[${i}].qualityRules` }] : []));
  renderQualityRules(NAME, qualityRules);
  if (!specs.some((s) => s.mode === CdcTableMode.CDC)) {
    if (props.dmsAccountRoles === DmsAccountRoles.CREATE) {
      throw propError(NAME, 'dmsAccountRoles', 'every table is pulled, so no DMS is deployed and the account-level DMS roles would be created for nothing '
        + '(and deleted from the account if this stack created them before)',
      'remove dmsAccountRoles; if other DMS replications in the account use the roles this stack created, create them in another stack first');
    }
    if (props.preflightFunction === true) {
      throw propError(NAME, 'preflightFunction', 'every table is pulled; the preflight checks what DMS CDC needs (logical replication, a slot), which a pull does not use',
        'remove preflightFunction (it defaults to off for a source whose tables are all pulled)');
    }
    // A run without --only_table merges every table without a schedule of its own; with none, the
    // job fails the run (glue/cdc_merge.py `run`), so every merge schedule run would fail.
    if (specs.every((s) => s.pullSchedule !== undefined)) {
      throw propError(NAME, 'tables', 'every table is pulled on a pullSchedule of its own, so each run of the merge schedule would have no table to merge '
        + '(the merge job fails such a run)', 'leave pullSchedule off one table: it is then pulled on mergeSchedule (set mergeSchedule to the schedule it needs)');
    }
  }
  if (!props.source?.secret) throw propError(NAME, 'source.secret', 'no secret is given', 'give the secret with username, password, host and port');
  if (!Token.isUnresolved(props.source.databaseName) && !/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(props.source.databaseName ?? '')) {
    throw propError(NAME, 'source.databaseName', `"${props.source.databaseName}" is not a PostgreSQL database name`, 'give the database name, e.g. "shop"');
  }
  if (props.source.sslMode === PostgresSslMode.VERIFY_FULL && !props.source.certificateArn) {
    throw propError(NAME, 'source.certificateArn', 'PostgresSslMode.VERIFY_FULL needs the CA certificate to verify against',
      'import the RDS CA bundle into DMS (aws dms import-certificate) and give its ARN, or use PostgresSslMode.REQUIRE');
  }
  const port = props.source.port ?? 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw propError(NAME, 'source.port', `${port} is not a TCP port`, 'give the database port, e.g. 5432');

  const minCapacityUnits = props.minCapacityUnits ?? 1;
  const maxCapacityUnits = props.maxCapacityUnits ?? 4;
  for (const [prop, value] of [['minCapacityUnits', minCapacityUnits], ['maxCapacityUnits', maxCapacityUnits]] as const) {
    if (!SERVERLESS_CAPACITY.includes(value)) {
      throw propError(NAME, prop, `${value} is not a DMS capacity unit count DMS accepts`, `use one of ${SERVERLESS_CAPACITY.join(', ')}`);
    }
  }
  if (minCapacityUnits > maxCapacityUnits) {
    throw propError(NAME, 'minCapacityUnits', `${minCapacityUnits} is above maxCapacityUnits (${maxCapacityUnits})`, 'make minCapacityUnits at most maxCapacityUnits');
  }
  const allocatedStorage = props.allocatedStorageGiB ?? 50;
  if (!Number.isInteger(allocatedStorage) || allocatedStorage < 5 || allocatedStorage > 6144) {
    throw propError(NAME, 'allocatedStorageGiB', `${allocatedStorage} is outside 5-6144 GiB`, 'give a whole number of GiB between 5 and 6144');
  }
  const workers = props.mergeNumberOfWorkers ?? 2;
  const retention = props.snapshotRetention ?? Duration.days(7);
  const retentionHours = retention.toHours({ integral: false });
  if (!Number.isInteger(retentionHours) || retentionHours < 1) {
    throw propError(NAME, 'snapshotRetention', `${retention.toHumanString()} is not a whole number of hours (at least 1)`, 'use e.g. Duration.days(7)');
  }
  validateMergeSettings(NAME, MERGE_SETTING_NAMES, {
    workerType: props.mergeWorkerType,
    numberOfWorkers: workers,
    timeout: props.mergeTimeout ?? Duration.hours(2),
    flex: props.mergeFlex,
    schedule: props.mergeSchedule,
  });
  props.tables.forEach((t, i) => {
    if (t.pullSchedule) validateScheduleExpression(NAME, `tables[${i}].pullSchedule`, t.pullSchedule);
  });
  return {
    pipelineName: name,
    tablePrefix,
    specs,
    minCapacityUnits,
    maxCapacityUnits,
    allocatedStorage,
    workers,
    retentionHours,
    qualityRules: qualityRules.map(({ table, rules }) => ({ table, rules })),
  };
}
