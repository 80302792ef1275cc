/**
 * Access paths of LakehouseTier: S3 server access logging into the logs bucket, Glue table
 * optimizers and crawlers, and what the zone and table grants let a reader or writer do.
 */
import { App, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import {
  ACCOUNT, Edge, ENV, expectEdge, fromSource, logsContext, OTHER_ACCOUNT_ROLE, REGION, StackPolicies, viaS3,
} from './iam-harness';
import { LakehouseTier, LakeZoneName } from '../../src';

function build() {
  const stack = new Stack(new App(), 'Lakehouse', { env: ENV });
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  const orders = lake.addIcebergTable('Orders', { tableName: 'orders', columns: [{ name: 'id', type: 'string' }] });
  const crawler = lake.addCrawler('Crawler', LakeZoneName.RAW);
  const reader = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
  lake.curated.grantRead(reader);
  const writer = new iam.Role(stack, 'Writer', { assumedBy: new iam.AccountRootPrincipal() });
  orders.grantReadWrite(writer);
  return { stack, lake, orders, crawler, reader, writer, p: new StackPolicies(stack) };
}

function edges(): { p: StackPolicies; edges: Edge[] } {
  const { lake, orders, crawler, reader, writer, p } = build();
  const s = (t: unknown) => p.str(t);
  const key = s(lake.encryptionKey.keyArn);
  const logsBucket = s(lake.accessLogsBucket.bucketArn);
  const zones = { raw: s(lake.raw.bucket.bucketArn), clean: s(lake.clean.bucket.bucketArn), curated: s(lake.curated.bucket.bucketArn) };
  const optimizer = s(orders.optimizerRole!.roleArn);
  const crawlerRole = s(crawler.role.roleArn);
  const glueTable = (db: string, t: string) => `arn:aws:glue:${REGION}:${ACCOUNT}:table/${db}/${t}`;
  const dataFile = `${zones.curated}/orders/data/x.parquet`;
  const out: Edge[] = [];
  for (const [zone, bucket] of Object.entries(zones)) {
    out.push(
      { name: `S3 delivers the ${zone} zone's access logs`, who: 'logging.s3.amazonaws.com', action: 's3:PutObject', resource: `${logsBucket}/${zone}/2030-01-01-00-00-00-ABC`, context: fromSource(bucket), expect: 'allow', why: 'server access logs (bucket policy delivery)' },
      { name: `the ${zone} zone is TLS only`, who: s(reader.roleArn), action: 's3:GetObject', resource: `${bucket}/x`, context: { 'aws:SecureTransport': 'false' }, expect: 'deny', why: 'enforceSSL' },
      { name: `another account cannot read the ${zone} zone`, who: OTHER_ACCOUNT_ROLE, action: 's3:GetObject', resource: `${bucket}/x`, expect: 'deny', why: 'no cross-account access' },
    );
  }
  out.push(
    { name: 'a bucket of another account cannot deliver logs into the logs bucket', who: 'logging.s3.amazonaws.com', action: 's3:PutObject', resource: `${logsBucket}/raw/x`, context: { 'aws:SourceArn': 'arn:aws:s3:::someone-else', 'aws:SourceAccount': '222222222222' }, expect: 'deny', why: 'confused deputy' },
    // Iceberg table optimizers
    { name: 'optimizer rewrites data files', who: optimizer, action: 's3:PutObject', resource: dataFile, expect: 'allow', why: 'compaction' },
    { name: 'optimizer deletes orphan files', who: optimizer, action: 's3:DeleteObject', resource: dataFile, expect: 'allow', why: 'orphan file deletion' },
    { name: 'optimizer lists the zone', who: optimizer, action: 's3:ListBucket', resource: zones.curated, expect: 'allow', why: 'orphan file deletion walks the table location' },
    { name: 'optimizer commits the table', who: optimizer, action: 'glue:UpdateTable', resource: glueTable('lake_curated', 'orders'), expect: 'allow', why: 'compaction / retention commit' },
    { name: 'optimizer gets a data key via S3', who: optimizer, action: 'kms:GenerateDataKey', resource: key, context: viaS3(zones.curated), expect: 'allow', why: 'SSE-KMS data' },
    { name: 'optimizer writes its compaction logs', who: optimizer, action: 'logs:PutLogEvents', resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws-glue/iceberg-compaction/logs:log-stream:x`, expect: 'allow', why: 'Glue documents these log groups' },
    { name: 'optimizer cannot touch the raw zone', who: optimizer, action: 's3:DeleteObject', resource: `${zones.raw}/x`, expect: 'deny', why: 'one zone per role' },
    // Crawler
    { name: 'crawler reads the raw zone', who: crawlerRole, action: 's3:GetObject', resource: `${zones.raw}/orders/x.json`, expect: 'allow', why: 'schema discovery' },
    { name: 'crawler decrypts via S3', who: crawlerRole, action: 'kms:Decrypt', resource: key, context: viaS3(zones.raw), expect: 'allow', why: 'SSE-KMS data' },
    { name: 'crawler creates a table', who: crawlerRole, action: 'glue:CreateTable', resource: glueTable('lake_raw', 'orders'), expect: 'allow', why: 'discovered tables' },
    { name: 'crawler writes its logs', who: crawlerRole, action: 'logs:PutLogEvents', resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws-glue/crawlers-role/x:log-stream:y`, expect: 'allow', why: 'crawler logs' },
    { name: 'CloudWatch Logs encrypts the crawler logs', who: `logs.${REGION}.amazonaws.com`, action: 'kms:GenerateDataKey', resource: key, context: logsContext(`arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws-glue/crawlers-role/x`), expect: 'allow', why: 'security configuration' },
    { name: 'crawler cannot write the curated zone', who: crawlerRole, action: 's3:PutObject', resource: dataFile, expect: 'deny', why: 'one zone' },
    // Grants
    { name: 'zone reader reads curated data', who: s(reader.roleArn), action: 's3:GetObject', resource: dataFile, expect: 'allow', why: 'grantRead' },
    { name: 'zone reader decrypts via S3', who: s(reader.roleArn), action: 'kms:Decrypt', resource: key, context: viaS3(zones.curated), expect: 'allow', why: 'grantRead' },
    { name: 'zone reader reads the catalog', who: s(reader.roleArn), action: 'glue:GetTable', resource: glueTable('lake_curated', 'orders'), expect: 'allow', why: 'grantRead' },
    { name: 'zone reader cannot write', who: s(reader.roleArn), action: 's3:PutObject', resource: dataFile, expect: 'deny', why: 'read only' },
    { name: 'zone reader cannot encrypt', who: s(reader.roleArn), action: 'kms:GenerateDataKey', resource: key, context: viaS3(zones.curated), expect: 'deny', why: 'read only' },
    { name: 'table writer writes its table', who: s(writer.roleArn), action: 's3:PutObject', resource: dataFile, expect: 'allow', why: 'grantReadWrite' },
    { name: 'table writer commits its table', who: s(writer.roleArn), action: 'glue:UpdateTable', resource: glueTable('lake_curated', 'orders'), expect: 'allow', why: 'grantReadWrite' },
    { name: 'table writer cannot write another table', who: s(writer.roleArn), action: 's3:PutObject', resource: `${zones.curated}/customers/x.parquet`, expect: 'deny', why: 'one table' },
    { name: 'table writer cannot commit another table', who: s(writer.roleArn), action: 'glue:UpdateTable', resource: glueTable('lake_curated', 'customers'), expect: 'deny', why: 'one table' },
  );
  return { p, edges: out };
}

describe('LakehouseTier access paths', () => {
  const { p, edges: table } = edges();
  test.each(table.map((e) => [e.name, e]))('%s', async (_, edge) => {
    await expectEdge(p, edge as Edge);
  });
});
