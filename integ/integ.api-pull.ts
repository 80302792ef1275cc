/**
 * Integ test: ApiPullIngestion pulls a paginated endpoint that the test stack serves itself (a
 * Lambda function URL that checks a bearer token kept in Secrets Manager and serves 3 pages of 2
 * orders, then an empty page). The test starts the workflow with exactly the input the orders
 * schedule sends (`{endpoint, scheduledTime}`, the scheduled time fixed), waits for it to succeed
 * (pull → Glue transform → commit), checks the watermark moved to that time, and reads the curated
 * Iceberg rows back through Athena. test/aws-rules/workflows.test.ts runs this start input through
 * the synthesized workflow offline.
 *
 * Deploy in a sandbox: `npx integ-runner --directory integ --language typescript integ.api-pull.ts`
 * Offline (no credentials) the runner only compares the committed snapshot.
 */
import { ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ApiAuth, ApiPagination, ApiPullIngestion, LakehouseTier } from '../src';

export const app = new App();
const stack = new Stack(app, 'ApiPullIntegStack');

const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'integ_api_pull', removalPolicy: RemovalPolicy.DESTROY });

const secret = new secretsmanager.Secret(stack, 'ApiToken', {
  generateSecretString: { secretStringTemplate: '{}', generateStringKey: 'token', excludePunctuation: true },
  removalPolicy: RemovalPolicy.DESTROY,
});

// The third-party API stand-in: GET /orders?page=N with a bearer token, JSON pages.
const fakeApi = new lambda.Function(stack, 'FakeApi', {
  runtime: lambda.Runtime.NODEJS_22_X,
  handler: 'index.handler',
  timeout: Duration.seconds(10),
  environment: { SECRET_ARN: secret.secretArn },
  code: lambda.Code.fromInline(`
const { SecretsManagerClient, GetSecretValueCommand } = require('@aws-sdk/client-secrets-manager');
let token;
exports.handler = async (event) => {
  if (!token) {
    const out = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: process.env.SECRET_ARN }));
    token = JSON.parse(out.SecretString).token;
  }
  if ((event.headers || {}).authorization !== 'Bearer ' + token) return { statusCode: 401, body: 'unauthorized' };
  const page = Number((event.queryStringParameters || {}).page || '1');
  const data = page <= 3
    ? [1, 2].map((i) => ({ id: 'o-' + page + '-' + i, amount: page * 10 + i - 1, customer: { name: 'c' + page } }))
    : [];
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data, page }) };
};`),
});
secret.grantRead(fakeApi);
const fakeApiUrl = fakeApi.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });

const pipeline = new ApiPullIngestion(stack, 'Orders', {
  lake,
  pipelineName: 'integ-shop',
  removalPolicy: RemovalPolicy.DESTROY,
  endpoints: [{
    name: 'orders',
    url: `${fakeApiUrl.url}orders`,
    // The test starts the run itself; the schedule exists but does not fire during the test.
    schedule: scheduler.ScheduleExpression.rate(Duration.days(1)),
    auth: ApiAuth.bearerToken(secret),
    pagination: ApiPagination.pageNumber({ pageSize: 2, pageSizeParameter: 'per_page' }),
    recordsPath: '$.data',
    recordIdField: 'id',
  }],
});

const results = new s3.Bucket(stack, 'AthenaResults', {
  enforceSSL: true,
  removalPolicy: RemovalPolicy.DESTROY,
  autoDeleteObjects: true,
});

const integ = new IntegTest(app, 'ApiPullInteg', { testCases: [stack], regions: ['us-east-1'] });

// The run the orders schedule would start at RUN_TIME: its target's input, with the scheduler's
// <aws.scheduler.scheduled-time> filled in as EventBridge Scheduler does.
export const RUN_TIME = '2024-05-01T12:00:00Z';
const scheduleTarget = stack.resolve((pipeline.schedules.orders.node.defaultChild as scheduler.CfnSchedule).target);
const scheduleInput: string = scheduleTarget.input ?? scheduleTarget.Input;
const start = integ.assertions.awsApiCall('StepFunctions', 'startExecution', {
  stateMachineArn: pipeline.stateMachine.stateMachineArn,
  input: scheduleInput.split('<aws.scheduler.scheduled-time>').join(RUN_TIME),
});

const execution = integ.assertions.awsApiCall('StepFunctions', 'describeExecution', {
  executionArn: start.getAttString('executionArn'),
});
execution.expect(ExpectedResult.objectLike({ status: 'SUCCEEDED' }));
execution.waitForAssertions({ totalTimeout: Duration.minutes(25), interval: Duration.seconds(30) });

const watermark = integ.assertions.awsApiCall('DynamoDB', 'getItem', {
  TableName: pipeline.watermarkTable.tableName,
  Key: { pk: { S: 'integ-shop#orders' } },
});
watermark.expect(ExpectedResult.objectLike({ Item: { watermark: { S: RUN_TIME } } }));
watermark.provider.addToRolePolicy({ Effect: 'Allow', Action: ['kms:Decrypt'], Resource: [lake.encryptionKey.keyArn] });

const query = integ.assertions.awsApiCall('Athena', 'startQueryExecution', {
  QueryString: 'SELECT id, amount, customer_name FROM orders ORDER BY id',
  QueryExecutionContext: { Database: lake.curated.databaseName },
  ResultConfiguration: { OutputLocation: `s3://${results.bucketName}/` },
  WorkGroup: 'primary',
});
// Athena runs with the caller's credentials: the assertion provider reads the curated zone as a
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

const queryState = integ.assertions.awsApiCall('Athena', 'getQueryExecution', {
  QueryExecutionId: query.getAttString('QueryExecutionId'),
});
queryState.expect(ExpectedResult.objectLike({ QueryExecution: { Status: { State: 'SUCCEEDED' } } }));
queryState.waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(10) });

const row = (id: string, amount: string, name: string) => ({ Data: [{ VarCharValue: id }, { VarCharValue: amount }, { VarCharValue: name }] });
const rows = integ.assertions.awsApiCall('Athena', 'getQueryResults', {
  QueryExecutionId: query.getAttString('QueryExecutionId'),
});
rows.expect(ExpectedResult.objectLike({
  ResultSet: {
    Rows: [
      row('id', 'amount', 'customer_name'),
      row('o-1-1', '10', 'c1'),
      row('o-1-2', '11', 'c1'),
      row('o-2-1', '20', 'c2'),
      row('o-2-2', '21', 'c2'),
      row('o-3-1', '30', 'c3'),
      row('o-3-2', '31', 'c3'),
    ],
  },
}));

start.next(execution).next(watermark).next(query).next(queryState).next(rows);
