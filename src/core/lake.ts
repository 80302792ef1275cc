import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { IConstruct } from 'constructs';

/** The three zones of a lake, in the order data moves through them. */
export enum LakeZoneName {
  /** Data as it arrived, unchanged: replayable source of truth. */
  RAW = 'raw',
  /** Validated, typed and de-duplicated data. */
  CLEAN = 'clean',
  /** Business-ready tables (Apache Iceberg) that people query. */
  CURATED = 'curated',
}

/**
 * The S3 key layout every construct in this library shares, so that no user has to repeat a
 * string convention: data of a dataset under `<dataset>/`, records that could not be processed
 * under `_quarantine/<dataset>/`, the lake's own logs and events under `_ops/`.
 */
export class LakeLayout {
  /** Root of all quarantine prefixes. */
  public static readonly QUARANTINE_ROOT = '_quarantine/';

  /** Root of all operational prefixes. */
  public static readonly OPS_ROOT = '_ops/';
  /**
   * Prefix under which a dataset (a table, a source, a pipeline's output) keeps its data.
   * @param dataset the dataset (or pipeline) name
   */
  public static dataPrefix(dataset: string): string {
    return `${trimSlashes(dataset)}/`;
  }

  /**
   * Prefix for a dataset's quarantined records (bad input kept with its reason, never dropped).
   * @param dataset the dataset (or pipeline) name
   */
  public static quarantinePrefix(dataset: string): string {
    return `${LakeLayout.QUARANTINE_ROOT}${trimSlashes(dataset)}/`;
  }

  /**
   * Prefix for the lake's own operational data (logs, job events) of one kind.
   * @param kind the kind of pipeline, e.g. `cdc`
   */
  public static opsPrefix(kind: string): string {
    return `${LakeLayout.OPS_ROOT}${trimSlashes(kind)}/`;
  }
}

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}

/**
 * One zone of a lake as an input to any construct: where its data lives (bucket, key), where it
 * is catalogued (Glue database) and how to grant access to it.
 */
export interface ILakeZone extends IConstruct {
  /** Which zone this is (`raw`, `clean` or `curated`). */
  readonly zoneName: string;
  /** The bucket holding the zone's data. */
  readonly bucket: s3.IBucket;
  /** The KMS key the zone's data is encrypted with. */
  readonly encryptionKey: kms.IKey;
  /** The Glue database cataloguing the zone's tables. */
  readonly databaseName: string;
  /** ARN of the Glue database. */
  readonly databaseArn: string;
  /** ARN of the Glue Data Catalog the database lives in. */
  readonly catalogArn: string;

  /**
   * `s3://bucket/prefix` for a prefix of this zone (the bucket root when no prefix is given).
   * @param prefix a key prefix inside the zone
   */
  s3Url(prefix?: string): string;

  /**
   * Lets a principal read the zone (or one prefix of it) and its catalog: S3 get/list, KMS
   * decrypt, Glue get on the database and its tables. Explicit actions only, scoped to this
   * zone's resources.
   *
   * @param grantee who gets the access
   * @param prefix limit S3 access to this prefix (default: the whole zone)
   */
  grantRead(grantee: iam.IGrantable, prefix?: string): iam.Grant;

  /**
   * Everything `grantRead` gives, plus S3 put/delete, KMS data keys and Glue table and
   * partition writes in the zone's database.
   *
   * @param grantee who gets the access
   * @param prefix limit S3 access to this prefix (default: the whole zone)
   */
  grantReadWrite(grantee: iam.IGrantable, prefix?: string): iam.Grant;
}

/** A lake: three zones sharing one key. What every ingestion and serving construct takes. */
export interface ILakehouse extends IConstruct {
  /** Name of the lake, used as the prefix of its Glue databases. */
  readonly lakeName: string;
  /** The raw zone: data exactly as it arrived. */
  readonly raw: ILakeZone;
  /** The clean zone: validated, typed data. */
  readonly clean: ILakeZone;
  /** The curated zone: Iceberg tables people query. */
  readonly curated: ILakeZone;
  /** The key all zones are encrypted with. */
  readonly encryptionKey: kms.IKey;

  /**
   * The zone of that name.
   * @param name raw, clean or curated
   */
  zone(name: LakeZoneName): ILakeZone;
}

/** A table registered in a zone's Glue database. */
export interface ILakeTable extends IConstruct {
  /** Glue table name. */
  readonly tableName: string;
  /** The zone (and so bucket, key and database) the table lives in. */
  readonly zone: ILakeZone;
  /** S3 prefix of the table's data inside the zone bucket, ending with `/`. */
  readonly prefix: string;
  /** ARN of the Glue table. */
  readonly tableArn: string;

  /**
   * Lets a principal read this table only: its S3 prefix, its key, its catalog entry.
   * @param grantee who gets the access
   */
  grantRead(grantee: iam.IGrantable): iam.Grant;

  /**
   * Lets a principal read and write this table only (data objects, partitions, table metadata).
   * @param grantee who gets the access
   */
  grantReadWrite(grantee: iam.IGrantable): iam.Grant;
}
