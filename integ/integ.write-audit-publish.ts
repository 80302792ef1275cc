/**
 * Integ test: write-audit-publish with a failed audit (issue 17). A StreamingDedupIngestion whose
 * curated table has a blocking rule (`event_type` in ['account']):
 * 1. good events are put and merged: the audit passes and main is published (2 rows);
 * 2. main's current snapshot id is read through Athena (`$history`);
 * 3. an event that breaks the rule is put and merged: the audit fails;
 * 4. main's current snapshot id is the one read in step 2, main still holds the 2 good rows, the
 *    rule results landed under the pipeline's quality results prefix.
 *
 * Deploy in a sandbox: `npx integ-runner --directory integ --language typescript integ.write-audit-publish.ts`
 * Offline (no credentials) the runner only compares the committed snapshot (the integrator
 * generates it).
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { LakehouseTier, QualityRule, StreamingDedupIngestion } from '../src';

const app = new App();
const stack = new Stack(app, 'WriteAuditPublishIntegStack');

const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'integ_wap', removalPolicy: RemovalPolicy.DESTROY });
const events = new StreamingDedupIngestion(stack, 'Events', {
  lake,
  datasetName: 'wap_events',
  removalPolicy: RemovalPolicy.DESTROY,
  bufferInterval: Duration.seconds(60),
  bufferSize: Size.mebibytes(64),
  mergeFlex: false,
  qualityRules: [QualityRule.isUnique(['event_id']), QualityRule.columnValuesIn('event_type', ['account'])],
});
const results = new s3.Bucket(stack, 'AthenaResults', { enforceSSL: true, removalPolicy: RemovalPolicy.DESTROY, autoDeleteObjects: true });

const integ = new IntegTest(app, 'WriteAuditPublishInteg', { testCases: [stack], regions: ['us-east-1'] });
const table = events.curatedTable.tableName;
const database = lake.curated.databaseName;

const event = (id: string, type: string) =>
  JSON.stringify({ event_id: id, event_type: type, event_subtype: 'created', event_time: '2026-01-31T10:00:00Z', payload: { n: id } });
const put = (id: string, data: string[]) => {
  const call = integ.assertions.awsApiCall('Kinesis', 'putRecords', { StreamName: events.stream.streamName, Records: data.map((d, i) => ({ Data: d, PartitionKey: `${id}-${i}` })) });
  call.expect(ExpectedResult.objectLike({ FailedRecordCount: 0 }));
  call.provider.addToRolePolicy({ Effect: 'Allow', Action: ['kinesis:PutRecords', 'kms:GenerateDataKey'], Resource: ['*'] });
  return call;
};
const rawObjects = (type: string) => {
  const call = integ.assertions.awsApiCall('S3', 'listObjectsV2', {
    Bucket: lake.raw.bucket.bucketName, Prefix: `wap_events/event_type=${type}/event_subtype=created/year=2026/month=01/day=31/`,
  });
  call.provider.addToRolePolicy({ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['*'] });
  call.expect(ExpectedResult.objectLike({ KeyCount: 1 }));
  call.waitForAssertions({ totalTimeout: Duration.minutes(10), interval: Duration.seconds(30) });
  return call;
};
const merge = (id: string) => {
  const start = integ.assertions.awsApiCall('Glue', 'startJobRun', { JobName: events.merge.jobName });
  start.provider.addToRolePolicy({ Effect: 'Allow', Action: ['glue:StartJobRun', 'glue:GetJobRun'], Resource: ['*'] });
  const run = integ.assertions.awsApiCall('Glue', 'getJobRun', { JobName: events.merge.jobName, RunId: start.getAttString('JobRunId') });
  // A failed audit is a data outcome, not a crash: the run ends (how it ends is the Glue side's contract).
  run.expect(ExpectedResult.objectLike({ JobRun: { JobRunState: Match.stringLikeRegexp(id === 'good' ? '^SUCCEEDED$' : '^(SUCCEEDED|FAILED)$') } }));
  run.waitForAssertions({ totalTimeout: Duration.minutes(20), interval: Duration.seconds(30) });
  return [start, run] as const;
};
const athena = (sql: string, outputPaths: string[]) => {
  const query = integ.assertions.awsApiCall('Athena', 'startQueryExecution', {
    QueryString: sql,
    QueryExecutionContext: { Database: database },
    ResultConfiguration: { OutputLocation: `s3://${results.bucketName}/` },
    WorkGroup: 'primary',
  });
  query.provider.addToRolePolicy({
    Effect: 'Allow',
    Action: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions', 's3:GetObject', 's3:ListBucket', 's3:GetBucketLocation', 's3:PutObject', 'kms:Decrypt', 'kms:GenerateDataKey'],
    Resource: ['*'],
  });
  const done = integ.assertions.awsApiCall('Athena', 'getQueryExecution', { QueryExecutionId: query.getAttString('QueryExecutionId') });
  done.expect(ExpectedResult.objectLike({ QueryExecution: { Status: { State: 'SUCCEEDED' } } }));
  done.waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(10) });
  const rows = integ.assertions.awsApiCall('Athena', 'getQueryResults', { QueryExecutionId: query.getAttString('QueryExecutionId') }, outputPaths);
  return [query, done, rows] as const;
};
const CURRENT_SNAPSHOT = `SELECT CAST(snapshot_id AS varchar) AS snapshot FROM "${table}$history" WHERE is_current_ancestor ORDER BY made_current_at DESC LIMIT 1`;
const SNAPSHOT_PATH = 'ResultSet.Rows.1.Data.0.VarCharValue';

// 1. Good events: the audit passes, main is published.
const putGood = put('good', [event('e-1', 'account'), event('e-2', 'account')]);
const goodRaw = rawObjects('account');
const [startGood, goodRun] = merge('good');
// 2. Main's current snapshot after the publish.
const [before, beforeDone, beforeRows] = athena(CURRENT_SNAPSHOT, [SNAPSHOT_PATH]);
beforeRows.expect(ExpectedResult.objectLike({ ResultSet: { Rows: Match.arrayWith([Match.objectLike({ Data: [{ VarCharValue: 'snapshot' }] })]) } }));
// 3. An event that breaks the blocking rule: the audit fails.
const putBad = put('bad', [event('e-3', 'lesson')]);
const badRaw = rawObjects('lesson');
const [startBad, badRun] = merge('bad');
// 4. Main is untouched: same snapshot, the good rows only; the results and the metric say why.
const [after, afterDone, afterRows] = athena(CURRENT_SNAPSHOT, [SNAPSHOT_PATH]);
afterRows.expect(ExpectedResult.objectLike({ ResultSet: { Rows: [{ Data: [{ VarCharValue: 'snapshot' }] }, { Data: [{ VarCharValue: beforeRows.getAttString(SNAPSHOT_PATH) }] }] } }));
const [count, countDone, countRows] = athena(`SELECT count(*) AS n, count_if(event_type <> 'account') AS bad FROM "${table}"`, []);
countRows.expect(ExpectedResult.objectLike({ ResultSet: { Rows: [{ Data: [{ VarCharValue: 'n' }, { VarCharValue: 'bad' }] }, { Data: [{ VarCharValue: '2' }, { VarCharValue: '0' }] }] } }));
const resultsWritten = integ.assertions.awsApiCall('S3', 'listObjectsV2', { Bucket: lake.raw.bucket.bucketName, Prefix: events.merge.qualityResultsPrefix });
resultsWritten.provider.addToRolePolicy({ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['*'] });
resultsWritten.expect(ExpectedResult.objectLike({ Contents: Match.arrayWith([Match.objectLike({ Key: Match.stringLikeRegexp(table) })]) }));

putGood.next(goodRaw).next(startGood).next(goodRun).next(before).next(beforeDone).next(beforeRows)
  .next(putBad).next(badRaw).next(startBad).next(badRun)
  .next(after).next(afterDone).next(afterRows).next(count).next(countDone).next(countRows).next(resultsWritten);
