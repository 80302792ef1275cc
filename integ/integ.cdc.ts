/**
 * Integ test: CdcIngestion from a PostgreSQL 15 database the test stack creates (Aurora
 * Serverless v2, logical replication on, the RDS Data API so the test can run SQL without a
 * function in the VPC).
 *
 * The test creates two tables and rows, runs the preflight function (expects no error), starts
 * the DMS replication (full load, then CDC), waits for the full-load files in the raw zone,
 * changes rows in one transaction (update, delete, insert then update twice, a pulled table's
 * row moves its watermark), waits for the change file, runs the merge job by hand, and reads
 * the curated Iceberg tables through Athena: the last change per key won, the deleted row is
 * gone, the pulled table has its rows. A second merge run changes nothing (same rows again).
 *
 * Deploy in a sandbox: `npx integ-runner --directory integ --language typescript integ.cdc.ts`
 * (DMS Serverless takes 15-30 minutes to provision; the test allows an hour). The stack creates
 * the account-level DMS roles; where they exist already, deploy with
 * `-c cdk-lakehouse:integUseExistingDmsRoles=true`. Offline the runner only compares the snapshot.
 */
import { ExpectedResult, IApiCall, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { CdcIngestion, CdcTableMode, DmsAccountRoles, LakehouseTier } from '../src';

const app = new App();
const stack = new Stack(app, 'CdcIntegStack');

const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'integ_cdc', removalPolicy: RemovalPolicy.DESTROY });

const vpc = new ec2.Vpc(stack, 'Vpc', {
  maxAzs: 2,
  natGateways: 1,
  gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
});

const dbSecurityGroup = new ec2.SecurityGroup(stack, 'DbSecurityGroup', { vpc, allowAllOutbound: false, description: 'Source database' });
const database = new rds.DatabaseCluster(stack, 'Database', {
  engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_15_15 }),
  // Logical replication (wal_level = logical) is what DMS CDC needs.
  parameters: { 'rds.logical_replication': '1' },
  writer: rds.ClusterInstance.serverlessV2('Writer'),
  serverlessV2MinCapacity: 0.5,
  serverlessV2MaxCapacity: 2,
  vpc,
  vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
  securityGroups: [dbSecurityGroup],
  defaultDatabaseName: 'shop',
  enableDataApi: true,
  storageEncrypted: true,
  removalPolicy: RemovalPolicy.DESTROY,
});

const cdc = new CdcIngestion(stack, 'Shop', {
  lake,
  pipelineName: 'shop',
  vpc,
  source: { secret: database.secret!, databaseName: 'shop', securityGroup: dbSecurityGroup },
  tables: [
    { name: 'public.orders', primaryKey: ['id'] },
    { name: 'public.invoices', primaryKey: ['invoice_no'], mode: CdcTableMode.PULL, watermarkColumn: 'updated_at' },
  ],
  dmsAccountRoles: app.node.tryGetContext('cdk-lakehouse:integUseExistingDmsRoles') === 'true'
    ? DmsAccountRoles.USE_EXISTING : DmsAccountRoles.CREATE,
  // The test starts the replication once the source tables exist.
  startReplication: false,
  removalPolicy: RemovalPolicy.DESTROY,
});
cdc.node.addDependency(database);

const results = new s3.Bucket(stack, 'AthenaResults', {
  enforceSSL: true,
  removalPolicy: RemovalPolicy.DESTROY,
  autoDeleteObjects: true,
});

const integ = new IntegTest(app, 'CdcInteg', { testCases: [stack], regions: ['us-east-1'] });
const dataApi = { resourceArn: database.clusterArn, secretArn: database.secret!.secretArn, database: 'shop' };

/** One SQL statement through the Data API. */
function sql(statement: string, transactionId?: string): IApiCall {
  const call = integ.assertions.awsApiCall('RDSDataService', 'executeStatement', { ...dataApi, sql: statement, ...(transactionId ? { transactionId } : {}) });
  call.provider.addToRolePolicy({ Effect: 'Allow', Action: ['rds-data:ExecuteStatement'], Resource: [database.clusterArn] });
  call.provider.addToRolePolicy({ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [database.secret!.secretArn] });
  return call;
}

/** Waits until at least one object exists under a prefix of the raw zone. */
function objectUnder(prefix: string): IApiCall {
  const call = integ.assertions.awsApiCall('S3', 'listObjectsV2', { Bucket: lake.raw.bucket.bucketName, Prefix: prefix, MaxKeys: 1 });
  call.expect(ExpectedResult.objectLike({ KeyCount: 1 }));
  call.provider.addToRolePolicy({ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [lake.raw.bucket.bucketArn] });
  call.waitForAssertions({ totalTimeout: Duration.hours(1), interval: Duration.minutes(1) });
  return call;
}

/** Runs the merge job by hand and waits for it to succeed: [start, wait]. */
function mergeRun(): [IApiCall, IApiCall] {
  const start = integ.assertions.awsApiCall('Glue', 'startJobRun', { JobName: cdc.mergeJobName });
  const run = integ.assertions.awsApiCall('Glue', 'getJobRun', { JobName: cdc.mergeJobName, RunId: start.getAttString('JobRunId') });
  run.expect(ExpectedResult.objectLike({ JobRun: { JobRunState: 'SUCCEEDED' } }));
  run.waitForAssertions({ totalTimeout: Duration.minutes(30), interval: Duration.seconds(30) });
  start.next(run);
  return [start, run];
}

/** Queries the curated zone through Athena and expects exactly these rows: [start, result]. */
function athenaRows(query: string, header: string[], expected: string[][]): [IApiCall, IApiCall] {
  const start = integ.assertions.awsApiCall('Athena', 'startQueryExecution', {
    QueryString: query,
    QueryExecutionContext: { Database: lake.curated.databaseName },
    ResultConfiguration: { OutputLocation: `s3://${results.bucketName}/` },
    WorkGroup: 'primary',
  });
  // Athena runs with the caller's credentials: the assertion provider reads the curated zone as a
  // granted principal would, and writes its results.
  start.provider.addToRolePolicy({ Effect: 'Allow', Action: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions'], Resource: ['*'] });
  start.provider.addToRolePolicy({
    Effect: 'Allow',
    Action: ['s3:GetObject', 's3:ListBucket', 's3:GetBucketLocation', 's3:PutObject', 'kms:Decrypt', 'kms:GenerateDataKey'],
    Resource: ['*'],
  });
  const state = integ.assertions.awsApiCall('Athena', 'getQueryExecution', { QueryExecutionId: start.getAttString('QueryExecutionId') });
  state.expect(ExpectedResult.objectLike({ QueryExecution: { Status: { State: 'SUCCEEDED' } } }));
  state.waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(10) });
  const rows = integ.assertions.awsApiCall('Athena', 'getQueryResults', { QueryExecutionId: start.getAttString('QueryExecutionId') });
  const row = (cells: string[]) => ({ Data: cells.map((c) => ({ VarCharValue: c })) });
  rows.expect(ExpectedResult.objectLike({ ResultSet: { Rows: [row(header), ...expected.map(row)] } }));
  start.next(state).next(rows);
  return [start, rows];
}

// 1. The source: two tables with keys, rows before replication starts (they arrive by full load).
const setup = [
  sql('CREATE TABLE public.orders (id integer PRIMARY KEY, status text NOT NULL, amount integer NOT NULL)'),
  sql("INSERT INTO public.orders VALUES (1, 'new', 10), (2, 'new', 20), (3, 'new', 30)"),
  sql('CREATE TABLE public.invoices (invoice_no integer PRIMARY KEY, amount integer NOT NULL, updated_at timestamptz NOT NULL)'),
  sql("INSERT INTO public.invoices VALUES (100, 5, now() - interval '1 hour'), (101, 6, now() - interval '1 hour')"),
];

// 2. The preflight check finds nothing that would stop CDC.
const preflight = integ.assertions.invokeFunction({ functionName: cdc.preflight!.functionName });
preflight.expect(ExpectedResult.objectLike({ Payload: { ok: true } }));

// 3. Start DMS and wait for the full load to land.
const startReplication = integ.assertions.awsApiCall('DatabaseMigrationService', 'startReplication', {
  ReplicationConfigArn: cdc.replicationArn,
  StartReplicationType: 'start-replication',
});
startReplication.provider.addToRolePolicy({ Effect: 'Allow', Action: ['dms:StartReplication'], Resource: [cdc.replicationArn] });
const fullLoad = objectUnder('shop/public/orders/LOAD');

// 4. Changes, in one transaction so DMS writes them together: several changes to one key.
const begin = integ.assertions.awsApiCall('RDSDataService', 'beginTransaction', dataApi);
begin.provider.addToRolePolicy({ Effect: 'Allow', Action: ['rds-data:BeginTransaction', 'rds-data:CommitTransaction'], Resource: [database.clusterArn] });
const tx = begin.getAttString('transactionId');
const changes = [
  sql("UPDATE public.orders SET status = 'shipped' WHERE id = 1", tx),
  sql('DELETE FROM public.orders WHERE id = 2', tx),
  sql("INSERT INTO public.orders VALUES (4, 'new', 40)", tx),
  sql("UPDATE public.orders SET status = 'paid' WHERE id = 4", tx),
  sql('UPDATE public.orders SET amount = 41 WHERE id = 4', tx),
  sql('UPDATE public.invoices SET amount = 7, updated_at = now() WHERE invoice_no = 101', tx),
];
const commit = integ.assertions.awsApiCall('RDSDataService', 'commitTransaction', { resourceArn: database.clusterArn, secretArn: database.secret!.secretArn, transactionId: tx });
// CDC files are date-partitioned (shop/public/orders/<yyyy>/<mm>/<dd>/...): the first one has the changes.
const changeFile = objectUnder('shop/public/orders/2');

// 5. Merge by hand, then read the curated tables.
const [merge, merged] = mergeRun();
const expectedOrders = [['1', 'shipped', '10'], ['3', 'new', '30'], ['4', 'paid', '41']];
const [orders, ordersRows] = athenaRows('SELECT id, status, amount FROM shop_public_orders ORDER BY id', ['id', 'status', 'amount'], expectedOrders);
const [invoices, invoicesRows] = athenaRows('SELECT invoice_no, amount FROM shop_public_invoices ORDER BY invoice_no', ['invoice_no', 'amount'], [['100', '5'], ['101', '7']]);

// 6. A second run with nothing new changes nothing.
const [rerun, rerunDone] = mergeRun();
const [again] = athenaRows('SELECT id, status, amount FROM shop_public_orders ORDER BY id', ['id', 'status', 'amount'], expectedOrders);

let chain: IApiCall = setup[0];
for (const step of [...setup.slice(1), preflight, startReplication, fullLoad, begin, ...changes, commit, changeFile, merge]) {
  chain = chain.next(step);
}
merged.next(orders);
ordersRows.next(invoices);
invoicesRows.next(rerun);
rerunDone.next(again);
