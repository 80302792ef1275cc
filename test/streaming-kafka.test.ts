/**
 * StreamingDedupIngestion with a Kafka source: the event source mappings in the template (MSK with
 * IAM auth, self-managed SASL/SCRAM and mTLS), the function role's rights checked by the IAM
 * evaluator (identity and resource policies, test/aws-rules/iam-harness.ts), validation errors that
 * name the prop, the offset-lag metric and alarm, and cdk-nag.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ACCOUNT, ENV, expectEdge, OTHER_ACCOUNT_ROLE, REGION, StackPolicies } from './aws-rules/iam-harness';
import { nagFindings } from './nag';
import {
  KafkaAuthentication, KafkaSource, LakehouseTier, SelfManagedKafkaSourceOptions, StreamingDedupIngestion, StreamingDedupIngestionProps,
} from '../src';

const CLUSTER = `arn:aws:kafka:${REGION}:${ACCOUNT}:cluster/lake-events/abcd1234-0123-4567-89ab-cdef01234567-s1`;

function build(props: (stack: Stack) => Partial<StreamingDedupIngestionProps>) {
  const stack = new Stack(new App(), 'Kafka', { env: ENV });
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  const streaming = new StreamingDedupIngestion(stack, 'Orders', { lake, datasetName: 'orders', ...props(stack) });
  return { stack, lake, streaming };
}

/** Alarms on Lambda's OffsetLag (a labelled metric renders in the alarm's `Metrics` form). */
function offsetLagAlarms(template: Template): any[] {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm'))
    .map((r) => r.Properties)
    .filter((p) => JSON.stringify(p.Metrics ?? p.MetricName).includes('"OffsetLag"') && JSON.stringify(p.Metrics).includes('"AWS/Lambda"'));
}

function selfManaged(stack: Stack, overrides: Partial<SelfManagedKafkaSourceOptions> = {}): KafkaSource {
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  return KafkaSource.selfManaged({
    topic: 'orders',
    bootstrapServers: ['b-1.kafka.internal:9096', 'b-2.kafka.internal:9096'],
    vpc,
    secret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Scram', `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:AmazonMSK_orders-AbCdEf`),
    ...overrides,
  });
}

describe('Amazon MSK with IAM authentication', () => {
  const { stack, streaming } = build(() => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'orders.v1' }) }));
  const template = Template.fromStack(stack);

  test('one Kafka event source mapping: the topic, TRIM_HORIZON, the pipeline name as consumer group, no Kinesis-only retry settings', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: CLUSTER,
      Topics: ['orders.v1'],
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 1,
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'orders' },
      FunctionResponseTypes: Match.absent(),
      MaximumRetryAttempts: Match.absent(),
      DestinationConfig: Match.absent(),
      SourceAccessConfigurations: Match.absent(),
    });
    // aws-cdk-lib's AWSLambdaMSKExecutionRole (EC2, Logs and kafka:Describe* on "*") is not deployed.
    template.hasResourceProperties('AWS::IAM::Role', { Description: Match.stringLikeRegexp('^Dedup Lambda'), ManagedPolicyArns: Match.absent() });
    // The Kinesis mapping for replays stays.
    template.resourcePropertiesCountIs('AWS::Lambda::EventSourceMapping', { StartingPosition: 'TRIM_HORIZON' }, 2);
    expect(streaming.kafkaSource?.kind).toBe('msk');
  });

  const p = new StackPolicies(stack);
  const role = p.str(streaming.dedupFunction!.role!.roleArn);
  const topic = `arn:aws:kafka:${REGION}:${ACCOUNT}:topic/lake-events/abcd1234-0123-4567-89ab-cdef01234567-s1/orders.v1`;
  const group = `arn:aws:kafka:${REGION}:${ACCOUNT}:group/lake-events/abcd1234-0123-4567-89ab-cdef01234567-s1/orders`;
  const edges = [
    { action: 'kafka-cluster:Connect', resource: CLUSTER, expect: 'allow' },
    { action: 'kafka-cluster:DescribeClusterDynamicConfiguration', resource: CLUSTER, expect: 'allow' },
    { action: 'kafka:DescribeClusterV2', resource: CLUSTER, expect: 'allow' },
    { action: 'kafka:GetBootstrapBrokers', resource: '*', expect: 'allow' }, // no resource type in the Service Authorization Reference
    { action: 'kafka-cluster:DescribeTopic', resource: topic, expect: 'allow' },
    { action: 'kafka-cluster:ReadData', resource: topic, expect: 'allow' },
    { action: 'kafka-cluster:DescribeGroup', resource: group, expect: 'allow' },
    { action: 'kafka-cluster:AlterGroup', resource: group, expect: 'allow' },
    { action: 'ec2:CreateNetworkInterface', resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:network-interface/*`, expect: 'allow' },
    { action: 'ec2:DescribeNetworkInterfaces', resource: '*', expect: 'allow' },
    { action: 'ec2:DeleteNetworkInterface', resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:network-interface/eni-0123`, expect: 'allow' },
    { action: 'ec2:DescribeVpcs', resource: '*', expect: 'allow' },
    { action: 'ec2:DescribeSubnets', resource: '*', expect: 'allow' },
    { action: 'ec2:DescribeSecurityGroups', resource: '*', expect: 'allow' },
    // Least privilege: the mapping reads, never writes, and only its topic and group.
    { action: 'kafka-cluster:WriteData', resource: topic, expect: 'deny' },
    { action: 'kafka-cluster:ReadData', resource: topic.replace('orders.v1', 'payments'), expect: 'deny' },
    { action: 'kafka-cluster:AlterGroup', resource: group.replace('orders', 'other-app'), expect: 'deny' },
    { action: 'kafka-cluster:DeleteTopic', resource: topic, expect: 'deny' },
  ] as const;
  test.each(edges.map((e) => [`${e.expect} ${e.action} on ${e.resource.split(':').slice(5).join(':')}`, e]))('the dedup role may %s', async (_, e) => {
    await expectEdge(p, { name: e.action, who: role, action: e.action, resource: e.resource, expect: e.expect, why: 'Lambda reads MSK with the function role (IAM auth)' });
  });
  test('another account cannot read the topic through this construct', async () => {
    await expectEdge(p, { name: 'foreign', who: OTHER_ACCOUNT_ROLE, action: 'kafka-cluster:ReadData', resource: topic, expect: 'deny', why: 'no cross-account access' });
  });

  test('the offset lag is a public metric, on the dashboard metrics and behind an alarm', () => {
    const lag = stack.resolve(streaming.metricOffsetLag());
    expect(lag).toMatchObject({ namespace: 'AWS/Lambda', metricName: 'OffsetLag', statistic: 'Maximum' });
    expect(stack.resolve(streaming.metricOffsetLag().dimensions)).toEqual({ FunctionName: stack.resolve(streaming.dedupFunction!.functionName) });
    expect(streaming.pipelineMetrics.additional?.map((m) => m.label)).toContain('Kafka offset lag (records behind the topic)');
    expect(offsetLagAlarms(template)).toEqual([expect.objectContaining({ Threshold: 100000, EvaluationPeriods: 3 })]);
  });
});

describe('self-managed Kafka', () => {
  test('SASL/SCRAM-512 by default: the secret, the VPC subnets and a created security group; the role reads the secret and decrypts with its key', async () => {
    const key = (stack: Stack) => new kms.Key(stack, 'SecretKey', { enableKeyRotation: true });
    let secretKey: kms.Key | undefined;
    let secret: secretsmanager.Secret | undefined;
    const { stack, streaming } = build((s) => {
      secretKey = key(s);
      secret = new secretsmanager.Secret(s, 'Credentials', { encryptionKey: secretKey });
      return { kafka: selfManaged(s, { secret }) };
    });
    const template = Template.fromStack(stack);
    const mapping = template.findResources('AWS::Lambda::EventSourceMapping', { Properties: { SelfManagedEventSource: Match.anyValue() } });
    const props = Object.values(mapping)[0].Properties;
    expect(props.SelfManagedEventSource).toEqual({ Endpoints: { KafkaBootstrapServers: ['b-1.kafka.internal:9096', 'b-2.kafka.internal:9096'] } });
    const types = props.SourceAccessConfigurations.map((c: any) => c.Type);
    expect(types.filter((t: string) => t === 'SASL_SCRAM_512_AUTH')).toHaveLength(1);
    expect(types.filter((t: string) => t === 'VPC_SUBNET')).toHaveLength(2);
    expect(types.filter((t: string) => t === 'VPC_SECURITY_GROUP')).toHaveLength(1);
    expect(props.SelfManagedKafkaEventSourceConfig).toEqual({ ConsumerGroupId: 'orders' });
    expect(streaming.kafkaSecurityGroup).toBeDefined();

    const p = new StackPolicies(stack);
    const role = p.str(streaming.dedupFunction!.role!.roleArn);
    await expectEdge(p, { name: 'secret', who: role, action: 'secretsmanager:GetSecretValue', resource: p.str(secret!.secretArn), expect: 'allow', why: 'SASL/SCRAM credentials' });
    await expectEdge(p, {
      name: 'secret key',
      who: role,
      action: 'kms:Decrypt',
      resource: p.str(secretKey!.keyArn),
      context: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` },
      expect: 'allow',
      why: 'the secret is encrypted with its own key',
    });
    await expectEdge(p, { name: 'eni', who: role, action: 'ec2:CreateNetworkInterface', resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:network-interface/*`, expect: 'allow', why: 'the mapping\'s ENIs in the VPC' });
    await expectEdge(p, { name: 'no other secret', who: role, action: 'secretsmanager:GetSecretValue', resource: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:other-AbCdEf`, expect: 'deny', why: 'least privilege' });
  });

  test('SASL/SCRAM-256 when chosen', () => {
    const { stack } = build((s) => ({ kafka: selfManaged(s, { authentication: KafkaAuthentication.SASL_SCRAM_256 }) }));
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      SourceAccessConfigurations: Match.arrayWith([{ Type: 'SASL_SCRAM_256_AUTH', URI: Match.stringLikeRegexp('AmazonMSK_orders') }]),
    });
  });

  test('mTLS: the client certificate secret and the root CA secret, both readable by the role', async () => {
    let cert = '';
    let ca = '';
    const { stack, streaming } = build((s) => {
      const client = new secretsmanager.Secret(s, 'ClientCert');
      const root = new secretsmanager.Secret(s, 'RootCa');
      cert = s.resolve(client.secretArn).Ref;
      ca = s.resolve(root.secretArn).Ref;
      return {
        kafka: selfManaged(s, {
          secret: undefined, authentication: KafkaAuthentication.MUTUAL_TLS, clientCertificateSecret: client, rootCaSecret: root,
        }),
      };
    });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      SourceAccessConfigurations: Match.arrayWith([
        { Type: 'CLIENT_CERTIFICATE_TLS_AUTH', URI: { Ref: cert } },
        { Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: { Ref: ca } },
      ]),
    });
    const p = new StackPolicies(stack);
    const role = p.str(streaming.dedupFunction!.role!.roleArn);
    for (const secret of [cert, ca]) {
      await expectEdge(p, { name: secret, who: role, action: 'secretsmanager:GetSecretValue', resource: p.str({ Ref: secret }), expect: 'allow', why: 'mTLS material' });
    }
  });

  test('the id from a header and the type from the key-less header set reach the handler environment', () => {
    const { stack } = build((s) => ({ kafka: selfManaged(s, { eventHeaders: { id: 'event-id', type: 'event-type' } }) }));
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ KAFKA_ID_FROM: 'header:event-id', KAFKA_TYPE_FROM: 'header:event-type' }) },
    });
  });
});

describe('validation names the prop and the fix', () => {
  const cases: [string, (s: Stack) => Partial<StreamingDedupIngestionProps>, RegExp][] = [
    ['kafka and stream', (s) => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o' }), stream: new kinesis.Stream(s, 'S') }), /kafka.*"stream" are both given/],
    ['kafka without dedup', () => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o' }), deduplicate: false }), /deduplicate.*remove deduplicate: false/],
    ['Kinesis-only retry settings', () => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o' }), retryAttempts: 3 }), /retryAttempts.*Kinesis event source/],
    ['a topic Kafka rejects', () => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'orders/v1' }) }), /kafka\.topic.*1-249/],
    ['a 250-character topic', () => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'a'.repeat(250) }) }), /kafka\.topic/],
    ['a malformed cluster ARN', () => ({ kafka: KafkaSource.msk({ clusterArn: 'arn:aws:kafka:eu-west-1:111111111111:topic/x', topic: 'o' }) }), /kafka\.clusterArn/],
    ['a consumer group with a wildcard', () => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o', consumerGroupId: 'g*' }) }), /kafka\.consumerGroupId/],
    ['AT_TIMESTAMP without a timestamp', () => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o', startingPosition: lambda.StartingPosition.AT_TIMESTAMP }) }), /kafka\.startingPositionTimestamp/],
    ['min pollers above max', () => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o', minimumPollers: 5, maximumPollers: 2 }) }), /kafka\.maximumPollers/],
    ['id from key and header', () => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o', eventIdFromKey: true, eventHeaders: { id: 'x' } }) }), /kafka\.eventHeaders\.id/],
    ['key id into a nested field', () => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o', eventIdFromKey: true }), eventFields: { id: 'meta.id' } }), /kafka\.eventIdFromKey.*top-level/],
    ['batch size above 10,000', () => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o' }), batchSize: 10_001 }), /batchSize/],
    ['self-managed without a VPC', (s) => ({ kafka: selfManaged(s, { vpc: undefined as any }) }), /kafka\.vpc.*give the VPC/],
    ['self-managed with subnets that do not exist', (s) => ({ kafka: selfManaged(s, { vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } }) }), /kafka\.vpcSubnets/],
    ['mTLS without a client certificate', (s) => ({ kafka: selfManaged(s, { secret: undefined, authentication: KafkaAuthentication.MUTUAL_TLS }) }), /kafka\.clientCertificateSecret.*MUTUAL_TLS/],
    ['SASL without a secret', (s) => ({ kafka: selfManaged(s, { secret: undefined }) }), /kafka\.secret.*SASL_SCRAM_512/],
    ['a broker that is not host:port', (s) => ({ kafka: selfManaged(s, { bootstrapServers: ['kafka.internal'] }) }), /kafka\.bootstrapServers\[0\]/],
  ];
  test.each(cases)('%s', (_, props, message) => {
    expect(() => build(props)).toThrow(message);
  });

  test('metricOffsetLag without a Kafka source', () => {
    const { streaming } = build(() => ({}));
    expect(() => streaming.metricOffsetLag()).toThrow(/kafka.*is not set/);
  });

  test('defaults the docs state: TRIM_HORIZON, consumer group = pipeline name, lag alarm at 100,000 records, on-demand pollers', () => {
    const { stack } = build(() => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o' }), pipelineName: 'orders-live' }));
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: CLUSTER, StartingPosition: 'TRIM_HORIZON', AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'orders-live' }, ProvisionedPollerConfig: Match.absent(),
    });
    expect(offsetLagAlarms(t)).toEqual([expect.objectContaining({ Threshold: 100000 })]);
  });

  test('provisioned pollers when asked', () => {
    const { stack } = build(() => ({ kafka: KafkaSource.msk({ clusterArn: CLUSTER, topic: 'o', minimumPollers: 2 }) }));
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', { ProvisionedPollerConfig: { MinimumPollers: 2, MaximumPollers: 200 } });
  });
});

describe('cdk-nag', () => {
  test.each([
    ['MSK', (_s: Stack) => KafkaSource.msk({ clusterArn: CLUSTER, topic: 'orders' })],
    ['self-managed SASL/SCRAM', (s: Stack) => selfManaged(s)],
  ])('%s: no error or warning left', (_, source) => {
    const stack = new Stack(new App(), 'NagKafka');
    const lake = new LakehouseTier(stack, 'Lake');
    new StreamingDedupIngestion(stack, 'Orders', { lake, kafka: source(stack) });
    const findings = nagFindings(stack);
    expect(findings.errors.filter((f) => !f.includes('/Vpc/'))).toEqual([]);
    expect(findings.warnings.filter((f) => !f.includes('/Vpc/'))).toEqual([]);
  });
});
