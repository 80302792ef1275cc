import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { IcebergTable } from './iceberg-table';
import { LakeCrawler, LakeCrawlerOptions } from './lake-crawler';
import { LakeZone } from './lake-zone';
import { LakehouseTierProps, LakeZoneOptions, ZoneLifecycle } from './lakehouse-tier-props';
import { RawTable } from './raw-table';
import { IcebergTableOptions, RawTableOptions } from './table-props';
import { LakehouseDeployRules } from '../core/deploy-rules';
import { ILakehouse, ILakeZone, LakeZoneName } from '../core/lake';
import { acknowledgeInlinePolicies, NagReasons, suppressNag } from '../core/nag';
import { GLUE_NAME_RULE, stackScopedName } from '../core/naming';
import { resolveRemovalPolicy } from '../core/removal';
import { reportStatement } from '../core/resource-policy';
import { propError, validateGlueName, wholeDays } from '../core/validation';

// The context key lives in core/ (every construct reads it); exported here too, where it always was.
export { DESTROY_ON_REMOVAL_CONTEXT } from '../core/removal';

/** Lifecycle defaults per zone, in days; 0 means off. Raw is written once and read rarely. */
const LIFECYCLE_DEFAULTS: Record<LakeZoneName, Required<Record<keyof ZoneLifecycle, number>>> = {
  [LakeZoneName.RAW]: {
    infrequentAccessAfter: 30,
    glacierInstantRetrievalAfter: 90,
    expireAfter: 0,
    noncurrentVersionsExpireAfter: 30,
    abortIncompleteUploadsAfter: 7,
  },
  [LakeZoneName.CLEAN]: {
    infrequentAccessAfter: 0,
    glacierInstantRetrievalAfter: 0,
    expireAfter: 0,
    noncurrentVersionsExpireAfter: 30,
    abortIncompleteUploadsAfter: 7,
  },
  [LakeZoneName.CURATED]: {
    infrequentAccessAfter: 0,
    glacierInstantRetrievalAfter: 0,
    expireAfter: 0,
    noncurrentVersionsExpireAfter: 30,
    abortIncompleteUploadsAfter: 7,
  },
};

/**
 * The lake: raw, clean and curated zones (an S3 bucket and a Glue database each) encrypted with
 * one customer-managed KMS key, with access logs, TLS-only policies, versioning and lifecycle
 * defaults, plus helpers that register raw tables (partition projection) and Iceberg tables
 * (with Glue table optimizers).
 *
 * @example
 * const lake = new LakehouseTier(this, 'Lake', { lakeName: 'analytics' });
 *
 * lake.addRawTable('RawOrders', {
 *   tableName: 'orders',
 *   columns: [{ name: 'order_id', type: 'string' }, { name: 'amount', type: 'double' }],
 *   partitionKeys: [{ name: 'day', projection: PartitionProjection.dateRange({ format: 'yyyy-MM-dd', rangeStart: '2024-01-01' }) }],
 * });
 * lake.addIcebergTable('Orders', {
 *   tableName: 'orders',
 *   columns: [{ name: 'order_id', type: 'string' }, { name: 'amount', type: 'double' }],
 * });
 */
export class LakehouseTier extends Construct implements ILakehouse {
  public readonly lakeName: string;
  public readonly encryptionKey: kms.IKey;
  public readonly raw: ILakeZone;
  public readonly clean: ILakeZone;
  public readonly curated: ILakeZone;
  /** The three zones as created (raw, clean, curated), with their Glue databases (escape hatch). */
  public readonly lakeZones: LakeZone[];
  /** The bucket receiving the zones' server access logs (the user's, when one was given). */
  public readonly accessLogsBucket: s3.IBucket;
  /** The removal policy applied to the lake's stateful resources. */
  public readonly removalPolicy: RemovalPolicy;

  constructor(scope: Construct, id: string, props: LakehouseTierProps = {}) {
    super(scope, id);
    // Deliver access logs through a bucket policy, never through ACLs (ACLs stay disabled on
    // every lake bucket), whatever the app's feature flags say.
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    this.removalPolicy = resolveRemovalPolicy(this, props.removalPolicy);
    const destroy = this.removalPolicy === RemovalPolicy.DESTROY;

    // Glue database names are unique per account and region: the default carries the stack name
    // (unique there, with the stage prefix), leaving room for the longest zone suffix ("_curated").
    this.lakeName = props.lakeName ?? stackScopedName({ ...GLUE_NAME_RULE, maxLength: 255 - '_curated'.length }, this, id);
    validateGlueName('LakehouseTier', 'lakeName', this.lakeName);
    LakehouseDeployRules._applyTo(this);

    this.encryptionKey = props.encryptionKey ?? new kms.Key(this, 'Key', {
      description: `Encrypts every zone of the ${this.lakeName} lake`,
      enableKeyRotation: true,
      removalPolicy: this.removalPolicy,
    });

    const logsExpiration = wholeDays('LakehouseTier', 'accessLogsExpiration', props.accessLogsExpiration ?? Duration.days(365));
    this.accessLogsBucket = props.accessLogsBucket ?? new s3.Bucket(this, 'AccessLogsBucket', {
      // S3 server access logging only delivers to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      lifecycleRules: logsExpiration > 0
        ? [{ id: 'expire-access-logs', expiration: Duration.days(logsExpiration), noncurrentVersionExpiration: Duration.days(1) }]
        : [],
      removalPolicy: this.removalPolicy,
      autoDeleteObjects: destroy,
    });

    this.lakeZones = [
      this.makeZone(LakeZoneName.RAW, props.raw ?? {}, destroy),
      this.makeZone(LakeZoneName.CLEAN, props.clean ?? {}, destroy),
      this.makeZone(LakeZoneName.CURATED, props.curated ?? {}, destroy),
    ];
    [this.raw, this.clean, this.curated] = this.lakeZones;
    this.acknowledgeNistFindings();
  }

  /** NIST 800-53 R5 findings on the buckets the lake creates (imported buckets carry no metadata of ours). */
  private acknowledgeNistFindings(): void {
    for (const zone of this.lakeZones) {
      suppressNag(zone.bucket, [{ id: 'NIST.800.53.R5-S3BucketReplicationEnabled', reason: NagReasons.noReplication(`Lake ${zone.zoneName} zone bucket`) }]);
    }
    suppressNag(this.accessLogsBucket, [
      { id: 'NIST.800.53.R5-S3BucketReplicationEnabled', reason: NagReasons.noReplication('Lake access-log bucket') },
      {
        id: 'NIST.800.53.R5-S3DefaultEncryptionKMS',
        reason: 'S3 server access logging documents SSE-S3 (AES-256, S3-managed keys) as the default encryption of a target bucket '
          + '(S3 User Guide, "Enabling Amazon S3 server access logging"); the objects are request records, no lake data. '
          + 'Pass `accessLogsBucket` to log into a bucket of your own.',
      },
    ]);
    acknowledgeInlinePolicies(this, 'LakehouseTier (crawler, table and grant policies it creates)');
  }

  public zone(name: LakeZoneName): ILakeZone {
    switch (name) {
      case LakeZoneName.RAW: return this.raw;
      case LakeZoneName.CLEAN: return this.clean;
      case LakeZoneName.CURATED: return this.curated;
      default: throw propError('LakehouseTier', 'zone', `unknown zone "${name}"`, 'use LakeZoneName.RAW, CLEAN or CURATED');
    }
  }

  /**
   * Registers a raw table (JSON lines, CSV or Parquet, partition projection) in the raw zone.
   * @param id the construct id of the table
   * @param options the table: name, columns, format, partitions
   */
  public addRawTable(id: string, options: RawTableOptions): RawTable {
    const table = new RawTable(this, id, { ...options, zone: this.raw });
    LakehouseDeployRules._nameOwner(table, table, 'LakehouseTier.addRawTable', 'tableName');
    return table;
  }

  /**
   * Registers an Iceberg table with Glue table optimizers in the curated zone.
   * @param id the construct id of the table
   * @param options the table: name, columns, partitions, optimizers
   */
  public addIcebergTable(id: string, options: IcebergTableOptions): IcebergTable {
    const table = new IcebergTable(this, id, { removalPolicy: this.removalPolicy, ...options, zone: this.curated });
    LakehouseDeployRules._nameOwner(table, table, 'LakehouseTier.addIcebergTable', 'tableName');
    return table;
  }

  /**
   * Adds a Glue crawler for schema discovery in one zone.
   * @param id the construct id of the crawler
   * @param zone the zone the crawler crawls
   * @param options the crawler's schedule and prefixes
   */
  public addCrawler(id: string, zone: LakeZoneName, options: LakeCrawlerOptions = {}): LakeCrawler {
    return new LakeCrawler(this, id, { ...options, zone: this.zone(zone) });
  }

  private makeZone(name: LakeZoneName, options: LakeZoneOptions, destroy: boolean): LakeZone {
    const Name = name.charAt(0).toUpperCase() + name.slice(1);
    const databaseName = options.databaseName ?? `${this.lakeName}_${name}`;
    validateGlueName('LakehouseTier', `${name}.databaseName`, databaseName);

    let bucket: s3.IBucket;
    if (options.existingBucket) {
      for (const prop of ['bucketName', 'versioned', 'lifecycle'] as const) {
        if (options[prop] !== undefined) {
          throw propError('LakehouseTier', `${name}.${prop}`, 'it cannot be applied to an existing bucket',
            `remove "${name}.${prop}" and configure the bucket where it is defined, or drop "${name}.existingBucket" to let the lake create it`);
        }
      }
      bucket = options.existingBucket;
      if (!(bucket instanceof s3.Bucket)) {
        // The lake denies plain HTTP on every bucket it creates; on an imported one its owner must.
        reportStatement(this, bucket, `${name} zone bucket (bucket policy)`, new iam.PolicyStatement({
          sid: 'LakeDeniesInsecureTransport',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:*'],
          resources: [bucket.bucketArn, bucket.arnForObjects('*')],
          conditions: { Bool: { 'aws:SecureTransport': 'false' } },
        }), 'the lake requires TLS for every access to its data');
      }
    } else {
      bucket = new s3.Bucket(this, `${Name}Bucket`, {
        bucketName: options.bucketName,
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.encryptionKey,
        bucketKeyEnabled: true,
        enforceSSL: true,
        minimumTLSVersion: 1.2,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned: options.versioned ?? true,
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: `${name}/`,
        lifecycleRules: lifecycleRules(name, options.lifecycle ?? {}),
        removalPolicy: this.removalPolicy,
        autoDeleteObjects: destroy,
      });
      if (!(this.accessLogsBucket instanceof s3.Bucket)) {
        // CDK adds this statement to the access-logs bucket's policy, and drops it on an imported one.
        reportStatement(this, this.accessLogsBucket, 'access-logs bucket (bucket policy)', new iam.PolicyStatement({
          sid: `S3ServerAccessLogsFor${Name}Zone`,
          principals: [new iam.ServicePrincipal('logging.s3.amazonaws.com')],
          actions: ['s3:PutObject'],
          resources: [this.accessLogsBucket.arnForObjects(`${name}/*`)],
          conditions: { ArnLike: { 'aws:SourceArn': bucket.bucketArn }, StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
        }), `S3 cannot deliver the ${name} zone's server access logs`);
      }
    }
    const zone = new LakeZone(this, `${Name}Zone`, {
      zoneName: name,
      bucket,
      encryptionKey: this.encryptionKey,
      databaseName,
      removalPolicy: this.removalPolicy,
    });
    LakehouseDeployRules._nameOwner(zone, this, 'LakehouseTier', options.databaseName === undefined ? 'lakeName' : `${name}.databaseName`);
    return zone;
  }
}

/** The zone's lifecycle rules: its defaults overridden field by field, checked as S3 would. */
function lifecycleRules(zone: LakeZoneName, lifecycle: ZoneLifecycle): s3.LifecycleRule[] {
  const days = (field: keyof ZoneLifecycle): number => {
    const value = lifecycle[field];
    return value === undefined ? LIFECYCLE_DEFAULTS[zone][field] : wholeDays('LakehouseTier', `${zone}.lifecycle.${field}`, value);
  };
  const ia = days('infrequentAccessAfter');
  const gir = days('glacierInstantRetrievalAfter');
  const expire = days('expireAfter');
  const noncurrent = days('noncurrentVersionsExpireAfter');
  const abort = days('abortIncompleteUploadsAfter');
  const prop = (field: string) => `${zone}.lifecycle.${field}`;

  if (ia > 0 && ia < 30) {
    throw propError('LakehouseTier', prop('infrequentAccessAfter'), `S3 needs objects to stay 30 days in Standard before Standard-IA, got ${ia} days`,
      'use Duration.days(30) or more, or Duration.days(0) to turn the transition off');
  }
  if (gir > 0 && ia > 0 && gir <= ia) {
    throw propError('LakehouseTier', prop('glacierInstantRetrievalAfter'), `Glacier Instant Retrieval (${gir} days) comes before or with Infrequent Access (${ia} days)`,
      `use more than ${ia} days, or turn one of the transitions off with Duration.days(0)`);
  }
  const lastTransition = Math.max(ia, gir);
  if (expire > 0 && expire <= lastTransition) {
    throw propError('LakehouseTier', prop('expireAfter'), `objects would expire (${expire} days) before or when they transition (${lastTransition} days)`,
      `use more than ${lastTransition} days, or shorten the transitions`);
  }

  const transitions: s3.Transition[] = [];
  if (ia > 0) transitions.push({ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(ia) });
  if (gir > 0) transitions.push({ storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(gir) });
  const rule: s3.LifecycleRule = {
    id: `${zone}-zone-lifecycle`,
    transitions: transitions.length > 0 ? transitions : undefined,
    expiration: expire > 0 ? Duration.days(expire) : undefined,
    noncurrentVersionExpiration: noncurrent > 0 ? Duration.days(noncurrent) : undefined,
    abortIncompleteMultipartUploadAfter: abort > 0 ? Duration.days(abort) : undefined,
  };
  const hasAction = transitions.length > 0 || expire > 0 || noncurrent > 0 || abort > 0;
  return hasAction ? [rule] : [];
}
