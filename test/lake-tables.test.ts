import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import {
  DataFormat, IcebergTable, LakehouseTier, LakeZone, LakeZoneName, PartitionProjection, RawTable,
} from '../src';

function lakeStack() {
  const stack = new Stack(new App(), 'Test');
  const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake' });
  return { stack, lake };
}

const tableInput = (template: Template, name: string, database: string) => {
  const tables = Object.values(template.findResources('AWS::Glue::Table'))
    .filter((t) => t.Properties.TableInput.Name === name && t.Properties.DatabaseName === database);
  expect(tables).toHaveLength(1);
  return tables[0].Properties;
};

const ID = [{ name: 'id', type: 'string' }];

describe('raw tables', () => {
  test('JSON lines by default, Hive-style partition projection in key order, no crawler needed', () => {
    const { stack, lake } = lakeStack();
    lake.addRawTable('Events', {
      tableName: 'events',
      columns: [{ name: 'event_id', type: 'string' }, { name: 'payload', type: 'string', comment: 'as sent' }],
      partitionKeys: [
        { name: 'event_type' },
        { name: 'event_subtype', projection: PartitionProjection.values(['a', 'b']) },
        { name: 'year', type: 'int', projection: PartitionProjection.integerRange(2020, 2100) },
        { name: 'month', projection: PartitionProjection.integerRange(1, 12, 2) },
        { name: 'day', projection: PartitionProjection.dateRange({ format: 'yyyy-MM-dd', rangeStart: 'NOW-3YEARS' }) },
      ],
    });
    const props = stack.resolve(tableInput(Template.fromStack(stack), 'events', 'lake_raw'));
    expect(props.CatalogId).toEqual({ Ref: 'AWS::AccountId' });
    expect(props.TableInput.TableType).toBe('EXTERNAL_TABLE');
    expect(props.TableInput.PartitionKeys).toEqual([
      { Name: 'event_type', Type: 'string' },
      { Name: 'event_subtype', Type: 'string' },
      { Name: 'year', Type: 'int' },
      { Name: 'month', Type: 'string' },
      { Name: 'day', Type: 'string' },
    ]);
    const p = props.TableInput.Parameters;
    expect(p).toMatchObject({
      'classification': 'json',
      'projection.enabled': 'true',
      'projection.event_type.type': 'injected',
      'projection.event_subtype.type': 'enum',
      'projection.event_subtype.values': 'a,b',
      'projection.year.type': 'integer',
      'projection.year.range': '2020,2100',
      'projection.month.digits': '2',
      'projection.day.type': 'date',
      'projection.day.format': 'yyyy-MM-dd',
      'projection.day.range': 'NOW-3YEARS,NOW',
      'projection.day.interval': '1',
      'projection.day.interval.unit': 'DAYS',
    });
    expect(p['projection.year.digits']).toBeUndefined();
    expect(p['storage.location.template']['Fn::Join'][1].slice(-1)[0])
      .toBe('/events/event_type=${event_type}/event_subtype=${event_subtype}/year=${year}/month=${month}/day=${day}/');
    const sd = props.TableInput.StorageDescriptor;
    expect(sd.Columns).toEqual([{ Name: 'event_id', Type: 'string' }, { Name: 'payload', Type: 'string', Comment: 'as sent' }]);
    expect(sd.SerdeInfo).toEqual({ SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe', Parameters: { 'ignore.malformed.json': 'false' } });
    expect(sd.Location['Fn::Join'][1].slice(-1)[0]).toBe('/events/');
  });

  test('value-only partition paths, a custom prefix, CSV options', () => {
    const { stack, lake } = lakeStack();
    const table = lake.addRawTable('Uploads', {
      tableName: 'uploads',
      columns: ID,
      prefix: 'manual/uploads',
      format: DataFormat.csv({ separator: ';', headerLines: 2 }),
      hivePartitionPaths: false,
      partitionKeys: [{ name: 'campaign' }],
    });
    expect(table.prefix).toBe('manual/uploads/');
    const props = tableInput(Template.fromStack(stack), 'uploads', 'lake_raw');
    expect(props.TableInput.Parameters['skip.header.line.count']).toBe('2');
    expect(props.TableInput.Parameters['storage.location.template']['Fn::Join'][1].slice(-1)[0]).toBe('/manual/uploads/${campaign}/');
    expect(props.TableInput.StorageDescriptor.SerdeInfo).toEqual({
      SerializationLibrary: 'org.apache.hadoop.hive.serde2.OpenCSVSerde',
      Parameters: { separatorChar: ';', quoteChar: '"', escapeChar: '\\' },
    });
  });

  test('Parquet, unpartitioned: no projection parameters', () => {
    const { stack, lake } = lakeStack();
    lake.addRawTable('P', { tableName: 'p', columns: ID, format: DataFormat.PARQUET });
    const props = tableInput(Template.fromStack(stack), 'p', 'lake_raw');
    expect(props.TableInput.Parameters).toEqual({ classification: 'parquet', has_encrypted_data: 'true' });
    expect(props.TableInput.StorageDescriptor.InputFormat).toBe('org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat');
  });

  test('a table in another zone, in another stack, over an imported zone', () => {
    const app = new App();
    const stack = new Stack(app, 'Consumer');
    const zone = LakeZone.fromZoneAttributes(stack, 'Clean', {
      zoneName: LakeZoneName.CLEAN,
      bucket: s3.Bucket.fromBucketName(stack, 'B', 'existing-clean'),
      encryptionKey: kms.Key.fromKeyArn(stack, 'K', 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
      databaseName: 'shared_clean',
    });
    new RawTable(stack, 'T', { zone, tableName: 't', columns: ID });
    const props = tableInput(Template.fromStack(stack), 't', 'shared_clean');
    expect(props.TableInput.StorageDescriptor.Location).toBe('s3://existing-clean/t/');
  });

  test.each<[string, any, RegExp]>([
    ['a partition key colliding with a column', { columns: [{ name: 'day', type: 'string' }], partitionKeys: [{ name: 'day' }] },
      /RawTable: invalid prop "partitionKeys\[0\].name": partition key "day" collides with a column.*Fix: remove the column/],
    ['a repeated partition key', { columns: ID, partitionKeys: [{ name: 'a' }, { name: 'a' }] }, /invalid prop "partitionKeys\[1\].name": partition key "a" appears twice/],
    ['a table with no columns', { columns: [] }, /RawTable: invalid prop "columns": the table has no columns/],
    ['a repeated column', { columns: [...ID, ...ID] }, /invalid prop "columns\[1\].name": column "id" appears twice/],
    ['a column name Athena rejects', { columns: [{ name: 'Event-Id', type: 'string' }] }, /invalid prop "columns\[0\].name": "Event-Id".*Fix: use a name such as "event_id"/],
    ['a table name Glue rejects', { tableName: 'My Table', columns: ID }, /RawTable: invalid prop "tableName": "My Table"/],
  ])('rejects %s', (_name, options, message) => {
    const { lake } = lakeStack();
    expect(() => lake.addRawTable('T', { tableName: 't', ...options })).toThrow(message);
  });

  test('rejects empty enum and inverted integer projections', () => {
    expect(() => PartitionProjection.values([])).toThrow(/invalid prop "values": the list is empty/);
    expect(() => PartitionProjection.integerRange(12, 1)).toThrow(/invalid prop "integerRange"/);
  });
});

describe('Iceberg tables', () => {
  test('Glue OpenTableFormatInput (Iceberg v2) with the three optimizers on and their defaults', () => {
    const { stack, lake } = lakeStack();
    const table = lake.addIcebergTable('Orders', { tableName: 'orders', columns: [{ name: 'order_id', type: 'string' }, { name: 'amount', type: 'double' }] });
    const template = Template.fromStack(stack);
    const props = tableInput(template, 'orders', 'lake_curated');
    expect(props.OpenTableFormatInput).toEqual({ IcebergInput: { MetadataOperation: 'CREATE', Version: '2' } });
    expect(props.TableInput.StorageDescriptor.Columns).toEqual([{ Name: 'order_id', Type: 'string' }, { Name: 'amount', Type: 'double' }]);

    template.resourceCountIs('AWS::Glue::TableOptimizer', 3);
    const role = { 'Fn::GetAtt': [Match.stringLikeRegexp('^IcebergOptimizerRole'), 'Arn'] };
    template.hasResourceProperties('AWS::Glue::TableOptimizer', {
      DatabaseName: 'lake_curated',
      TableName: 'orders',
      Type: 'compaction',
      TableOptimizerConfiguration: { Enabled: true, RoleArn: role },
    });
    template.hasResourceProperties('AWS::Glue::TableOptimizer', {
      Type: 'retention',
      TableOptimizerConfiguration: {
        Enabled: true,
        RoleArn: role,
        RetentionConfiguration: { IcebergConfiguration: { SnapshotRetentionPeriodInDays: 5, NumberOfSnapshotsToRetain: 1, CleanExpiredFiles: true } },
      },
    });
    template.hasResourceProperties('AWS::Glue::TableOptimizer', {
      Type: 'orphan_file_deletion',
      TableOptimizerConfiguration: {
        Enabled: true,
        RoleArn: role,
        OrphanFileDeletionConfiguration: { IcebergConfiguration: { OrphanFileRetentionPeriodInDays: 3, Location: Match.anyValue() } },
      },
    });
    // Optimizers wait for the table and for the role's policy.
    for (const optimizer of Object.values(template.findResources('AWS::Glue::TableOptimizer'))) {
      expect(optimizer.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^LakeOrdersTable/), expect.stringMatching(/^IcebergOptimizerRole.*DefaultPolicy/)]));
    }
    expect(table.optimizers).toHaveLength(3);
  });

  test('the optimizer role trusts Glue and is scoped to the zone; one role for all tables of a zone', () => {
    const { stack, lake } = lakeStack();
    lake.addIcebergTable('A', { tableName: 'a', columns: ID });
    lake.addIcebergTable('B', { tableName: 'b', columns: ID });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::IAM::Role', 1);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'glue.amazonaws.com' } })] },
    });
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))[0].Properties.PolicyDocument.Statement;
    expect(statements.map((s: any) => s.Action)).toEqual([
      ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      's3:ListBucket',
      ['glue:GetTable', 'glue:UpdateTable'],
      ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
    ]);
  });

  test('optimizer settings override; each optimizer can be turned off; all off means no role', () => {
    const { stack, lake } = lakeStack();
    lake.addIcebergTable('A', {
      tableName: 'a',
      columns: ID,
      optimizers: { compaction: false, snapshotRetentionDays: 14, snapshotsToRetain: 3, orphanFileRetentionDays: 7 },
    });
    const b = lake.addIcebergTable('B', {
      tableName: 'b',
      columns: ID,
      optimizers: { compaction: false, snapshotRetention: false, orphanFileDeletion: false },
    });
    expect(b.optimizers).toEqual([]);
    expect(b.optimizerRole).toBeUndefined();
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Glue::TableOptimizer', 2);
    template.hasResourceProperties('AWS::Glue::TableOptimizer', {
      TableName: 'a',
      Type: 'retention',
      TableOptimizerConfiguration: Match.objectLike({
        RetentionConfiguration: {
          IcebergConfiguration: { SnapshotRetentionPeriodInDays: 14, NumberOfSnapshotsToRetain: 3, CleanExpiredFiles: true },
        },
      }),
    });
    template.hasResourceProperties('AWS::Glue::TableOptimizer', {
      TableName: 'a',
      Type: 'orphan_file_deletion',
      TableOptimizerConfiguration: Match.objectLike({
        OrphanFileDeletionConfiguration: { IcebergConfiguration: Match.objectLike({ OrphanFileRetentionPeriodInDays: 7 }) },
      }),
    });
  });

  test('a user-supplied optimizer role is used as is', () => {
    const { stack, lake } = lakeStack();
    const role = iam.Role.fromRoleArn(stack, 'R', 'arn:aws:iam::111111111111:role/optimizer');
    const table = new IcebergTable(stack, 'T', { zone: lake.clean, tableName: 't', columns: ID, optimizerRole: role });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::IAM::Role', 0);
    template.hasResourceProperties('AWS::Glue::TableOptimizer', { DatabaseName: 'lake_clean', TableOptimizerConfiguration: Match.objectLike({ RoleArn: 'arn:aws:iam::111111111111:role/optimizer' }) });
    expect(table.optimizerRole).toBe(role);
  });

  test.each<[string, any, RegExp]>([
    ['no columns', { columns: [] }, /IcebergTable: invalid prop "columns": the table has no columns.*Fix: give at least one column/],
    ['a retention of 0 days', { columns: ID, optimizers: { snapshotRetentionDays: 0 } }, /IcebergTable: invalid prop "optimizers.snapshotRetentionDays": 0 is not a whole number >= 1/],
    ['a fractional orphan retention', { columns: ID, optimizers: { orphanFileRetentionDays: 1.5 } }, /invalid prop "optimizers.orphanFileRetentionDays"/],
  ])('rejects %s', (_name, options, message) => {
    const { lake } = lakeStack();
    expect(() => lake.addIcebergTable('T', { tableName: 't', ...options })).toThrow(message);
  });

  test('table grants: data under the table prefix and this table only in the catalog', () => {
    const { stack, lake } = lakeStack();
    const table = lake.addIcebergTable('Orders', { tableName: 'orders', columns: ID });
    const role = new iam.Role(stack, 'Writer', { assumedBy: new iam.AccountRootPrincipal() });
    table.grantReadWrite(role);
    const policy = Object.entries(Template.fromStack(stack).findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('Writer'))![1];
    const statements = stack.resolve(policy.Properties.PolicyDocument.Statement);
    expect(statements[0].Resource['Fn::Join'][1][1]).toBe('/orders/*');
    expect(statements[1].Condition).toEqual({ StringLike: { 's3:prefix': ['orders/*'] } });
    const glue = statements[4];
    expect(glue.Action).not.toContain('glue:CreateTable');
    expect(glue.Resource[2]['Fn::Join'][1].slice(-1)[0]).toBe(':table/lake_curated/orders');
  });
});

describe('crawler', () => {
  test('encrypted with the zone key, on demand by default, never deletes tables', () => {
    const { stack, lake } = lakeStack();
    const crawler = lake.addCrawler('Crawler', LakeZoneName.CLEAN, { prefixes: ['landing/'], tablePrefix: 'disc_' });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Glue::Crawler', {
      DatabaseName: 'lake_clean',
      TablePrefix: 'disc_',
      CrawlerSecurityConfiguration: crawler.securityConfiguration.name,
      SchemaChangePolicy: { UpdateBehavior: 'UPDATE_IN_DATABASE', DeleteBehavior: 'LOG' },
      Targets: { S3Targets: [{ Path: Match.anyValue() }] },
    });
    expect(template.findResources('AWS::Glue::Crawler')[Object.keys(template.findResources('AWS::Glue::Crawler'))[0]].Properties.Schedule).toBeUndefined();
    const key = { 'Fn::GetAtt': [Match.stringLikeRegexp('^LakeKey'), 'Arn'] };
    template.hasResourceProperties('AWS::Glue::SecurityConfiguration', {
      EncryptionConfiguration: {
        S3Encryptions: [{ S3EncryptionMode: 'SSE-KMS', KmsKeyArn: key }],
        CloudWatchEncryption: { CloudWatchEncryptionMode: 'SSE-KMS', KmsKeyArn: key },
        JobBookmarksEncryption: { JobBookmarksEncryptionMode: 'CSE-KMS', KmsKeyArn: key },
      },
    });
    // CloudWatch Logs may use the lake key for the crawler's log group only.
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([Match.objectLike({
          Principal: { Service: Match.anyValue() },
          Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': Match.anyValue() } },
        })]),
      },
    });
  });

  test('a schedule is passed through; one that is not a Glue cron is rejected', () => {
    const { stack, lake } = lakeStack();
    lake.addCrawler('C', LakeZoneName.RAW, { schedule: 'cron(0 3 * * ? *)' });
    Template.fromStack(stack).hasResourceProperties('AWS::Glue::Crawler', { Schedule: { ScheduleExpression: 'cron(0 3 * * ? *)' } });
    expect(() => lake.addCrawler('D', LakeZoneName.RAW, { schedule: 'rate(1 hour)' }))
      .toThrow(/LakeCrawler: invalid prop "schedule": "rate\(1 hour\)" is not a Glue cron expression/);
  });
});
