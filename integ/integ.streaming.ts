/**
 * Integ test: StreamingDedupIngestion end to end. Puts events on the stream (two of them
 * duplicated, one malformed), then asserts that
 * - objects arrive in the raw zone under the right Hive partitions (type/subtype/year/month/day),
 * - the malformed record lands in the quarantine prefix,
 * - after a run of the merge job, an Athena count over the curated Iceberg table equals the number
 *   of unique events.
 *
 * Deploy in a sandbox: `npx integ-runner --directory integ --language typescript integ.streaming.ts`
 * Offline (no credentials) the runner only compares the committed snapshot.
 */
import { ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { LakehouseTier, StreamingDedupIngestion } from '../src';

const app = new App();
const stack = new Stack(app, 'StreamingIntegStack');

const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'integ_streaming', removalPolicy: RemovalPolicy.DESTROY });
const events = new StreamingDedupIngestion(stack, 'Events', {
  lake,
  removalPolicy: RemovalPolicy.DESTROY,
  // Deliver quickly and merge on demand (the test starts the job itself).
  bufferInterval: Duration.seconds(60),
  bufferSize: Size.mebibytes(64),
  mergeFlex: false,
});

const results = new s3.Bucket(stack, 'AthenaResults', {
  enforceSSL: true,
  removalPolicy: RemovalPolicy.DESTROY,
  autoDeleteObjects: true,
});

const integ = new IntegTest(app, 'StreamingInteg', { testCases: [stack], regions: ['us-east-1'] });

const event = (id: string, type: string, subtype: string) =>
  JSON.stringify({ event_id: id, event_type: type, event_subtype: subtype, event_time: '2026-01-31T10:00:00Z', payload: { n: id } });
const unique = [
  event('e-1', 'account', 'created'),
  event('e-2', 'account', 'created'),
  event('e-3', 'account', 'created'),
  event('e-4', 'lesson', 'started'),
  event('e-5', 'lesson', 'started'),
];
const records = [
  ...unique,
  event('e-1', 'account', 'created'), // duplicate
  event('e-4', 'lesson', 'started'), // duplicate
  'this is not json', // malformed
].map((data, i) => ({ Data: data, PartitionKey: `pk-${i}` }));

const put = integ.assertions.awsApiCall('Kinesis', 'putRecords', { StreamName: events.stream.streamName, Records: records });
put.expect(ExpectedResult.objectLike({ FailedRecordCount: 0 }));
put.provider.addToRolePolicy({ Effect: 'Allow', Action: ['kinesis:PutRecords', 'kms:GenerateDataKey'], Resource: ['*'] });

const listPrefix = (prefix: string) => {
  const call = integ.assertions.awsApiCall('S3', 'listObjectsV2', { Bucket: lake.raw.bucket.bucketName, Prefix: prefix });
  call.provider.addToRolePolicy({ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['*'] });
  return call;
};
const accountObjects = listPrefix('events/event_type=account/event_subtype=created/year=2026/month=01/day=31/');
accountObjects.expect(ExpectedResult.objectLike({ KeyCount: 1 }));
accountObjects.waitForAssertions({ totalTimeout: Duration.minutes(10), interval: Duration.seconds(30) });

const lessonObjects = listPrefix('events/event_type=lesson/event_subtype=started/year=2026/month=01/day=31/');
lessonObjects.expect(ExpectedResult.objectLike({ KeyCount: 1 }));
lessonObjects.waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(30) });

const quarantined = listPrefix(events.quarantinePrefix);
quarantined.expect(ExpectedResult.objectLike({ KeyCount: 1 }));
quarantined.waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(15) });

const startMerge = integ.assertions.awsApiCall('Glue', 'startJobRun', { JobName: events.merge.jobName });
startMerge.provider.addToRolePolicy({ Effect: 'Allow', Action: ['glue:StartJobRun', 'glue:GetJobRun'], Resource: ['*'] });
const mergeRun = integ.assertions.awsApiCall('Glue', 'getJobRun', { JobName: events.merge.jobName, RunId: startMerge.getAttString('JobRunId') });
mergeRun.expect(ExpectedResult.objectLike({ JobRun: { JobRunState: 'SUCCEEDED' } }));
mergeRun.waitForAssertions({ totalTimeout: Duration.minutes(20), interval: Duration.seconds(30) });

const query = integ.assertions.awsApiCall('Athena', 'startQueryExecution', {
  QueryString: `SELECT count(*) AS events, count(DISTINCT event_id) AS ids FROM ${events.curatedTable.tableName}`,
  QueryExecutionContext: { Database: lake.curated.databaseName },
  ResultConfiguration: { OutputLocation: `s3://${results.bucketName}/` },
  WorkGroup: 'primary',
});
query.provider.addToRolePolicy({
  Effect: 'Allow',
  Action: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions', 's3:GetObject', 's3:ListBucket', 's3:GetBucketLocation', 's3:PutObject', 'kms:Decrypt', 'kms:GenerateDataKey'],
  Resource: ['*'],
});
const execution = integ.assertions.awsApiCall('Athena', 'getQueryExecution', { QueryExecutionId: query.getAttString('QueryExecutionId') });
execution.expect(ExpectedResult.objectLike({ QueryExecution: { Status: { State: 'SUCCEEDED' } } }));
execution.waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(10) });

const rows = integ.assertions.awsApiCall('Athena', 'getQueryResults', { QueryExecutionId: query.getAttString('QueryExecutionId') });
rows.expect(ExpectedResult.objectLike({
  ResultSet: {
    Rows: [
      { Data: [{ VarCharValue: 'events' }, { VarCharValue: 'ids' }] },
      { Data: [{ VarCharValue: String(unique.length) }, { VarCharValue: String(unique.length) }] },
    ],
  },
}));

put.next(accountObjects).next(lessonObjects).next(quarantined).next(startMerge).next(mergeRun).next(query).next(execution).next(rows);
