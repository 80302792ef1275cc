/**
 * Integ test: a LakehouseTier with a raw table and an Iceberg table. A role that only got
 * `grantReadWrite` on the raw table writes a JSON object; the test asserts both tables exist in
 * Glue (the Iceberg one as ICEBERG) and that Athena reads the row back through the raw table.
 *
 * Deploy in a sandbox: `npx integ-runner --directory integ --language typescript integ.lakehouse.ts`
 * Offline (no credentials) the runner only compares the committed snapshot.
 */
import { ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, RemovalPolicy, Stack, Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { LakehouseTier, PartitionProjection } from '../src';

const app = new App();
const stack = new Stack(app, 'LakehouseIntegStack');

const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'integ_lakehouse', removalPolicy: RemovalPolicy.DESTROY });
const events = lake.addRawTable('RawEvents', {
  tableName: 'events',
  columns: [{ name: 'event_id', type: 'string' }, { name: 'amount', type: 'int' }],
  partitionKeys: [{ name: 'event_type', projection: PartitionProjection.injected() }],
});
lake.addIcebergTable('CuratedEvents', {
  tableName: 'events',
  columns: [{ name: 'event_id', type: 'string' }, { name: 'amount', type: 'int' }],
});

// A writer that holds nothing but the table grant: proves the grant is enough to land data.
const writer = new lambda.Function(stack, 'Writer', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  timeout: Duration.seconds(30),
  code: lambda.Code.fromInline(`
const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');
exports.handler = async (event) => {
  await new S3Client({}).send(new PutObjectCommand({ Bucket: event.bucket, Key: event.key, Body: event.body }));
  return 'written';
};`),
});
events.grantReadWrite(writer);

const results = new s3.Bucket(stack, 'AthenaResults', {
  enforceSSL: true,
  removalPolicy: RemovalPolicy.DESTROY,
  autoDeleteObjects: true,
});

const integ = new IntegTest(app, 'LakehouseInteg', { testCases: [stack], regions: ['us-east-1'] });

const write = integ.assertions.invokeFunction({
  functionName: writer.functionName,
  payload: JSON.stringify({
    bucket: lake.raw.bucket.bucketName,
    key: `${events.prefix}event_type=click/part-0001.json`,
    body: '{"event_id":"e-1","amount":42}\n',
  }),
});
write.expect(ExpectedResult.objectLike({ StatusCode: 200, Payload: '"written"' }));

const rawTable = integ.assertions.awsApiCall('Glue', 'getTable', { DatabaseName: lake.raw.databaseName, Name: 'events' });
rawTable.expect(ExpectedResult.objectLike({ Table: { Name: 'events', Parameters: { 'projection.enabled': 'true' } } }));

const icebergTable = integ.assertions.awsApiCall('Glue', 'getTable', { DatabaseName: lake.curated.databaseName, Name: 'events' });
icebergTable.expect(ExpectedResult.objectLike({ Table: { Name: 'events', Parameters: { table_type: 'ICEBERG' } } }));

const query = integ.assertions.awsApiCall('Athena', 'startQueryExecution', {
  QueryString: "SELECT event_id, amount FROM events WHERE event_type = 'click'",
  QueryExecutionContext: { Database: lake.raw.databaseName },
  ResultConfiguration: { OutputLocation: `s3://${results.bucketName}/` },
  WorkGroup: 'primary',
});
// Athena runs with the caller's credentials: the assertion provider reads the raw zone as a
// granted principal would, and writes its results.
query.provider.addToRolePolicy({
  Effect: 'Allow',
  Action: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions'],
  Resource: ['*'],
});
query.provider.addToRolePolicy({
  Effect: 'Allow',
  Action: ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation', 's3:PutObject', 'kms:Decrypt', 'kms:GenerateDataKey'],
  Resource: ['*'],
});

const execution = integ.assertions.awsApiCall('Athena', 'getQueryExecution', {
  QueryExecutionId: query.getAttString('QueryExecutionId'),
});
execution.expect(ExpectedResult.objectLike({ QueryExecution: { Status: { State: 'SUCCEEDED' } } }));
execution.waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(10) });

const rows = integ.assertions.awsApiCall('Athena', 'getQueryResults', {
  QueryExecutionId: query.getAttString('QueryExecutionId'),
});
rows.expect(ExpectedResult.objectLike({
  ResultSet: {
    Rows: [
      { Data: [{ VarCharValue: 'event_id' }, { VarCharValue: 'amount' }] },
      { Data: [{ VarCharValue: 'e-1' }, { VarCharValue: '42' }] },
    ],
  },
}));

write.next(rawTable).next(icebergTable).next(query).next(execution).next(rows);
