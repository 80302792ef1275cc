/**
 * Integ test: a lake with a small raw table and an AthenaServing workgroup.
 *
 * 1. Writes three rows into the raw `orders` table.
 * 2. A Lambda whose role got only `grantQuery` (plus CloudWatch Logs to run at all) runs
 *    `SELECT count(*)` through the workgroup; the test asserts the row count, and that the
 *    result object Athena wrote is SSE-KMS encrypted with the lake's key.
 * 3. Starts the scheduled query's workflow by hand (its schedule is off) and asserts the run
 *    succeeded and left the report at its stable name, encrypted.
 *
 * Deploy in a sandbox: `npx integ-runner --directory integ --language typescript integ.athena.ts`
 * Offline (no credentials) the runner only compares the committed snapshot.
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { DataFormat } from '../src/lakehouse/data-format';
import { LakehouseTier } from '../src/lakehouse/lakehouse-tier';
import { AthenaServing } from '../src/serving/athena-serving';

const app = new App();
const stack = new Stack(app, 'AthenaServingIntegStack');

const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'integ_athena', removalPolicy: RemovalPolicy.DESTROY });
const orders = lake.addRawTable('Orders', {
  tableName: 'orders',
  format: DataFormat.JSON_LINES,
  columns: [{ name: 'order_id', type: 'string' }, { name: 'amount', type: 'int' }],
});

const serving = new AthenaServing(stack, 'Serving', { lake, workGroupName: 'integ-athena', removalPolicy: RemovalPolicy.DESTROY });
const report = serving.addScheduledQuery('OrderCount', {
  queryName: 'order-count',
  sql: 'SELECT count(*) AS orders, sum(amount) AS revenue FROM orders',
  database: lake.raw.databaseName,
  schedule: scheduler.ScheduleExpression.rate(Duration.days(1)),
  // Started by hand below; a schedule firing during the test would only add noise.
  enabled: false,
  reads: { tables: [orders] },
});

// A query runner that holds only the grant: proves one grantQuery call is enough to query.
const runnerRole = new iam.Role(stack, 'QueryRunnerRole', {
  assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
  managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')],
});
serving.grantQuery(runnerRole, { tables: [orders] });
const runner = new lambda.Function(stack, 'QueryRunner', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  role: runnerRole,
  timeout: Duration.minutes(5),
  environment: { WORK_GROUP: serving.workGroupName, DATABASE: lake.raw.databaseName },
  code: lambda.Code.fromInline(`
const { AthenaClient, StartQueryExecutionCommand, GetQueryExecutionCommand, GetQueryResultsCommand } = require('@aws-sdk/client-athena');
const athena = new AthenaClient({});
exports.handler = async () => {
  const { QueryExecutionId } = await athena.send(new StartQueryExecutionCommand({
    QueryString: 'SELECT count(*) AS n FROM orders',
    WorkGroup: process.env.WORK_GROUP,
    QueryExecutionContext: { Database: process.env.DATABASE },
  }));
  for (;;) {
    const { QueryExecution } = await athena.send(new GetQueryExecutionCommand({ QueryExecutionId }));
    const state = QueryExecution.Status.State;
    if (state === 'SUCCEEDED') break;
    if (state === 'FAILED' || state === 'CANCELLED') {
      return { state, reason: QueryExecution.Status.StateChangeReason, queryExecutionId: QueryExecutionId };
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  const results = await athena.send(new GetQueryResultsCommand({ QueryExecutionId }));
  return { state: 'SUCCEEDED', rows: results.ResultSet.Rows[1].Data[0].VarCharValue, queryExecutionId: QueryExecutionId };
};`),
});

const integ = new IntegTest(app, 'AthenaServingInteg', { testCases: [stack], regions: ['us-east-1'] });

// 1. Data: three rows in the raw table (the assertion provider writes them, encrypted with the lake key).
const putData = integ.assertions.awsApiCall('S3', 'putObject', {
  Bucket: lake.raw.bucket.bucketName,
  Key: `${orders.prefix}part-0000.json`,
  Body: '{"order_id":"o-1","amount":10}\n{"order_id":"o-2","amount":20}\n{"order_id":"o-3","amount":12}\n',
});
putData.provider.addToRolePolicy({ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: [lake.encryptionKey.keyArn] });

// 2. Query as the granted role: row count, then the result object's encryption.
const query = integ.assertions.invokeFunction({ functionName: runner.functionName });
query.expect(ExpectedResult.objectLike({ StatusCode: 200, Payload: Match.serializedJson({ state: 'SUCCEEDED', rows: '3' }) }));

const resultObject = integ.assertions.awsApiCall('S3', 'headObject', {
  Bucket: serving.resultsBucket.bucketName,
  Key: `${serving.resultsPrefix}${query.getAttString('Payload.queryExecutionId')}.csv`,
});
resultObject.provider.addToRolePolicy({ Effect: 'Allow', Action: ['s3:GetObject'], Resource: [serving.resultsBucket.arnForObjects('*')] });
resultObject.provider.addToRolePolicy({ Effect: 'Allow', Action: ['kms:Decrypt'], Resource: [lake.encryptionKey.keyArn] });
resultObject.expect(ExpectedResult.objectLike({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: lake.encryptionKey.keyArn }));

// 3. One scheduled run by hand, with a fixed run key so the report's name is known.
const start = integ.assertions.awsApiCall('StepFunctions', 'startExecution', {
  stateMachineArn: report.stateMachine.stateMachineArn,
  input: JSON.stringify({ runKey: 'integ-run' }),
});
const run = integ.assertions.awsApiCall('StepFunctions', 'describeExecution', { executionArn: start.getAttString('executionArn') });
run.expect(ExpectedResult.objectLike({ status: 'SUCCEEDED' }));
run.waitForAssertions({ totalTimeout: Duration.minutes(10), interval: Duration.seconds(15) });

const reportObject = integ.assertions.awsApiCall('S3', 'headObject', {
  Bucket: serving.resultsBucket.bucketName,
  Key: `${serving.reportsPrefix}order-count/integ-run.csv`,
});
reportObject.provider.addToRolePolicy({ Effect: 'Allow', Action: ['s3:GetObject'], Resource: [serving.resultsBucket.arnForObjects('*')] });
reportObject.provider.addToRolePolicy({ Effect: 'Allow', Action: ['kms:Decrypt'], Resource: [lake.encryptionKey.keyArn] });
reportObject.expect(ExpectedResult.objectLike({ ServerSideEncryption: 'aws:kms', ContentType: 'text/csv' }));

putData.next(query).next(resultObject).next(start).next(run).next(reportObject);
