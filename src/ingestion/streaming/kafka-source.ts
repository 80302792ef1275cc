import { Arn, ArnFormat, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AuthenticationMethod, ManagedKafkaEventSource, SelfManagedKafkaEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { KafkaBindContext, KafkaBinding } from './kafka-binding';
import { suppressNag } from '../../core/nag';
import { propError } from '../../core/validation';

const NAME = 'StreamingDedupIngestion';
/** Kafka topic names: 1-249 characters of letters, digits, ".", "_" and "-" (Apache Kafka's `Topic.validate`). */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
/** Lambda's `AmazonManagedKafkaEventSourceConfig.ConsumerGroupId` (1-200) without "*" and ":" (an IAM resource wildcard; MSK drops lag metrics of such groups). */
const CONSUMER_GROUP = /^[a-zA-Z0-9\-/_+=.@]{1,200}$/;
const HEADER_NAME = /^[\x21-\x7e][\x20-\x7e]{0,248}$/;

/** Headers of a Kafka record that carry the event's id, type, subtype or time (instead of the JSON value). */
export interface KafkaEventHeaders {
  /**
   * Header holding the event id (UTF-8).
   * @default - the id comes from the value (or the key, with `eventIdFromKey`)
   */
  readonly id?: string;
  /**
   * Header holding the event type.
   * @default - from the value
   */
  readonly type?: string;
  /**
   * Header holding the event subtype (a record without it partitions as `none`).
   * @default - from the value
   */
  readonly subtype?: string;
  /**
   * Header holding the event time (ISO-8601).
   * @default - from the value
   */
  readonly time?: string;
}

/** Settings every Kafka source shares. */
export interface KafkaSourceOptions {
  /** The topic to read (1-249 characters of letters, digits, ".", "_", "-"). */
  readonly topic: string;
  /**
   * Consumer group of the event source mapping. A fixed group lets a replaced mapping resume at
   * the committed offsets instead of re-reading the topic.
   * @default - the pipeline name
   */
  readonly consumerGroupId?: string;
  /**
   * Where a new consumer group starts. `TRIM_HORIZON` reads everything the topic still holds (no loss;
   * the dedup table and the curated merge drop what was seen before).
   * @default lambda.StartingPosition.TRIM_HORIZON
   */
  readonly startingPosition?: lambda.StartingPosition;
  /**
   * With `startingPosition: AT_TIMESTAMP`: the time to start from, in Unix seconds.
   * @default - none
   */
  readonly startingPositionTimestamp?: number;
  /**
   * Take the event id from the record key (UTF-8) instead of the value; the handler writes it into
   * the event's id field (a top-level field, see `eventFields.id`).
   * @default false
   */
  readonly eventIdFromKey?: boolean;
  /**
   * Take the event's id, type, subtype or time from these headers; the handler writes each into its
   * field of the event (top-level fields, see `eventFields`).
   * @default - every field from the value
   */
  readonly eventHeaders?: KafkaEventHeaders;
  /**
   * Provisioned mode: pollers the mapping always keeps (1-200). Setting this or `maximumPollers`
   * switches the mapping to provisioned mode.
   * @default - on-demand pollers
   */
  readonly minimumPollers?: number;
  /**
   * Provisioned mode: pollers the mapping may scale to (1-2,000, not below `minimumPollers`).
   * @default - on-demand pollers; 200 in provisioned mode
   */
  readonly maximumPollers?: number;
  /**
   * The offset lag (records behind the topic, Lambda's `OffsetLag` metric) that raises the pipeline's
   * lag alarm when it holds for 15 minutes.
   * @default 100000
   */
  readonly offsetLagAlarmThreshold?: number;
}

/** An Amazon MSK cluster (provisioned or Serverless) read with IAM authentication. */
export interface MskKafkaSourceOptions extends KafkaSourceOptions {
  /** ARN of the MSK cluster: `arn:<partition>:kafka:<region>:<account>:cluster/<name>/<uuid>`. */
  readonly clusterArn: string;
}

/** How Lambda authenticates to self-managed Kafka brokers. */
export enum KafkaAuthentication {
  /** SASL/SCRAM-SHA-256 with the user name and password in `secret`. */
  SASL_SCRAM_256 = 'SASL_SCRAM_256',
  /** SASL/SCRAM-SHA-512 with the user name and password in `secret`. */
  SASL_SCRAM_512 = 'SASL_SCRAM_512',
  /** Mutual TLS with the client certificate and key in `clientCertificateSecret`. */
  MUTUAL_TLS = 'MUTUAL_TLS',
}

/** A self-managed Apache Kafka cluster reached from the user's VPC. */
export interface SelfManagedKafkaSourceOptions extends KafkaSourceOptions {
  /** Bootstrap brokers, `host:port` each. */
  readonly bootstrapServers: string[];
  /** The VPC the brokers are reached from (Lambda puts the mapping's network interfaces there). */
  readonly vpc: ec2.IVpc;
  /**
   * Subnets of the mapping's network interfaces: they need a route to the brokers and to Lambda,
   * STS and Secrets Manager (a NAT gateway or VPC endpoints).
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security group of the mapping's network interfaces (the brokers must accept it).
   * @default - a new security group in the VPC, all outbound traffic allowed
   */
  readonly securityGroup?: ec2.ISecurityGroup;
  /**
   * How Lambda authenticates to the brokers.
   * @default KafkaAuthentication.SASL_SCRAM_512
   */
  readonly authentication?: KafkaAuthentication;
  /**
   * SASL/SCRAM credentials: a secret with `username` and `password`.
   * @default - none (required for SASL/SCRAM)
   */
  readonly secret?: secretsmanager.ISecret;
  /**
   * mTLS: a secret with `certificate` (PEM chain) and `privateKey` (PKCS#8 PEM, optionally with `privateKeyPassword`).
   * @default - none (required for `MUTUAL_TLS`)
   */
  readonly clientCertificateSecret?: secretsmanager.ISecret;
  /**
   * Root CA of the brokers' certificates (a secret with `certificate`), when a private CA signed them.
   * @default - the brokers' certificates chain to a public CA
   */
  readonly rootCaSecret?: secretsmanager.ISecret;
}

/**
 * A Kafka topic as the source of a `StreamingDedupIngestion`, read by Lambda's Kafka event source
 * mapping: Amazon MSK with IAM authentication, or self-managed Kafka with SASL/SCRAM or mTLS.
 */
export class KafkaSource {
  /** An Amazon MSK cluster (provisioned or Serverless) with IAM authentication. */
  public static msk(options: MskKafkaSourceOptions): KafkaSource {
    return new KafkaSource('msk', options.topic, options, undefined);
  }

  /** A self-managed Kafka cluster reached through the user's VPC, with SASL/SCRAM or mTLS. */
  public static selfManaged(options: SelfManagedKafkaSourceOptions): KafkaSource {
    return new KafkaSource('self-managed', options.topic, undefined, options);
  }

  private constructor(
    /** `msk` or `self-managed`. */
    public readonly kind: string,
    /** The topic read. */
    public readonly topic: string,
    private readonly mskOptions: MskKafkaSourceOptions | undefined,
    private readonly selfManagedOptions: SelfManagedKafkaSourceOptions | undefined,
  ) {}

  /** Validates every option, adds the event source mapping and the rights it needs. @internal */
  public _bind(scope: Construct, fn: lambda.Function, ctx: KafkaBindContext): KafkaBinding {
    const o: KafkaSourceOptions = this.mskOptions ?? this.selfManagedOptions!;
    const common = validateCommon(o, ctx);
    const environment = common.environment;
    if (this.mskOptions) {
      const arn = parseClusterArn(this.mskOptions.clusterArn);
      const eventSource = new ManagedKafkaEventSource({ clusterArn: this.mskOptions.clusterArn, ...common.eventSourceProps });
      fn.addEventSource(eventSource);
      // aws-cdk-lib attaches AWSLambdaMSKExecutionRole (kafka:Describe*, EC2 and CloudWatch Logs on "*") to
      // the role; the construct's role has no other managed policy, and the statements below grant the
      // same reads scoped to this cluster, topic and group (the role writes only its own log group).
      (fn.role!.node.defaultChild as iam.CfnRole).addPropertyDeletionOverride('ManagedPolicyArns');
      suppressNag(fn.role!, [{
        id: 'AwsSolutions-IAM4',
        reason: 'aws-cdk-lib\'s ManagedKafkaEventSource adds AWSLambdaMSKExecutionRole to the role object; the construct deletes '
          + 'ManagedPolicyArns from the template (a test asserts it) and grants the same reads scoped to the cluster, topic and group.',
        appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole'],
      }]);
      grantMskIamRead(fn, scope, arn, o.topic, common.consumerGroupId);
      grantEni(fn);
      return { eventSource, offsetLagAlarmThreshold: common.offsetLagAlarmThreshold, environment };
    }
    const s = this.selfManagedOptions!;
    const auth = validateSelfManaged(s);
    const vpcSubnets = s.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    let subnetIds: string[];
    try {
      subnetIds = s.vpc.selectSubnets(vpcSubnets).subnetIds;
    } catch (e) {
      throw propError(NAME, 'kafka.vpcSubnets', `no subnets: ${(e as Error).message}`, 'give vpcSubnets that select subnets of the VPC with a route to the brokers');
    }
    if (subnetIds.length === 0) {
      throw propError(NAME, 'kafka.vpcSubnets', 'selects no subnet of the VPC', 'give vpcSubnets that select subnets with a route to the brokers (and a NAT gateway or VPC endpoints for Lambda, STS and Secrets Manager)');
    }
    const securityGroup = s.securityGroup ?? new ec2.SecurityGroup(scope, 'KafkaSecurityGroup', {
      vpc: s.vpc, description: `Lambda's Kafka event source mapping of ${ctx.pipelineName}`, allowAllOutbound: true,
    });
    const eventSource = new SelfManagedKafkaEventSource({
      ...common.eventSourceProps,
      bootstrapServers: s.bootstrapServers,
      vpc: s.vpc,
      vpcSubnets,
      securityGroup,
      authenticationMethod: auth.method,
      secret: auth.secret,
      rootCACertificate: s.rootCaSecret,
    });
    fn.addEventSource(eventSource);
    // aws-cdk-lib grants the credentials secret; the root CA secret is read by the mapping too.
    s.rootCaSecret?.grantRead(fn);
    grantEni(fn);
    return { eventSource, offsetLagAlarmThreshold: common.offsetLagAlarmThreshold, environment, securityGroup };
  }
}

function validateCommon(o: KafkaSourceOptions, ctx: KafkaBindContext) {
  if (!Token.isUnresolved(o.topic) && !TOPIC_NAME.test(o.topic)) {
    throw propError(NAME, 'kafka.topic', `"${o.topic}" is not a Kafka topic name`, 'use 1-249 letters, digits, ".", "_" or "-"');
  }
  const consumerGroupId = o.consumerGroupId ?? ctx.pipelineName;
  if (!Token.isUnresolved(consumerGroupId) && !CONSUMER_GROUP.test(consumerGroupId)) {
    throw propError(NAME, o.consumerGroupId === undefined ? 'pipelineName' : 'kafka.consumerGroupId', `"${consumerGroupId}" is not a usable consumer group id`,
      'give consumerGroupId of 1-200 letters, digits or "-/_+=.@" (Lambda\'s rule, without "*" and ":")');
  }
  const startingPosition = o.startingPosition ?? lambda.StartingPosition.TRIM_HORIZON;
  if (startingPosition === lambda.StartingPosition.AT_TIMESTAMP && o.startingPositionTimestamp === undefined) {
    throw propError(NAME, 'kafka.startingPositionTimestamp', 'is missing while startingPosition is AT_TIMESTAMP', 'give the Unix time in seconds to start from');
  }
  if (startingPosition !== lambda.StartingPosition.AT_TIMESTAMP && o.startingPositionTimestamp !== undefined) {
    throw propError(NAME, 'kafka.startingPositionTimestamp', 'only applies to startingPosition AT_TIMESTAMP', 'remove it, or set startingPosition: StartingPosition.AT_TIMESTAMP');
  }
  let provisionedPollerConfig: { minimumPollers?: number; maximumPollers?: number } | undefined;
  if (o.minimumPollers !== undefined || o.maximumPollers !== undefined) {
    const min = o.minimumPollers ?? 1;
    const max = o.maximumPollers ?? 200;
    if (!Number.isInteger(min) || min < 1 || min > 200) throw propError(NAME, 'kafka.minimumPollers', `${min} is not a whole number from 1 to 200`, 'give 1-200 (Lambda\'s provisioned mode range)');
    if (!Number.isInteger(max) || max < 1 || max > 2000) throw propError(NAME, 'kafka.maximumPollers', `${max} is not a whole number from 1 to 2000`, 'give 1-2000 (Lambda\'s provisioned mode range)');
    if (min > max) throw propError(NAME, 'kafka.maximumPollers', `${max} is below minimumPollers (${min})`, 'give maximumPollers >= minimumPollers');
    provisionedPollerConfig = { minimumPollers: min, maximumPollers: max };
  }
  const offsetLagAlarmThreshold = o.offsetLagAlarmThreshold ?? 100_000;
  if (!Number.isInteger(offsetLagAlarmThreshold) || offsetLagAlarmThreshold < 1) {
    throw propError(NAME, 'kafka.offsetLagAlarmThreshold', `${offsetLagAlarmThreshold} is not a positive whole number`, 'give the number of records behind the topic that should raise the alarm');
  }

  const environment: Record<string, string> = {};
  const sources: [string, string, string | undefined][] = [
    ['id', ctx.fields.id, o.eventIdFromKey ? 'key' : undefined],
  ];
  const headers = o.eventHeaders ?? {};
  if (o.eventIdFromKey && headers.id !== undefined) {
    throw propError(NAME, 'kafka.eventHeaders.id', 'the id cannot come from both the key and a header', 'remove eventHeaders.id, or eventIdFromKey');
  }
  if (headers.id !== undefined) sources[0][2] = `header:${headers.id}`;
  sources.push(['type', ctx.fields.type, headers.type === undefined ? undefined : `header:${headers.type}`]);
  sources.push(['subtype', ctx.fields.subtype, headers.subtype === undefined ? undefined : `header:${headers.subtype}`]);
  sources.push(['time', ctx.fields.time, headers.time === undefined ? undefined : `header:${headers.time}`]);
  for (const [role, field, source] of sources) {
    if (source === undefined) continue;
    const prop = source === 'key' ? 'kafka.eventIdFromKey' : `kafka.eventHeaders.${role}`;
    if (source !== 'key' && !HEADER_NAME.test(source.slice('header:'.length))) {
      throw propError(NAME, prop, `"${source.slice('header:'.length)}" is not a header name`, 'give 1-249 printable ASCII characters');
    }
    if (field.includes('.')) {
      throw propError(NAME, prop, `eventFields.${role} "${field}" is nested, but a value from the ${source === 'key' ? 'key' : 'header'} is written into a top-level field`,
        `give eventFields.${role} a top-level field name`);
    }
    environment[`KAFKA_${role.toUpperCase()}_FROM`] = source;
  }
  return {
    consumerGroupId,
    offsetLagAlarmThreshold,
    environment,
    eventSourceProps: {
      topic: o.topic,
      consumerGroupId,
      startingPosition,
      startingPositionTimestamp: o.startingPositionTimestamp,
      batchSize: ctx.batchSize,
      maxBatchingWindow: ctx.maxBatchingWindow,
      provisionedPollerConfig,
    },
  };
}

function validateSelfManaged(s: SelfManagedKafkaSourceOptions): { method: AuthenticationMethod; secret: secretsmanager.ISecret } {
  if (!s.vpc) {
    throw propError(NAME, 'kafka.vpc', 'is missing: the library reads self-managed Kafka from a VPC only (brokers on the Internet would need open listeners)',
      'give the VPC (and vpcSubnets, securityGroup) the brokers are reached from');
  }
  if (!s.bootstrapServers || s.bootstrapServers.length === 0) {
    throw propError(NAME, 'kafka.bootstrapServers', 'is empty', 'give the brokers as "host:port" strings');
  }
  s.bootstrapServers.forEach((b, i) => {
    if (!Token.isUnresolved(b) && !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(b)) {
      throw propError(NAME, `kafka.bootstrapServers[${i}]`, `"${b}" is not host:port`, 'give each broker as "host:port", e.g. "b-1.kafka.internal:9096"');
    }
  });
  const authentication = s.authentication ?? KafkaAuthentication.SASL_SCRAM_512;
  if (authentication === KafkaAuthentication.MUTUAL_TLS) {
    if (!s.clientCertificateSecret) {
      throw propError(NAME, 'kafka.clientCertificateSecret', 'is missing while authentication is MUTUAL_TLS', 'give the secret with the client certificate and private key');
    }
    if (s.secret) throw propError(NAME, 'kafka.secret', 'holds SASL/SCRAM credentials, but authentication is MUTUAL_TLS', 'remove secret, or choose a SASL_SCRAM authentication');
    return { method: AuthenticationMethod.CLIENT_CERTIFICATE_TLS_AUTH, secret: s.clientCertificateSecret };
  }
  if (s.clientCertificateSecret) {
    throw propError(NAME, 'kafka.clientCertificateSecret', `is for mTLS, but authentication is ${authentication}`, 'set authentication: KafkaAuthentication.MUTUAL_TLS, or remove clientCertificateSecret');
  }
  if (!s.secret) {
    throw propError(NAME, 'kafka.secret', `is missing while authentication is ${authentication}`, 'give the secret with the SASL/SCRAM username and password');
  }
  return {
    method: authentication === KafkaAuthentication.SASL_SCRAM_256
      ? AuthenticationMethod.SASL_SCRAM_256_AUTH : AuthenticationMethod.SASL_SCRAM_512_AUTH,
    secret: s.secret,
  };
}

interface ClusterArn {
  readonly arn: string;
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  /** `<cluster name>/<cluster uuid>`. */
  readonly nameAndUuid: string;
}

function parseClusterArn(arn: string): ClusterArn {
  if (!Token.isUnresolved(arn) && !/^arn:aws[a-zA-Z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9-]{1,64}\/[A-Za-z0-9-]+$/.test(arn)) {
    throw propError(NAME, 'kafka.clusterArn', `"${arn}" is not an MSK cluster ARN`, 'give arn:<partition>:kafka:<region>:<account>:cluster/<name>/<uuid> (provisioned or Serverless)');
  }
  const parts = Arn.split(arn, ArnFormat.SLASH_RESOURCE_NAME);
  return { arn, partition: parts.partition!, region: parts.region!, account: parts.account!, nameAndUuid: parts.resourceName! };
}

/**
 * The rights Lambda's MSK event source needs with IAM authentication (Lambda developer guide,
 * "Amazon MSK ... execution role permissions"; Amazon MSK developer guide, "IAM access control"):
 * the cluster (Connect, DescribeClusterDynamicConfiguration, DescribeClusterV2), GetBootstrapBrokers (no resource type: "*"),
 * the topic (DescribeTopic, ReadData) and the consumer group (DescribeGroup, AlterGroup), each on its own ARN.
 */
function grantMskIamRead(fn: lambda.Function, scope: Construct, arn: ClusterArn, topic: string, group: string): void {
  const stack = Stack.of(scope);
  const sub = (resource: string, name: string) => stack.formatArn({
    partition: arn.partition,
    service: 'kafka',
    region: arn.region,
    account: arn.account,
    resource,
    resourceName: `${arn.nameAndUuid}/${name}`,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
  fn.addToRolePolicy(new iam.PolicyStatement({
    actions: ['kafka:DescribeClusterV2', 'kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
    resources: [arn.arn],
  }));
  // The Service Authorization Reference lists no resource type for kafka:GetBootstrapBrokers: a
  // statement scoped to the cluster ARN would not allow it (the IAM evaluator's "must use wildcard").
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['kafka:GetBootstrapBrokers'], resources: ['*'] }));
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'], resources: [sub('topic', topic)] }));
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'], resources: [sub('group', group)] }));
}

/**
 * The network-interface rights a Kafka event source mapping needs in the cluster's VPC (the
 * `AWSLambdaMSKExecutionRole` managed policy's EC2 actions). They have no resource-level scoping
 * for the Describe calls, so they are on "*".
 */
function grantEni(fn: lambda.Function): void {
  fn.addToRolePolicy(new iam.PolicyStatement({
    actions: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeVpcs', 'ec2:DeleteNetworkInterface', 'ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups'],
    resources: ['*'],
  }));
}
