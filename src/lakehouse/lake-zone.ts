import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { glueArns, grantLakeRead, grantLakeReadWrite, LakeAccess } from '../core/grants';
import { ILakeZone } from '../core/lake';
import { registerImportedNagArn } from '../core/nag';
import { validateGlueName } from '../core/validation';

/** Attributes of a zone that already exists (bucket, key and Glue database). */
export interface LakeZoneAttributes {
  /** Which zone this is (`raw`, `clean` or `curated`). */
  readonly zoneName: string;
  /** The zone's bucket. */
  readonly bucket: s3.IBucket;
  /** The key the zone's data is encrypted with. */
  readonly encryptionKey: kms.IKey;
  /** The zone's existing Glue database. */
  readonly databaseName: string;
}

/** Props of a zone: a bucket and key you already have, and a new Glue database for them. */
export interface LakeZoneProps {
  /** Which zone this is (`raw`, `clean` or `curated`). */
  readonly zoneName: string;
  /** The zone's bucket. */
  readonly bucket: s3.IBucket;
  /** The key the zone's data is encrypted with. */
  readonly encryptionKey: kms.IKey;
  /** Name of the Glue database to create. */
  readonly databaseName: string;
  /**
   * What happens to the Glue database when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The behaviour every zone shares, whether created here or imported. */
abstract class LakeZoneBase extends Construct implements ILakeZone {
  public abstract readonly zoneName: string;
  public abstract readonly bucket: s3.IBucket;
  public abstract readonly encryptionKey: kms.IKey;
  public abstract readonly databaseName: string;

  public get databaseArn(): string {
    return glueArns(this, this.databaseName).databaseArn;
  }

  public get catalogArn(): string {
    return glueArns(this, this.databaseName).catalogArn;
  }

  public s3Url(prefix?: string): string {
    return `s3://${this.bucket.bucketName}/${prefix ?? ''}`;
  }

  public grantRead(grantee: iam.IGrantable, prefix?: string): iam.Grant {
    return grantLakeRead(grantee, this.access(prefix));
  }

  public grantReadWrite(grantee: iam.IGrantable, prefix?: string): iam.Grant {
    return grantLakeReadWrite(grantee, this.access(prefix));
  }

  private access(prefix?: string): LakeAccess {
    const arns = glueArns(this, this.databaseName);
    return {
      bucket: this.bucket,
      key: this.encryptionKey,
      prefix,
      catalogArn: arns.catalogArn,
      databaseArn: arns.databaseArn,
      tableArns: [arns.tableArn('*')],
      createTables: true,
    };
  }
}

/**
 * One zone of a lake: a bucket, its key and a Glue database. `LakehouseTier` makes three; use
 * this class directly to build a zone over buckets you manage yourself, or
 * `LakeZone.fromZoneAttributes` to describe one that already exists.
 *
 * @example
 * declare const lakeKey: kms.IKey;
 *
 * // A zone another team's stack created: register a table in it without owning it.
 * const shared = LakeZone.fromZoneAttributes(this, 'SharedClean', {
 *   zoneName: LakeZoneName.CLEAN,
 *   bucket: s3.Bucket.fromBucketName(this, 'CleanBucket', 'acme-lake-clean'),
 *   encryptionKey: lakeKey,
 *   databaseName: 'acme_clean',
 * });
 * new RawTable(this, 'Customers', {
 *   zone: shared,
 *   tableName: 'customers',
 *   format: DataFormat.PARQUET,
 *   columns: [{ name: 'customer_id', type: 'string' }],
 * });
 */
export class LakeZone extends LakeZoneBase {
  /**
   * Describes an existing zone; creates nothing.
   * @param scope the scope the imported zone is created in
   * @param id the construct id of the imported zone
   * @param attrs the bucket, database and key of the zone
   */
  public static fromZoneAttributes(scope: Construct, id: string, attrs: LakeZoneAttributes): ILakeZone {
    validateGlueName('LakeZone', 'databaseName', attrs.databaseName);
    class Imported extends LakeZoneBase {
      public readonly zoneName = attrs.zoneName;
      public readonly bucket = attrs.bucket;
      public readonly encryptionKey = attrs.encryptionKey;
      public readonly databaseName = attrs.databaseName;
    }
    const zone = new Imported(scope, id);
    registerImportedNagArn(zone, attrs.bucket.bucketArn);
    return zone;
  }

  public readonly zoneName: string;
  public readonly bucket: s3.IBucket;
  public readonly encryptionKey: kms.IKey;
  public readonly databaseName: string;
  /** The Glue database (escape hatch). */
  public readonly cfnDatabase: glue.CfnDatabase;

  constructor(scope: Construct, id: string, props: LakeZoneProps) {
    super(scope, id);
    validateGlueName('LakeZone', 'databaseName', props.databaseName);
    this.zoneName = props.zoneName;
    this.bucket = props.bucket;
    this.encryptionKey = props.encryptionKey;
    this.databaseName = props.databaseName;
    // A bucket the library did not create: its acknowledgements must match it too.
    registerImportedNagArn(this, props.bucket.bucketArn);
    this.cfnDatabase = new glue.CfnDatabase(this, 'Database', {
      catalogId: Stack.of(this).account,
      databaseInput: {
        name: props.databaseName,
        description: `The ${props.zoneName} zone of the lake`,
        locationUri: this.s3Url(),
      },
    });
    this.cfnDatabase.applyRemovalPolicy(props.removalPolicy ?? RemovalPolicy.RETAIN);
  }
}
