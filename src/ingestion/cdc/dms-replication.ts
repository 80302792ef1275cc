import { Duration, Names, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dms from 'aws-cdk-lib/aws-dms';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { CdcIngestionProps, DmsAccountRoles, DmsCapacityMode, PostgresCdcPlugin, PostgresSslMode } from './cdc-ingestion-props';
import { CdcTableSpec, COMMIT_TS_COLUMN, dmsTableMappings } from './cdc-table-spec';
import { addToKeyPolicy, serviceKeyUse } from '../../core/access';
import { LakehouseDeployRules } from '../../core/deploy-rules';
import { FailureEvents } from '../../core/failure-events';
import { ILakehouse } from '../../core/lake';
import { acknowledgeAwsCustomResourceProvider, escapeRegex, suppressNag } from '../../core/nag';

/** DMS limited LOB mode: text/json/bytea values above this many KB are cut (the preflight warns). */
export const LOB_MAX_SIZE_KB = 64;

/** Props of `DmsReplication`. */
export interface DmsReplicationProps {
  /** The CdcIngestion's own props (source, VPC, capacity, account roles, start). */
  readonly cdc: CdcIngestionProps;
  /** The CdcIngestion (owner of the account-level roles it may create). */
  readonly owner: Construct;
  readonly pipelineName: string;
  readonly lake: ILakehouse;
  /** Prefix DMS writes change files under (`<pipelineName>/`). */
  readonly rawPrefix: string;
  /** Key of the replication's storage. */
  readonly encryptionKey: kms.IKey;
  /** The tables (CDC ones become selection rules). */
  readonly specs: CdcTableSpec[];
  /** Identifier of the replication config or task. */
  readonly identifier: string;
  readonly subnets: ec2.SelectedSubnets;
  readonly minCapacityUnits: number;
  readonly maxCapacityUnits: number;
  readonly allocatedStorage: number;
}

/**
 * The DMS part of a CdcIngestion: a security group, a subnet group, the PostgreSQL source endpoint
 * (secret through a role), the S3 target endpoint (raw zone, Parquet with `Op` and commit
 * timestamps), a serverless replication or an instance with a task, the account-level DMS roles
 * when asked, a starter that runs the replication once on create, their nag reasons, the failure
 * event and the latency metrics.
 */
export class DmsReplication extends Construct {
  public readonly replicationSecurityGroup: ec2.SecurityGroup;
  public readonly replicationSubnetGroup: dms.CfnReplicationSubnetGroup;
  public readonly sourceEndpoint: dms.CfnEndpoint;
  public readonly targetEndpoint: dms.CfnEndpoint;
  public readonly sourceAccessRole: iam.Role;
  public readonly targetAccessRole: iam.Role;
  public readonly replicationConfig?: dms.CfnReplicationConfig;
  public readonly replicationInstance?: dms.CfnReplicationInstance;
  public readonly replicationTask?: dms.CfnReplicationTask;
  public readonly replicationArn: string;
  public readonly dmsVpcRole?: iam.Role;
  public readonly dmsCloudWatchLogsRole?: iam.Role;
  public readonly replicationStarter?: cr.AwsCustomResource;
  /** EventBridge pattern of a replication that failed or stopped. */
  public readonly failureEvent: events.EventPattern;

  private readonly pipelineName: string;
  private readonly identifier: string;

  constructor(scope: Construct, id: string, props: DmsReplicationProps) {
    super(scope, id);
    const cdc = props.cdc;
    const stack = Stack.of(this);
    this.pipelineName = props.pipelineName;
    this.identifier = props.identifier;
    const sslMode = cdc.source.sslMode ?? PostgresSslMode.REQUIRE;
    const serverless = (cdc.capacityMode ?? DmsCapacityMode.SERVERLESS) === DmsCapacityMode.SERVERLESS;
    this.replicationSecurityGroup = new ec2.SecurityGroup(this, 'ReplicationSecurityGroup', {
      vpc: cdc.vpc,
      description: `CdcIngestion ${props.pipelineName}: DMS replication`,
      allowAllOutbound: true,
    });

    // ---- account-level DMS roles -----------------------------------------------------------
    if ((cdc.dmsAccountRoles ?? DmsAccountRoles.USE_EXISTING) === DmsAccountRoles.CREATE) {
      // The roles have fixed names, one per account: every CdcIngestion of a stack shares one pair
      // (kept on the stack); two stacks (or stages) creating them are a clash the deploy rules report.
      const roles = dmsAccountRoles(this, props.owner);
      this.dmsVpcRole = roles.vpcRole;
      this.dmsCloudWatchLogsRole = roles.logsRole;
    }

    this.replicationSubnetGroup = new dms.CfnReplicationSubnetGroup(this, 'SubnetGroup', {
      replicationSubnetGroupDescription: `CdcIngestion ${props.pipelineName}`,
      subnetIds: props.subnets.subnetIds,
    });
    if (this.dmsVpcRole) this.replicationSubnetGroup.node.addDependency(this.dmsVpcRole);

    // ---- source endpoint -------------------------------------------------------------------
    this.sourceAccessRole = new iam.Role(this, 'SourceAccessRole', {
      assumedBy: new iam.ServicePrincipal(`dms.${stack.region}.amazonaws.com`),
      description: `CdcIngestion ${props.pipelineName}: DMS reads the source secret`,
    });
    cdc.source.secret.grantRead(this.sourceAccessRole);
    this.sourceEndpoint = new dms.CfnEndpoint(this, 'SourceEndpoint', {
      endpointType: 'source',
      engineName: 'postgres',
      databaseName: cdc.source.databaseName,
      sslMode,
      certificateArn: cdc.source.certificateArn,
      postgreSqlSettings: {
        secretsManagerSecretId: cdc.source.secret.secretArn,
        secretsManagerAccessRoleArn: this.sourceAccessRole.roleArn,
        pluginName: cdc.source.cdcPlugin ?? PostgresCdcPlugin.TEST_DECODING,
        slotName: cdc.source.slotName,
        heartbeatEnable: cdc.source.heartbeat ?? true,
        heartbeatFrequency: (cdc.source.heartbeat ?? true) ? 5 : undefined, // minutes
        // DDL capture creates event triggers and an artifacts table in the source: not wanted.
        captureDdls: false,
        mapBooleanAsBoolean: true,
      },
    });
    this.sourceEndpoint.node.addDependency(this.sourceAccessRole);

    // ---- target endpoint -------------------------------------------------------------------
    this.targetAccessRole = new iam.Role(this, 'TargetAccessRole', {
      assumedBy: new iam.ServicePrincipal(`dms.${stack.region}.amazonaws.com`),
      description: `CdcIngestion ${props.pipelineName}: DMS writes change files into the raw zone`,
    });
    this.targetAccessRole.addToPolicy(new iam.PolicyStatement({
      actions: ['s3:PutObject', 's3:DeleteObject', 's3:PutObjectTagging', 's3:GetObject'],
      resources: [props.lake.raw.bucket.arnForObjects(`${props.rawPrefix}*`)],
    }));
    this.targetAccessRole.addToPolicy(new iam.PolicyStatement({
      actions: ['s3:ListBucket', 's3:GetBucketLocation'],
      resources: [props.lake.raw.bucket.bucketArn],
    }));
    props.lake.encryptionKey.grant(this.targetAccessRole, 'kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:ReEncrypt*', 'kms:DescribeKey');
    this.targetEndpoint = new dms.CfnEndpoint(this, 'TargetEndpoint', {
      endpointType: 'target',
      engineName: 's3',
      s3Settings: {
        bucketName: props.lake.raw.bucket.bucketName,
        bucketFolder: props.pipelineName,
        serviceAccessRoleArn: this.targetAccessRole.roleArn,
        dataFormat: 'parquet',
        parquetVersion: 'parquet-2-0',
        parquetTimestampInMillisecond: false,
        enableStatistics: true,
        compressionType: 'NONE', // Parquet pages are compressed (snappy) regardless
        // Op on full-load rows too, so every row says what it is.
        includeOpForFullLoad: true,
        cdcInsertsOnly: false,
        cdcInsertsAndUpdates: false,
        timestampColumnName: COMMIT_TS_COLUMN,
        datePartitionEnabled: true,
        datePartitionSequence: 'YYYYMMDD',
        datePartitionDelimiter: 'SLASH',
        datePartitionTimezone: 'UTC',
        encryptionMode: 'SSE_KMS',
        serverSideEncryptionKmsKeyId: props.lake.encryptionKey.keyArn,
        // A change file at least every minute, or at 32 MB, whichever comes first.
        cdcMaxBatchInterval: 60,
        cdcMinFileSize: 32000,
        expectedBucketOwner: stack.account,
      },
    });
    this.targetEndpoint.node.addDependency(this.targetAccessRole);

    // ---- replication -----------------------------------------------------------------------
    const tableMappings = dmsTableMappings(props.specs);
    const settings = {
      Logging: { EnableLogging: true },
      // Restarting must never delete what is already in the raw zone.
      FullLoadSettings: { TargetTablePrepMode: 'DO_NOTHING' },
      TargetMetadata: { SupportLobs: true, FullLobMode: false, LimitedSizeLobMode: true, LobMaxSize: LOB_MAX_SIZE_KB },
      ChangeProcessingTuning: { BatchApplyEnabled: false },
    };
    if (serverless) {
      this.replicationConfig = new dms.CfnReplicationConfig(this, 'Replication', {
        replicationConfigIdentifier: props.identifier,
        resourceIdentifier: props.identifier,
        replicationType: 'full-load-and-cdc',
        sourceEndpointArn: this.sourceEndpoint.ref,
        targetEndpointArn: this.targetEndpoint.ref,
        tableMappings,
        replicationSettings: settings,
        computeConfig: {
          minCapacityUnits: props.minCapacityUnits,
          maxCapacityUnits: props.maxCapacityUnits,
          multiAz: cdc.multiAz ?? false,
          replicationSubnetGroupId: this.replicationSubnetGroup.ref,
          vpcSecurityGroupIds: [this.replicationSecurityGroup.securityGroupId],
          kmsKeyId: props.encryptionKey.keyArn,
        },
      });
      this.replicationArn = this.replicationConfig.attrReplicationConfigArn;
    } else {
      this.replicationInstance = new dms.CfnReplicationInstance(this, 'ReplicationInstance', {
        replicationInstanceClass: cdc.replicationInstanceClass ?? 'dms.t3.medium',
        allocatedStorage: props.allocatedStorage,
        multiAz: cdc.multiAz ?? false,
        publiclyAccessible: false,
        autoMinorVersionUpgrade: true,
        replicationSubnetGroupIdentifier: this.replicationSubnetGroup.ref,
        vpcSecurityGroupIds: [this.replicationSecurityGroup.securityGroupId],
        kmsKeyId: props.encryptionKey.keyArn,
      });
      this.replicationTask = new dms.CfnReplicationTask(this, 'ReplicationTask', {
        replicationTaskIdentifier: props.identifier,
        resourceIdentifier: props.identifier,
        migrationType: 'full-load-and-cdc',
        replicationInstanceArn: this.replicationInstance.ref,
        sourceEndpointArn: this.sourceEndpoint.ref,
        targetEndpointArn: this.targetEndpoint.ref,
        tableMappings: stack.toJsonString(tableMappings),
        replicationTaskSettings: stack.toJsonString(settings),
      });
      this.replicationArn = this.replicationTask.ref;
    }
    const replication = this.replicationConfig ?? this.replicationTask!;
    if (this.dmsCloudWatchLogsRole) replication.node.addDependency(this.dmsCloudWatchLogsRole);
    addToKeyPolicy(this, props.encryptionKey, serviceKeyUse('dms.amazonaws.com', 'DmsUsesCdcKey'), 'DMS cannot encrypt the replication\'s storage with it');

    if (cdc.startReplication ?? true) {
      this.replicationStarter = this.startOnCreate(serverless, this.replicationArn);
    }
    // A provisioned task has its own detail type; a serverless replication's events name it in `resources`.
    this.failureEvent = this.replicationTask
      ? FailureEvents.dmsTask([this.replicationArn])
      : { source: ['aws.dms'], resources: [this.replicationArn], detail: { eventType: [{ wildcard: '*FAIL*' }, { wildcard: '*STOPPED*' }] } };
    this.acknowledgeFindings(props.rawPrefix);
  }

  /**
   * A DMS latency metric (`CDCLatencySource`, `CDCLatencyTarget`), Maximum over 5 minutes. The
   * serverless replication's metrics carry its identifier; a search finds them whatever the
   * dimension is called (dashboards only: alarms use the merge job's own lag).
   */
  public metricLatency(metricName: string, label: string): cloudwatch.IMetric {
    if (this.replicationTask) {
      return new cloudwatch.Metric({
        namespace: 'AWS/DMS',
        metricName,
        dimensionsMap: { ReplicationInstanceIdentifier: this.replicationInstance!.ref, ReplicationTaskIdentifier: this.identifier },
        statistic: 'Maximum',
        period: Duration.minutes(5),
        label,
      });
    }
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{AWS/DMS} MetricName="${metricName}" "${this.identifier}"', 'Maximum', 300)`,
      usingMetrics: {},
      label,
      period: Duration.minutes(5),
    });
  }

  /** Starts the replication once, when the stack is created; stops it before it is deleted. */
  private startOnCreate(serverless: boolean, arn: string): cr.AwsCustomResource {
    const call = (action: string, parameters: Record<string, string>): cr.AwsSdkCall => ({
      service: 'DatabaseMigrationService',
      action,
      parameters,
      physicalResourceId: cr.PhysicalResourceId.of(`${this.pipelineName}-replication-start`),
    });
    const starter = new cr.AwsCustomResource(this, 'StartReplication', {
      onCreate: serverless
        ? call('startReplication', { ReplicationConfigArn: arn, StartReplicationType: 'start-replication' })
        : call('startReplicationTask', { ReplicationTaskArn: arn, StartReplicationTaskType: 'start-replication' }),
      onDelete: {
        ...(serverless ? call('stopReplication', { ReplicationConfigArn: arn }) : call('stopReplicationTask', { ReplicationTaskArn: arn })),
        // Already stopped (or never started) is fine on delete.
        ignoreErrorCodesMatching: '.*',
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({
        actions: serverless ? ['dms:StartReplication', 'dms:StopReplication'] : ['dms:StartReplicationTask', 'dms:StopReplicationTask'],
        resources: [arn],
      })]),
      installLatestAwsSdk: false,
      timeout: Duration.minutes(5),
    });
    starter.node.addDependency(this.replicationConfig ?? this.replicationTask!);
    return starter;
  }

  private acknowledgeFindings(rawPrefix: string): void {
    suppressNag(this.targetAccessRole.node.findChild('DefaultPolicy'), [{
      id: 'AwsSolutions-IAM5',
      reason: `DMS writes change files (names chosen by DMS) under the pipeline's raw prefix ${rawPrefix} with the lake key.`,
      appliesTo: [`/^Resource::<.*RawBucket[A-Za-z0-9]*\\.Arn>/${escapeRegex(rawPrefix)}\\*$/`, 'Action::kms:ReEncrypt*'],
    }]);
    if (this.replicationStarter) acknowledgeAwsCustomResourceProvider(this, this.replicationStarter);
    if (this.dmsVpcRole) {
      for (const role of [this.dmsVpcRole, this.dmsCloudWatchLogsRole!]) {
        suppressNag(role, [{
          id: 'AwsSolutions-IAM4',
          reason: 'DMS requires these account-level roles by name, with exactly these AWS managed policies.',
          appliesTo: ['/^Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonDMS.*$/'],
        }]);
      }
    }
  }
}

/** DMS identifiers: a letter first, letters, digits and single hyphens, no hyphen at the end. */
export function dmsIdentifier(scope: Construct): string {
  return Names.uniqueResourceName(scope, { maxLength: 60, separator: '-' })
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-$/, '') || 'cdc';
}

/** The account-level DMS roles of this stack, created once by the first CdcIngestion that asks. */
function dmsAccountRoles(scope: Construct, owner: Construct): { vpcRole: iam.Role; logsRole: iam.Role } {
  const stack = Stack.of(scope);
  const id = 'CdkLakehouseDmsAccountRoles';
  let holder = stack.node.tryFindChild(id) as Construct | undefined;
  if (!holder) {
    holder = new Construct(stack, id);
    new iam.Role(holder, 'DmsVpcRole', {
      roleName: 'dms-vpc-role',
      assumedBy: new iam.ServicePrincipal('dms.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonDMSVPCManagementRole')],
      description: 'DMS: manage network interfaces in the VPC (account-level role DMS expects by name)',
    });
    new iam.Role(holder, 'DmsCloudWatchLogsRole', {
      roleName: 'dms-cloudwatch-logs-role',
      assumedBy: new iam.ServicePrincipal('dms.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonDMSCloudWatchLogsRole')],
      description: 'DMS: write task logs to CloudWatch Logs (account-level role DMS expects by name)',
    });
    LakehouseDeployRules._nameOwner(holder, owner, 'CdcIngestion', 'dmsAccountRoles');
    LakehouseDeployRules._applyTo(holder);
  }
  return { vpcRole: holder.node.findChild('DmsVpcRole') as iam.Role, logsRole: holder.node.findChild('DmsCloudWatchLogsRole') as iam.Role };
}
