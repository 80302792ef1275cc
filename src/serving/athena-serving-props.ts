import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ILakehouse, ILakeTable, ILakeZone } from '../core/lake';

/**
 * The Athena engine a workgroup runs. Version 3 is the default; `AUTO` lets Athena upgrade the
 * workgroup when it decides to (queries may then change behaviour without a deployment).
 */
export class AthenaEngineVersion {
  /** Athena engine version 3 (Trino). */
  public static readonly V3 = new AthenaEngineVersion('Athena engine version 3');
  /** Let Athena choose and upgrade the engine. */
  public static readonly AUTO = new AthenaEngineVersion('AUTO');

  /**
   * An engine version by the name Athena gives it, for versions newer than this library.
   * @param name the name of the kind
   */
  public static of(name: string): AthenaEngineVersion {
    return new AthenaEngineVersion(name);
  }

  private constructor(
    /** The engine version as Athena names it (`SelectedEngineVersion`). */
    public readonly name: string,
  ) {}
}

/** The file format a scheduled query leaves its report in. */
export enum ReportFormat {
  /**
   * CSV with a header row: the query's own result file, copied to `<reports>/<query>/<run>.csv`.
   */
  CSV = 'csv',
  /**
   * Parquet (Snappy) written by `UNLOAD` under `<reports>/<query>/<run>/`. The SQL must be a
   * `SELECT` (or `WITH ... SELECT`).
   */
  PARQUET = 'parquet',
}

/** Lake data a principal (or a scheduled query) may read through the workgroup. */
export interface QueryAccess {
  /**
   * Whole zones: every table of the zone's Glue database and every object of its bucket.
   * @default - no zone
   */
  readonly zones?: ILakeZone[];
  /**
   * Single tables: their catalog entry and their S3 prefix only.
   * @default - no table
   */
  readonly tables?: ILakeTable[];
}

/** A saved (named) query people find in the workgroup's Saved queries tab. */
export interface NamedQueryOptions {
  /** Name shown in the console (1-128 characters). */
  readonly queryName: string;
  /** The SQL. */
  readonly sql: string;
  /**
   * Database the query runs in.
   * @default - the lake's curated database
   */
  readonly database?: string;
  /**
   * Description shown in the console.
   * @default - none
   */
  readonly description?: string;
}

/** A query that runs on a schedule and leaves a report in S3. */
export interface ScheduledQueryOptions {
  /**
   * Name of the report: lowercase letters, digits, `_` and `-`, 1-64 characters. It is the
   * report's folder under the reports prefix and appears in every notification.
   */
  readonly queryName: string;
  /** The SQL. For `ReportFormat.PARQUET` a `SELECT` (it is wrapped in `UNLOAD`). */
  readonly sql: string;
  /**
   * When it runs, e.g. `ScheduleExpression.cron({ minute: '0', hour: '6', timeZone: TimeZone.EUROPE_BERLIN })`
   * (a `cron` or `at` expression without a time zone runs in UTC).
   */
  readonly schedule: scheduler.ScheduleExpression;
  /**
   * Database the query runs in (unqualified table names resolve here).
   * @default - the lake's curated database
   */
  readonly database?: string;
  /**
   * Format of the report.
   * @default ReportFormat.CSV
   */
  readonly format?: ReportFormat;
  /**
   * Lake data the query reads; its role gets exactly this (through `grantQuery`).
   * @default - the curated zone
   */
  readonly reads?: QueryAccess;
  /**
   * How long a run may take before it is stopped (the Athena query is cancelled) and reported
   * as failed.
   * @default Duration.hours(1)
   */
  readonly timeout?: Duration;
  /**
   * Whether the schedule is on. Off still deploys the workflow, which can be started by hand.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * Description of the schedule.
   * @default - none
   */
  readonly description?: string;
}

/** Scheduled Iceberg maintenance for a table the Glue optimizers do not cover. */
export interface IcebergMaintenanceOptions {
  /** The Iceberg table. */
  readonly table: ILakeTable;
  /**
   * When it runs, e.g. `ScheduleExpression.cron({ minute: '0', hour: '2', weekDay: 'SUN' })` (a
   * `cron` or `at` expression without a time zone runs in UTC).
   */
  readonly schedule: scheduler.ScheduleExpression;
  /**
   * Run `OPTIMIZE <table> REWRITE DATA USING BIN_PACK` (compacts small files).
   * @default true
   */
  readonly optimize?: boolean;
  /**
   * Run `VACUUM <table>` (expires snapshots and removes orphan files per the table's properties).
   * @default true
   */
  readonly vacuum?: boolean;
  /**
   * How long one run may take.
   * @default Duration.hours(2)
   */
  readonly timeout?: Duration;
}

/** Props of `AthenaServing`. */
export interface AthenaServingProps {
  /** The lake people query. */
  readonly lake: ILakehouse;
  /**
   * Name of the workgroup: 1-128 characters of letters, digits, `.`, `_` and `-`.
   * @default - a name unique to this construct's path
   */
  readonly workGroupName?: string;
  /**
   * Description of the workgroup.
   * @default - names the lake
   */
  readonly description?: string;
  /**
   * Athena engine version.
   * @default AthenaEngineVersion.V3
   */
  readonly engineVersion?: AthenaEngineVersion;
  /**
   * Whether the workgroup's settings (results location, encryption, scan limit) override what a
   * client asks for. Turning this off lets a client write unencrypted results elsewhere.
   * @default true
   */
  readonly enforceWorkGroupConfiguration?: boolean;
  /**
   * Publish per-query CloudWatch metrics (bytes scanned, run time) for the workgroup.
   * @default true
   */
  readonly publishCloudWatchMetrics?: boolean;
  /**
   * The most one query may scan before Athena cancels it (protects the budget). Athena's minimum
   * is 10 MB (10,000,000 bytes). `Size.bytes(0)` removes the limit.
   * @default Size.gibibytes(100)
   */
  readonly bytesScannedCutoffPerQuery?: Size;
  /**
   * Bucket for query results and reports.
   * @default - a new bucket (SSE-KMS with `resultsEncryptionKey`, TLS only, access logs,
   * results expire after `resultsExpiration`)
   */
  readonly resultsBucket?: s3.IBucket;
  /**
   * Key that encrypts query results (SSE_KMS) and reports.
   * @default - the lake's key
   */
  readonly resultsEncryptionKey?: kms.IKey;
  /**
   * KMS key of the construct's CloudWatch log groups (its owner must allow logs.<region>.amazonaws.com to use it).
   * @default - the results key (`resultsEncryptionKey`, else the lake's key), when it is a key of this app (the construct adds the CloudWatch Logs statement
   * to its policy); CloudWatch Logs' own encryption when that key is imported
   */
  readonly logEncryptionKey?: kms.IKey;
  /**
   * Prefix of query results in the results bucket.
   * @default 'results/'
   */
  readonly resultsPrefix?: string;
  /**
   * Prefix of scheduled-query reports in the results bucket (must not overlap `resultsPrefix`,
   * whose objects expire).
   * @default 'reports/'
   */
  readonly reportsPrefix?: string;
  /**
   * How long query results are kept in the bucket this construct creates. `Duration.days(0)`
   * keeps them forever. Only for a created bucket.
   * @default Duration.days(30)
   */
  readonly resultsExpiration?: Duration;
  /**
   * How long reports are kept in the bucket this construct creates. `Duration.days(0)` keeps
   * them forever. Only for a created bucket.
   * @default - kept forever
   */
  readonly reportsExpiration?: Duration;
  /**
   * Where the created results bucket sends its S3 server access logs.
   * @default - the lake's access-logs bucket when the lake is a `LakehouseTier`; otherwise none
   */
  readonly serverAccessLogsBucket?: s3.IBucket;
  /**
   * Topic notified when a scheduled query succeeds (report ready) or fails. The workflows get
   * `sns:Publish` on it; if it is encrypted, also grant its key to each workflow's
   * `stateMachine` (`kms:GenerateDataKey`, `kms:Decrypt`).
   * @default - a new topic, TLS only, encrypted with a new KMS key
   */
  readonly notificationTopic?: sns.ITopic;
  /**
   * Saved queries to create in the workgroup (more with `addNamedQuery`).
   * @default - none
   */
  readonly namedQueries?: NamedQueryOptions[];
  /**
   * Scheduled queries to create (more with `addScheduledQuery`).
   * @default - none
   */
  readonly scheduledQueries?: ScheduledQueryOptions[];
  /**
   * What happens to the results bucket, the workgroup (and its query history), the schedules'
   * dead-letter queue and the log group
   * when they leave the stack. `DESTROY` also empties the results bucket. Set it like the lake's:
   * it is not read from the lake, which may live in another stack or be imported.
   * @default RemovalPolicy.RETAIN, or DESTROY when the context key `cdk-lakehouse:destroyOnRemoval` is `true`
   */
  readonly removalPolicy?: RemovalPolicy;
}
