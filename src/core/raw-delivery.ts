import { Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ILakeZone } from './lake';
import { lakeLogGroup } from './log-encryption';
import { suppressNag } from './nag';

/** Dynamic partitioning of a raw delivery: a jq query that extracts the partition keys of a record. */
export interface RawDeliveryPartitioning {
  /** jq 1.6 expression returning an object of the partition keys, e.g. `{event_type: .type}`. */
  readonly extractionQuery: string;
  /** The keys the query returns, in path order (`key=!{partitionKeyFromQuery:key}/...`). */
  readonly keys: string[];
}

/** Props of `RawDelivery`. */
export interface RawDeliveryProps {
  /** The zone the records land in (its bucket and key). */
  readonly zone: ILakeZone;
  /** Prefix of the delivered objects; the partition path follows it. */
  readonly prefix: string;
  /** Prefix of what Firehose could not partition or deliver. */
  readonly errorPrefix: string;
  /** What the delivery carries, for descriptions. */
  readonly description: string;
  /**
   * A Kinesis stream Firehose reads (Kinesis source); otherwise records are put directly.
   * @default - Direct PUT, encrypted with `directPutKey`
   */
  readonly source?: kinesis.IStream;
  /**
   * Key of the server-side encryption of a Direct PUT stream (a Kinesis source keeps the stream's).
   * @default - the zone's key
   */
  readonly directPutKey?: kms.IKey;
  /**
   * Dynamic partitioning of the records.
   * @default - none: objects under `prefix` by Firehose's time prefix
   */
  readonly partitioning?: RawDeliveryPartitioning;
  /**
   * Split JSON-lines records (several JSON objects in one record) before partitioning.
   * @default false
   */
  readonly deaggregateJsonLines?: boolean;
  /**
   * Buffer interval.
   * @default Duration.seconds(300)
   */
  readonly bufferInterval?: Duration;
  /**
   * Buffer size.
   * @default Size.mebibytes(128)
   */
  readonly bufferSize?: Size;
  /**
   * What happens to the delivery log group when it leaves the stack (the owner's `removalPolicy`).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** Key of the error log group when the user gave none (`lakeLogGroup`'s construct key). */
  readonly logKey: kms.IKey;
  /**
   * The user's own log key (`lakeLogGroup`'s user key).
   * @default - `logKey`
   */
  readonly userLogKey?: kms.IKey;
}

/**
 * One Firehose delivery into a lake zone, raw and unchanged: GZIP JSON lines under a prefix
 * (dynamic partitioning optional), errors under their own prefix, SSE-KMS with the zone key,
 * CloudWatch error logging, and a role that writes those two prefixes only (and reads the source
 * stream when there is one). `deliveryStream` is the `IDeliveryStream` others grant and watch.
 */
export class RawDelivery extends Construct {
  /** The delivery stream (grants and metrics). */
  public readonly deliveryStream: firehose.IDeliveryStream;
  /** The CloudFormation delivery stream (escape hatch). */
  public readonly cfnDeliveryStream: firehose.CfnDeliveryStream;
  /** The role Firehose assumes. */
  public readonly role: iam.Role;
  /** Firehose's error log group. */
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RawDeliveryProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { zone } = props;
    const directPut = props.source === undefined;
    // Children keep the ids they had in StreamingDedupIngestion (created there with id "Default").
    this.logGroup = lakeLogGroup(this, 'DeliveryLogs', {
      constructKey: props.logKey,
      userKey: props.userLogKey,
      keyProp: 'logEncryptionKey',
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    const logStream = new logs.LogStream(this, 'DeliveryLogStream', {
      logGroup: this.logGroup,
      logStreamName: 'DestinationDelivery',
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'DeliveryRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', {
        conditions: { StringEquals: { 'sts:ExternalId': stack.account } },
      }),
      description: `Firehose of ${props.description}: writes raw records and their delivery errors`,
    });
    // What Firehose's S3 destination needs, on the two prefixes it writes, and nothing else.
    this.role.addToPolicy(new iam.PolicyStatement({
      actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
      resources: [zone.bucket.arnForObjects(`${props.prefix}*`), zone.bucket.arnForObjects(`${props.errorPrefix}*`)],
    }));
    this.role.addToPolicy(new iam.PolicyStatement({
      actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
      resources: [zone.bucket.bucketArn],
    }));
    zone.encryptionKey.grant(this.role, 'kms:GenerateDataKey', 'kms:Decrypt');
    this.logGroup.grantWrite(this.role);
    if (props.source) props.source.grantRead(this.role);

    const partitioning = props.partitioning;
    const partitionPath = partitioning ? `${partitioning.keys.map((k) => `${k}=!{partitionKeyFromQuery:${k}}`).join('/')}/` : '';
    const processors: firehose.CfnDeliveryStream.ProcessorProperty[] = [
      ...(props.deaggregateJsonLines ? [{ type: 'RecordDeAggregation', parameters: [{ parameterName: 'SubRecordType', parameterValue: 'JSON' }] }] : []),
      ...(partitioning ? [{
        type: 'MetadataExtraction',
        parameters: [
          { parameterName: 'MetadataExtractionQuery', parameterValue: partitioning.extractionQuery },
          { parameterName: 'JsonParsingEngine', parameterValue: 'JQ-1.6' },
        ],
      }] : []),
      ...(props.deaggregateJsonLines ? [{ type: 'AppendDelimiterToRecord', parameters: [{ parameterName: 'Delimiter', parameterValue: '\\n' }] }] : []),
    ];
    const directPutKey = props.directPutKey ?? zone.encryptionKey;
    this.cfnDeliveryStream = new firehose.CfnDeliveryStream(this, 'DeliveryStream', {
      deliveryStreamType: directPut ? 'DirectPut' : 'KinesisStreamAsSource',
      kinesisStreamSourceConfiguration: props.source ? { kinesisStreamArn: props.source.streamArn, roleArn: this.role.roleArn } : undefined,
      // Server-side encryption with a customer managed key (only possible for Direct PUT; a
      // Kinesis source keeps the stream's own encryption).
      deliveryStreamEncryptionConfigurationInput: directPut ? { keyType: 'CUSTOMER_MANAGED_CMK', keyArn: directPutKey.keyArn } : undefined,
      extendedS3DestinationConfiguration: {
        bucketArn: zone.bucket.bucketArn,
        roleArn: this.role.roleArn,
        prefix: `${props.prefix}${partitionPath}`,
        errorOutputPrefix: `${props.errorPrefix}!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/`,
        bufferingHints: {
          intervalInSeconds: (props.bufferInterval ?? Duration.seconds(300)).toSeconds(),
          sizeInMBs: (props.bufferSize ?? Size.mebibytes(128)).toMebibytes(),
        },
        compressionFormat: 'GZIP',
        fileExtension: '.json.gz',
        encryptionConfiguration: { kmsEncryptionConfig: { awskmsKeyArn: zone.encryptionKey.keyArn } },
        cloudWatchLoggingOptions: { enabled: true, logGroupName: this.logGroup.logGroupName, logStreamName: logStream.logStreamName },
        dynamicPartitioningConfiguration: partitioning ? { enabled: true, retryOptions: { durationInSeconds: 300 } } : undefined,
        processingConfiguration: processors.length > 0 ? { enabled: true, processors } : undefined,
      },
    });
    // The role's policy must exist before Firehose validates its access.
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    if (policy) this.cfnDeliveryStream.node.addDependency(policy);
    // Firehose creates a KMS grant for server-side encryption with the key.
    if (directPut) directPutKey.grant(this.role, 'kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey');
    this.deliveryStream = firehose.DeliveryStream.fromDeliveryStreamAttributes(this, 'Imported', {
      deliveryStreamArn: this.cfnDeliveryStream.attrArn,
      deliveryStreamName: this.cfnDeliveryStream.ref,
      role: this.role,
    });

    suppressNag(this.role.node.findChild('DefaultPolicy'), [{
      id: 'AwsSolutions-IAM5',
      reason: `Firehose writes objects it names itself under ${props.prefix} and ${props.errorPrefix} only; `
        + 'log stream writes are limited to its own log group.',
      appliesTo: ['/^Resource::<.*\\.Arn>/.*\\*$/'],
    }]);
    if (!directPut) {
      suppressNag(this.cfnDeliveryStream, [{
        id: 'AwsSolutions-KDF1',
        reason: 'A delivery stream with a Kinesis source cannot have its own server-side encryption: the source stream '
          + 'is encrypted with a customer managed key and Firehose writes SSE-KMS objects with the zone key.',
      }]);
    }
  }
}
