import { ArnFormat, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { glueColumns, LakeTableBase } from './lake-table';
import { IcebergOptimizerOptions, IcebergTableProps } from './table-props';
import { glueArns } from '../core/grants';
import { ILakeZone } from '../core/lake';
import { acknowledgeAwsCustomResourceProvider, escapeRegex, NagReasons, suppressNag } from '../core/nag';
import { propError } from '../core/validation';

/**
 * An Apache Iceberg table (ACID, upserts, time travel) registered in a zone's Glue database,
 * kept healthy by Glue table optimizers: compaction, snapshot retention and orphan-file
 * deletion, all on by default.
 *
 * @example
 * declare const lake: LakehouseTier;
 *
 * new IcebergTable(this, 'Orders', {
 *   zone: lake.curated,
 *   tableName: 'orders',
 *   columns: [{ name: 'order_id', type: 'string' }, { name: 'amount', type: 'decimal(12,2)' }],
 *   optimizers: { snapshotRetentionDays: 7 },
 * });
 */
export class IcebergTable extends LakeTableBase {
  /**
   * The custom resource that creates the table once through Glue `CreateTable` with
   * `OpenTableFormatInput` (Glue writes the first Iceberg metadata file). It sends nothing
   * to Glue that can change an existing table: schema and properties belong to the engines
   * (Spark, Athena) from then on. See docs/iceberg-tables.md.
   */
  public readonly tableResource: cr.AwsCustomResource;
  /** The Glue table optimizers, by type (`compaction`, `retention`, `orphan_file_deletion`). */
  public readonly optimizers: glue.CfnTableOptimizer[] = [];
  /** The role the optimizers assume (undefined when every optimizer is off). */
  public readonly optimizerRole?: iam.IRole;

  constructor(scope: Construct, id: string, props: IcebergTableProps) {
    super(scope, id, 'IcebergTable', props.zone, props.tableName, props.prefix);
    const columns = glueColumns('IcebergTable', props.columns, true);
    const location = props.zone.s3Url(this.prefix);

    const createCall = icebergCreateTableCall({
      catalogId: this.catalogId,
      databaseName: props.zone.databaseName,
      tableName: props.tableName,
      description: props.description,
      columns,
      location,
    });
    const bucket = props.zone.bucket;
    const arns = glueArns(this, props.zone.databaseName);
    this.tableResource = new cr.AwsCustomResource(this, 'Table', {
      resourceType: 'Custom::LakeIcebergTable',
      onCreate: createCall,
      // The same CreateTable on update: a table that exists is left exactly as it is
      // (AlreadyExistsException is the expected answer), so an update never sends a TableInput
      // that could replace table_type / metadata_location. A new name or database gives a new
      // physical id: CloudFormation then creates the new table and deletes the old entry.
      onUpdate: createCall,
      onDelete: {
        service: 'Glue',
        action: 'deleteTable',
        parameters: { CatalogId: this.catalogId, DatabaseName: props.zone.databaseName, Name: props.tableName },
        physicalResourceId: createCall.physicalResourceId,
        ignoreErrorCodesMatching: '^EntityNotFoundException$',
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          actions: ['glue:CreateTable', 'glue:DeleteTable', 'glue:GetDatabase', 'glue:GetTable'],
          resources: [arns.catalogArn, arns.databaseArn, this.tableArn],
        }),
        // Glue writes the table's first metadata file (metadata/00000-*.metadata.json) under the location.
        new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:GetObject'], resources: [bucket.arnForObjects(`${this.prefix}*`)] }),
        new iam.PolicyStatement({ actions: ['s3:ListBucket', 's3:GetBucketLocation'], resources: [bucket.bucketArn] }),
        new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt', 'kms:Encrypt'], resources: [props.zone.encryptionKey.keyArn] }),
      ]),
      installLatestAwsSdk: false,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.tableResource.node.addDependency(props.zone);
    acknowledgeAwsCustomResourceProvider(this, this.tableResource);
    suppressNag(this.tableResource.node.findChild('CustomResourcePolicy'), [{
      id: 'AwsSolutions-IAM5',
      reason: 'Glue writes the table\'s first Iceberg metadata file under the table\'s own prefix; its name is chosen by Glue, so the '
        + 'grant is objects under that prefix of the zone bucket.',
      appliesTo: [`/^Resource::<.*\\.Arn>/${escapeRegex(this.prefix)}\\*$/`],
    }]);

    const o = resolveOptimizers(props.optimizers ?? {});
    // Optimizer type → its extra configuration, for the optimizers that are on.
    const wanted: Array<[string, OptimizerSettings]> = [];
    if (o.compaction) wanted.push(['compaction', {}]);
    if (o.snapshotRetention) {
      wanted.push(['retention', {
        retentionConfiguration: {
          icebergConfiguration: {
            snapshotRetentionPeriodInDays: o.snapshotRetentionDays,
            numberOfSnapshotsToRetain: o.snapshotsToRetain,
            cleanExpiredFiles: true,
          },
        },
      }]);
    }
    if (o.orphanFileDeletion) {
      wanted.push(['orphan_file_deletion', {
        orphanFileDeletionConfiguration: {
          icebergConfiguration: { orphanFileRetentionPeriodInDays: o.orphanFileRetentionDays, location },
        },
      }]);
    }
    if (wanted.length > 0) {
      const role = props.optimizerRole ?? sharedOptimizerRole(this, props.zone);
      this.optimizerRole = role;
      for (const [type, config] of wanted) {
        const optimizer = new glue.CfnTableOptimizer(this, `Optimizer-${type}`, {
          catalogId: this.catalogId,
          databaseName: props.zone.databaseName,
          tableName: props.tableName,
          type,
          tableOptimizerConfiguration: { roleArn: role.roleArn, enabled: true, ...config },
        });
        optimizer.node.addDependency(this.tableResource);
        // The role's policy must be in place before Glue validates the optimizer.
        const rolePolicy = role.node.tryFindChild('DefaultPolicy');
        if (rolePolicy) optimizer.node.addDependency(rolePolicy);
        this.optimizers.push(optimizer);
      }
    }
  }
}


/**
 * One optimizer role per zone and stack: scoped to the zone's bucket, key and tables, so the
 * policy stays the same size however many tables the zone has.
 */
function sharedOptimizerRole(scope: Construct, zone: ILakeZone): iam.IRole {
  const stack = Stack.of(scope);
  const id = `IcebergOptimizerRole${Names.nodeUniqueId(zone.node)}`;
  const existing = stack.node.tryFindChild(id) as iam.Role | undefined;
  if (existing) return existing;

  const role = new iam.Role(stack, id, {
    assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
    description: `Glue table optimizers for the Iceberg tables of the ${zone.zoneName} zone`,
  });
  const arns = glueArns(scope, zone.databaseName);
  role.addToPolicy(new iam.PolicyStatement({
    actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
    resources: [zone.bucket.arnForObjects('*')],
  }));
  role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [zone.bucket.bucketArn] }));
  role.addToPolicy(new iam.PolicyStatement({
    actions: ['glue:GetTable', 'glue:UpdateTable'],
    resources: [arns.catalogArn, arns.databaseArn, arns.tableArn('*')],
  }));
  role.addToPolicy(new iam.PolicyStatement({
    actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: ['iceberg-compaction', 'iceberg-retention', 'iceberg-orphan-file-deletion'].map((kind) =>
      stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: `/aws-glue/${kind}/logs:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })),
  }));
  zone.encryptionKey.grant(role, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey');
  suppressNag(role.node.findChild('DefaultPolicy'), [{
    id: 'AwsSolutions-IAM5',
    reason: 'Glue table optimizers of one zone: the shared role reaches the objects and Glue tables of that zone only '
      + '(one bucket, one database) so its policy stays the same size for any number of tables; the log groups are '
      + 'the ones Glue names for its optimizers (/aws-glue/iceberg-*/logs).',
    appliesTo: [
      '/^Resource::<.*\\.Arn>/\\*$/',
      `/^Resource::arn:<AWS::Partition>:glue:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):table/${zone.databaseName}/\\*$/`,
      '/^Resource::arn:<AWS::Partition>:logs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):log-group:/aws-glue/iceberg-[a-z-]+/logs:\\*$/',
    ],
  }, { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: NagReasons.inlinePolicy(`Glue table optimizer role of the ${zone.zoneName} zone`) }]);
  return role;
}

type OptimizerSettings = Omit<glue.CfnTableOptimizer.TableOptimizerConfigurationProperty, 'roleArn' | 'enabled'>;

function resolveOptimizers(options: IcebergOptimizerOptions) {
  const resolved = {
    compaction: options.compaction ?? true,
    snapshotRetention: options.snapshotRetention ?? true,
    snapshotRetentionDays: options.snapshotRetentionDays ?? 5,
    snapshotsToRetain: options.snapshotsToRetain ?? 1,
    orphanFileDeletion: options.orphanFileDeletion ?? true,
    orphanFileRetentionDays: options.orphanFileRetentionDays ?? 3,
  };
  for (const prop of ['snapshotRetentionDays', 'snapshotsToRetain', 'orphanFileRetentionDays'] as const) {
    const value = resolved[prop];
    if (!Number.isInteger(value) || value < 1) {
      throw propError('IcebergTable', `optimizers.${prop}`, `${value} is not a whole number >= 1`, 'give a whole number of at least 1');
    }
  }
  return resolved;
}

/** What the one Glue call that creates an Iceberg table needs. */
interface IcebergCreateTableInput {
  readonly catalogId: string;
  readonly databaseName: string;
  readonly tableName: string;
  readonly description?: string;
  readonly columns: glue.CfnTable.ColumnProperty[];
  readonly location: string;
}

/**
 * The Glue `CreateTable` call (AWS SDK shape) that registers a new Iceberg table: `TableInput`
 * (name, columns, location) with `OpenTableFormatInput.IcebergInput` `CREATE`, so Glue writes the
 * first metadata file and sets `table_type` and `metadata_location`. An existing table of that
 * name answers `AlreadyExistsException`, which the call ignores: the table is adopted as it is.
 */
function icebergCreateTableCall(input: IcebergCreateTableInput): cr.AwsSdkCall {
  return {
    service: 'Glue',
    action: 'createTable',
    parameters: {
      CatalogId: input.catalogId,
      DatabaseName: input.databaseName,
      TableInput: {
        Name: input.tableName,
        Description: input.description,
        TableType: 'EXTERNAL_TABLE',
        StorageDescriptor: {
          Columns: input.columns.map((c) => ({ Name: c.name, Type: c.type, Comment: c.comment })),
          Location: input.location,
        },
      },
      OpenTableFormatInput: { IcebergInput: { MetadataOperation: 'CREATE', Version: '2' } },
    },
    physicalResourceId: cr.PhysicalResourceId.of(`${input.catalogId}:${input.databaseName}/${input.tableName}`),
    ignoreErrorCodesMatching: '^AlreadyExistsException$',
  };
}

