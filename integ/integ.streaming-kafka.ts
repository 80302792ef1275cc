/**
 * Integ test: StreamingDedupIngestion with an Amazon MSK Serverless source (IAM auth). Deploys a
 * VPC, an MSK Serverless cluster and the pipeline reading its `orders` topic, then asserts that
 * - Lambda's Kafka event source mapping reaches the `Enabled` state (the function role's MSK IAM
 *   rights and the network-interface rights are sufficient for Lambda to join the consumer group),
 * - a batch in the exact shape the mapping delivers (with-msk.html), two records sharing an event id
 *   across partitions, lands once in the raw zone under the Hive partitions.
 *
 * Not covered here: producing to the topic itself needs a Kafka client with the MSK IAM SASL signer
 * inside the VPC (no AWS API call produces to Kafka); the second assertion feeds the dedup function
 * the mapping's event shape instead.
 *
 * Deploy in a sandbox: `npx integ-runner --directory integ --language typescript integ.streaming-kafka.ts`
 * Offline (no credentials) the runner only compares the committed snapshot.
 */
import { ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as msk from 'aws-cdk-lib/aws-msk';
import { KafkaSource, LakehouseTier, StreamingDedupIngestion } from '../src';

const app = new App();
const stack = new Stack(app, 'StreamingKafkaIntegStack');

const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
const clusterSecurityGroup = new ec2.SecurityGroup(stack, 'ClusterSecurityGroup', { vpc, description: 'MSK Serverless of the integ test' });
// Lambda's mapping uses the cluster's security group: it must admit itself on the IAM listener (9098).
clusterSecurityGroup.addIngressRule(clusterSecurityGroup, ec2.Port.tcp(9098), 'Lambda event pollers (IAM auth)');
const cluster = new msk.CfnServerlessCluster(stack, 'Cluster', {
  clusterName: 'integ-lake-events',
  clientAuthentication: { sasl: { iam: { enabled: true } } },
  vpcConfigs: [{ subnetIds: vpc.privateSubnets.map((s) => s.subnetId), securityGroups: [clusterSecurityGroup.securityGroupId] }],
});

const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'integ_kafka', removalPolicy: RemovalPolicy.DESTROY });
const orders = new StreamingDedupIngestion(stack, 'Orders', {
  lake,
  datasetName: 'orders',
  removalPolicy: RemovalPolicy.DESTROY,
  kafka: KafkaSource.msk({ clusterArn: cluster.attrArn, topic: 'orders' }),
  bufferInterval: Duration.seconds(60),
  bufferSize: Size.mebibytes(64),
  mergeFlex: false,
});

const integ = new IntegTest(app, 'StreamingKafkaInteg', { testCases: [stack], regions: ['us-east-1'] });

const mapping = integ.assertions.awsApiCall('Lambda', 'listEventSourceMappings', { FunctionName: orders.dedupFunction!.functionName, EventSourceArn: cluster.attrArn });
mapping.expect(ExpectedResult.objectLike({ EventSourceMappings: [{ State: 'Enabled', Topics: ['orders'] }] }));
mapping.waitForAssertions({ totalTimeout: Duration.minutes(15), interval: Duration.seconds(30) });

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const value = (id: string) => b64(JSON.stringify({ event_id: id, event_type: 'order', event_subtype: 'placed', event_time: '2026-01-31T10:00:00Z' }));
const record = (partition: number, offset: number, id: string) => ({
  topic: 'orders', partition, offset, timestamp: 1769853600000, timestampType: 'CREATE_TIME', key: b64(id), value: value(id), headers: [],
});
const invoke = integ.assertions.invokeFunction({
  functionName: orders.dedupFunction!.functionName,
  payload: JSON.stringify({
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:us-east-1:000000000000:cluster/integ-lake-events/00000000-0000-0000-0000-000000000000-s1',
    bootstrapServers: 'boot.integ:9098',
    records: { 'orders-0': [record(0, 1, 'o-1'), record(0, 2, 'o-2')], 'orders-1': [record(1, 7, 'o-1')] },
  }),
});
invoke.expect(ExpectedResult.objectLike({ StatusCode: 200 }));

const raw = integ.assertions.awsApiCall('S3', 'listObjectsV2', {
  Bucket: lake.raw.bucket.bucketName, Prefix: 'orders/event_type=order/event_subtype=placed/year=2026/month=01/day=31/',
});
raw.provider.addToRolePolicy({ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['*'] });
raw.expect(ExpectedResult.objectLike({ KeyCount: 1 }));
raw.waitForAssertions({ totalTimeout: Duration.minutes(10), interval: Duration.seconds(30) });
