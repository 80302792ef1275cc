import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ILakehouse } from '../../core/lake';
import { QualityRule } from '../../core/quality-rules';

/** How a source table reaches the lake. */
export enum CdcTableMode {
  /** DMS full load, then ongoing change data capture from the write-ahead log. */
  CDC = 'cdc',
  /**
   * For slow or small sources where CDC is not worth a replication slot: the merge job pulls the
   * rows whose watermark column moved since the last pull (JDBC) and merges them the same way.
   * Deletes at the source are not seen by a pull.
   */
  PULL = 'pull',
}

/** How DMS encrypts the connection to PostgreSQL. */
export enum PostgresSslMode {
  /** TLS required; the server certificate is not checked against a CA. */
  REQUIRE = 'require',
  /** TLS required and the server certificate verified (give `certificateArn`). */
  VERIFY_FULL = 'verify-full',
}

/** The logical decoding plugin DMS reads changes with. */
export enum PostgresCdcPlugin {
  /** `test_decoding`, built into PostgreSQL; what DMS uses when nothing else is installed. */
  TEST_DECODING = 'test_decoding',
  /** `pglogical`, when the extension is installed on the source. */
  PGLOGICAL = 'pglogical',
}

/** The account-level IAM roles DMS expects by name (`dms-vpc-role`, `dms-cloudwatch-logs-role`). */
export enum DmsAccountRoles {
  /**
   * The roles exist in the account already (created by an earlier stack, the console or an
   * administrator). Nothing is created; DMS fails to create the subnet group if they do not exist.
   */
  USE_EXISTING = 'use-existing',
  /**
   * This stack creates both roles. Only one stack per account may do so; deploying it where the
   * roles already exist fails with "dms-vpc-role already exists".
   */
  CREATE = 'create',
}

/** Where DMS runs. */
export enum DmsCapacityMode {
  /** DMS Serverless: capacity scales between `minCapacityUnits` and `maxCapacityUnits`. */
  SERVERLESS = 'serverless',
  /** A provisioned replication instance and one replication task. */
  PROVISIONED = 'provisioned',
}

/** The PostgreSQL database changes come from. */
export interface PostgresSource {
  /**
   * Secret with the connection: `username`, `password`, `host`, `port` (the format RDS and DMS
   * use). The user needs the replication privilege (`rds_replication` on RDS) and SELECT on the
   * tables; run the preflight check to see what is missing.
   */
  readonly secret: secretsmanager.ISecret;
  /** Name of the database inside the server. */
  readonly databaseName: string;
  /**
   * Port the database listens on, for the security group rules.
   * @default 5432
   */
  readonly port?: number;
  /**
   * Security group of the database. When given, DMS, the preflight function and the pull
   * connection are allowed in on `port`; otherwise allow `CdcIngestion.connections` yourself.
   * The rules are created in this construct's stack, so the group may live in a network stack
   * (which then does not depend on this one).
   * @default - no rule is added
   */
  readonly securityGroup?: ec2.ISecurityGroup;
  /**
   * TLS for the DMS connection.
   * @default PostgresSslMode.REQUIRE
   */
  readonly sslMode?: PostgresSslMode;
  /**
   * ARN of a DMS certificate (the RDS CA bundle imported into DMS) for `VERIFY_FULL`.
   * @default - none; required with `PostgresSslMode.VERIFY_FULL`
   */
  readonly certificateArn?: string;
  /**
   * Logical decoding plugin.
   * @default PostgresCdcPlugin.TEST_DECODING
   */
  readonly cdcPlugin?: PostgresCdcPlugin;
  /**
   * Name of an existing logical replication slot for DMS to use.
   * @default - DMS creates and manages its own slot
   */
  readonly slotName?: string;
  /**
   * Write a heartbeat so an idle database does not keep WAL behind the slot (the disk fills up
   * on RDS when nothing changes for days).
   * @default true
   */
  readonly heartbeat?: boolean;
}

/** One source table, or a pattern of tables, and how to key it. */
export interface CdcTable {
  /**
   * `schema.table`; `*` matches any characters in either part (`sales.*`). Tables matched by a
   * pattern are created in the curated zone by the merge job on their first change.
   */
  readonly name: string;
  /** Columns that identify a row. Every table needs one: the last change per key wins. */
  readonly primaryKey: string[];
  /**
   * CDC (DMS) or a scheduled pull by watermark.
   * @default CdcTableMode.CDC
   */
  readonly mode?: CdcTableMode;
  /**
   * With `CdcTableMode.PULL`: the column that moves forward whenever a row changes (e.g.
   * `updated_at`); rows above the last value pulled are pulled.
   * @default - none; required with `CdcTableMode.PULL`
   */
  readonly watermarkColumn?: string;
  /**
   * With `CdcTableMode.PULL`: when to pull.
   * @default - the merge schedule
   */
  readonly pullSchedule?: scheduler.ScheduleExpression;
  /**
   * How often new changes are expected; no merged change for this long makes the table stale
   * in `PipelineObservability`. Whole minutes from 1 minute to 1 day, or whole hours up to 7 days.
   * @default Duration.days(1)
   */
  readonly expectedInterval?: Duration;

  /**
   * Data quality rules of this table's curated table (a table named in full; a pattern's tables are named at run time).
   * Each merge run audits the table's new snapshot on an audit branch and publishes it only when
   * every blocking rule passes (docs/quality-rules.md).
   * @default - no rules: every run publishes
   */
  readonly qualityRules?: QualityRule[];
}

/** Properties of `CdcIngestion`. */
export interface CdcIngestionProps {
  /** The lake: changes land in its raw zone, merged tables live in its curated zone. */
  readonly lake: ILakehouse;
  /**
   * Name of the pipeline: the raw prefix (`<name>/<schema>/<table>/`), the `Pipeline` dimension of
   * its metrics, the prefix of its resource names and, with `-` as `_`, of the curated tables.
   * 1-63 lowercase letters, digits, `-` and `_`, starting with a letter (docs/conventions.md).
   * @default - the construct id in kebab-case, e.g. `Shop` → `shop`
   */
  readonly pipelineName?: string;
  /** The PostgreSQL database to read. */
  readonly source: PostgresSource;
  /**
   * The tables to bring in, each with its primary key (at least one). When every table is
   * `CdcTableMode.PULL`, no DMS resource is deployed: only the merge job, its pull connection
   * and its schedules.
   */
  readonly tables: CdcTable[];
  /** VPC that reaches the database. */
  readonly vpc: ec2.IVpc;
  /**
   * Subnets for DMS, the preflight function and the pull connection (at least two AZs for DMS).
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Serverless DMS or a provisioned replication instance.
   * @default DmsCapacityMode.SERVERLESS
   */
  readonly capacityMode?: DmsCapacityMode;
  /**
   * DMS Serverless: fewest capacity units (1 DCU = 2 GiB).
   * @default 1
   */
  readonly minCapacityUnits?: number;
  /**
   * DMS Serverless: most capacity units (1, 2, 4, 8, 16, 32, 64, 128, 192, 256 or 384).
   * @default 4
   */
  readonly maxCapacityUnits?: number;
  /**
   * Provisioned DMS: instance class.
   * @default 'dms.t3.medium'
   */
  readonly replicationInstanceClass?: string;
  /**
   * Provisioned DMS: storage of the instance in GiB (changes are cached there while the target lags).
   * @default 50
   */
  readonly allocatedStorageGiB?: number;
  /**
   * Run DMS in two availability zones.
   * @default false
   */
  readonly multiAz?: boolean;
  /**
   * Whether this stack creates the account-level DMS roles or uses the ones that exist.
   * Not allowed with `CREATE` when every table is pulled (no DMS is deployed then).
   * @default DmsAccountRoles.USE_EXISTING
   */
  readonly dmsAccountRoles?: DmsAccountRoles;
  /**
   * Start the replication (full load, then CDC) when the stack is first deployed. Turn off to
   * run the preflight check first and start it by hand. Ignored when every table is pulled.
   * @default true
   */
  readonly startReplication?: boolean;
  /**
   * When the merge job runs.
   * @default rate(1 hour)
   */
  readonly mergeSchedule?: scheduler.ScheduleExpression;
  /**
   * Prefix of the curated table names: `<prefix><schema>_<table>`.
   * @default - the pipeline name with `-` as `_`, then `_` (`shop-db` → `shop_db_`)
   */
  readonly tableNamePrefix?: string;
  /**
   * Let the merge job compact a curated table when it needs it (deleted rows at 25 % of its rows,
   * or 64+ data files averaging under 32 MiB) and expire old snapshots, instead of three Glue
   * table optimizers per table (3 resources a table). See docs/cdc-merge-performance.md.
   * @default true
   */
  readonly maintenance?: boolean;
  /**
   * How long the merge job keeps old snapshots (time travel) when `maintenance` is on.
   * @default Duration.days(7)
   */
  readonly snapshotRetention?: Duration;
  /**
   * Deploy a function, in the VPC, that checks the source for what CDC would trip on.
   * A source whose tables are all pulled has nothing for it to check.
   * @default - true when at least one table is `CdcTableMode.CDC`; false when every table is pulled
   */
  readonly preflightFunction?: boolean;
  /**
   * Glue worker type of the merge job.
   * @default 'G.1X'
   */
  readonly mergeWorkerType?: string;
  /**
   * Glue workers of the merge job.
   * @default 2
   */
  readonly mergeNumberOfWorkers?: number;
  /**
   * Longest a merge run may take.
   * @default Duration.hours(2)
   */
  readonly mergeTimeout?: Duration;

  /**
   * Run the merge as Glue Flex (cheaper, may start later; `G.1X` or `G.2X` workers only).
   * @default false
   */
  readonly mergeFlex?: boolean;

  /**
   * Key for the job's logs and bookmarks and DMS's storage.
   * @default - a new key with rotation
   */
  readonly jobEncryptionKey?: kms.IKey;
  /**
   * KMS key of the construct's CloudWatch log groups (its owner must allow logs.<region>.amazonaws.com to use it).
   * @default - the construct's key (`jobEncryptionKey` or the one it creates), when it is a key of this app (the construct adds the CloudWatch Logs statement
   * to its policy); CloudWatch Logs' own encryption when that key is imported
   */
  readonly logEncryptionKey?: kms.IKey;
  /**
   * What happens to the stateful resources (keys, queues) on stack deletion.
   * @default RemovalPolicy.RETAIN, or DESTROY when the context key `cdk-lakehouse:destroyOnRemoval` is `true`
   */
  readonly removalPolicy?: RemovalPolicy;
}
