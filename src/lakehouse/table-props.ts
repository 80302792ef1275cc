import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { DataFormat } from './data-format';
import { PartitionProjection } from './partition-projection';
import { ILakeZone } from '../core/lake';

/** A table column. */
export interface Column {
  /** Column name (lowercase letters, digits, underscores). */
  readonly name: string;
  /** Hive/Athena type, e.g. `string`, `bigint`, `timestamp`, `struct<a:int>`. */
  readonly type: string;
  /**
   * Column comment.
   * @default - none
   */
  readonly comment?: string;
}

/** A partition key of a raw table. */
export interface PartitionKey {
  /** Key name, also its path segment (`name=value/` in Hive-style paths). */
  readonly name: string;
  /**
   * Hive type of the key.
   * @default 'string'
   */
  readonly type?: string;
  /**
   * How Athena projects the key's values.
   * @default PartitionProjection.injected()
   */
  readonly projection?: PartitionProjection;
}

/** What a raw table needs beyond its zone. */
export interface RawTableOptions {
  /** Glue table name. */
  readonly tableName: string;
  /** Columns of the data (partition keys excluded). */
  readonly columns: Column[];
  /**
   * File format of the objects.
   * @default DataFormat.JSON_LINES
   */
  readonly format?: DataFormat;
  /**
   * Partition keys in path order, e.g. `event_type`, `event_subtype`, `year`, `month`, `day`.
   * Athena finds partitions by projection, so no crawler is needed.
   * @default - not partitioned
   */
  readonly partitionKeys?: PartitionKey[];
  /**
   * Whether partition paths are Hive-style (`key=value/`) or values only (`value/`).
   * @default true
   */
  readonly hivePartitionPaths?: boolean;
  /**
   * S3 prefix of the data inside the zone bucket.
   * @default LakeLayout.dataPrefix(tableName)
   */
  readonly prefix?: string;
  /**
   * Table description.
   * @default - none
   */
  readonly description?: string;
}

/** Props of a raw table. */
export interface RawTableProps extends RawTableOptions {
  /** The zone the table lives in. */
  readonly zone: ILakeZone;
}

/** The Glue table optimizers of an Iceberg table. All on by default. */
export interface IcebergOptimizerOptions {
  /**
   * Compaction of small files.
   * @default true
   */
  readonly compaction?: boolean;
  /**
   * Snapshot retention (expires old snapshots and the files only they reference).
   * @default true
   */
  readonly snapshotRetention?: boolean;
  /**
   * Days a snapshot is kept (time travel reaches this far back).
   * @default 5
   */
  readonly snapshotRetentionDays?: number;
  /**
   * Snapshots always kept, however old.
   * @default 1
   */
  readonly snapshotsToRetain?: number;
  /**
   * Deletion of files no snapshot references (left by failed writes).
   * @default true
   */
  readonly orphanFileDeletion?: boolean;
  /**
   * Days an unreferenced file is kept before deletion.
   * @default 3
   */
  readonly orphanFileRetentionDays?: number;
}

/** What an Iceberg table needs beyond its zone. */
export interface IcebergTableOptions {
  /** Glue table name. */
  readonly tableName: string;
  /**
   * Columns when the table is created; at least one. Later schema changes are the engines'
   * (Spark schema evolution, Athena `ALTER TABLE ADD COLUMNS`): editing this list does not
   * change an existing table.
   */
  readonly columns: Column[];
  /**
   * S3 prefix of the table inside the zone bucket.
   * @default LakeLayout.dataPrefix(tableName)
   */
  readonly prefix?: string;
  /**
   * Table description, set when the table is created. Later changes are not sent to Glue
   * (the table's metadata belongs to the engines once it exists; see docs/iceberg-tables.md).
   * @default - none
   */
  readonly description?: string;
  /**
   * What happens to the table's catalog entry when the stack deletes it. `RETAIN` keeps the
   * entry (and so the pointer to the table's current Iceberg metadata); a later deploy adopts it.
   * Data and metadata files in S3 follow the bucket's own removal policy either way.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Glue table optimizers.
   * @default - compaction, snapshot retention (5 days, 1 snapshot) and orphan-file deletion (3 days)
   */
  readonly optimizers?: IcebergOptimizerOptions;
  /**
   * Role the Glue optimizers assume.
   * @default - one role per zone and stack, shared by all Iceberg tables of the zone
   */
  readonly optimizerRole?: iam.IRole;
}

/** Props of an Iceberg table. */
export interface IcebergTableProps extends IcebergTableOptions {
  /** The zone the table lives in. */
  readonly zone: ILakeZone;
}
