import { spawnSync } from 'child_process';
import * as path from 'path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as fc from 'fast-check';
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

/** Resolves the intrinsics a custom resource's call JSON carries into concrete test values. */
function concrete(value: any): any {
  if (typeof value === 'string' || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(concrete);
  if ('Fn::Join' in value) {
    const [sep, parts] = value['Fn::Join'];
    return parts.map((p: any) => String(concrete(p))).join(sep);
  }
  if ('Ref' in value) {
    const pseudo: Record<string, string> = { 'AWS::AccountId': '123456789012', 'AWS::Partition': 'aws', 'AWS::Region': 'us-east-1', 'AWS::URLSuffix': 'amazonaws.com' };
    return pseudo[value.Ref] ?? `<${value.Ref.replace(/[0-9A-F]{8}$/, '')}>`;
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, concrete(v)]));
}

/** The Create / Update / Delete SDK calls of the Iceberg table custom resource for a table name. */
function icebergCalls(stack: Stack, tableName: string) {
  const resources = Template.fromStack(stack).findResources('Custom::LakeIcebergTable');
  const found = Object.values(resources).map((r) => ({
    resource: r,
    create: JSON.parse(concrete(stack.resolve(r.Properties.Create))),
    update: JSON.parse(concrete(stack.resolve(r.Properties.Update))),
    delete: JSON.parse(concrete(stack.resolve(r.Properties.Delete))),
  })).filter((c) => c.create.parameters.TableInput.Name === tableName);
  expect(found).toHaveLength(1);
  return found[0];
}


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
  test('created once through Glue CreateTable with OpenTableFormatInput (Iceberg v2), never as an AWS::Glue::Table', () => {
    const { stack, lake } = lakeStack();
    const table = lake.addIcebergTable('Orders', { tableName: 'orders', columns: [{ name: 'order_id', type: 'string' }, { name: 'amount', type: 'double' }] });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Glue::Table', 0);
    const calls = icebergCalls(stack, 'orders');
    expect(calls.create).toEqual({
      service: 'Glue',
      action: 'createTable',
      parameters: {
        CatalogId: '123456789012',
        DatabaseName: 'lake_curated',
        TableInput: {
          Name: 'orders',
          TableType: 'EXTERNAL_TABLE',
          StorageDescriptor: {
            Columns: [{ Name: 'order_id', Type: 'string' }, { Name: 'amount', Type: 'double' }],
            Location: 's3://<LakeCuratedBucket>/orders/',
          },
        },
        OpenTableFormatInput: { IcebergInput: { MetadataOperation: 'CREATE', Version: '2' } },
      },
      physicalResourceId: { id: '123456789012:lake_curated/orders' },
      ignoreErrorCodesMatching: '^AlreadyExistsException$',
    });
    // The update path is the same CreateTable: on an existing table Glue answers AlreadyExists and
    // changes nothing. No UpdateTable is ever sent, so table_type / metadata_location cannot be replaced.
    expect(calls.update).toEqual(calls.create);
    expect(JSON.stringify(calls)).not.toMatch(/updateTable|UpdateTable/);
    expect(calls.delete).toMatchObject({ action: 'deleteTable', parameters: { DatabaseName: 'lake_curated', Name: 'orders' }, ignoreErrorCodesMatching: '^EntityNotFoundException$' });
    expect(table.tableResource).toBeDefined();

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
      expect(optimizer.DependsOn.map((d: string) => template.toJSON().Resources[d].Type)).toContain('Custom::LakeIcebergTable');
    }
    expect(table.optimizers).toHaveLength(3);
  });

  test('the catalog entry is retained by default (it holds metadata_location); DESTROY is an opt-in, the lake\'s policy flows to addIcebergTable', () => {
    const { stack, lake } = lakeStack();
    new IcebergTable(stack, 'Kept', { zone: lake.curated, tableName: 'kept', columns: ID });
    new IcebergTable(stack, 'Dropped', { zone: lake.curated, tableName: 'dropped', columns: ID, removalPolicy: RemovalPolicy.DESTROY });
    expect(icebergCalls(stack, 'kept').resource).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(icebergCalls(stack, 'dropped').resource).toMatchObject({ DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    const sandbox = new Stack(new App(), 'Sandbox');
    new LakehouseTier(sandbox, 'Lake', { lakeName: 'lake', removalPolicy: RemovalPolicy.DESTROY }).addIcebergTable('T', { tableName: 't', columns: ID });
    expect(icebergCalls(sandbox, 't').resource).toMatchObject({ DeletionPolicy: 'Delete' });
  });

  test('the optimizer role trusts Glue and is scoped to the zone; one role for all tables of a zone', () => {
    const { stack, lake } = lakeStack();
    lake.addIcebergTable('A', { tableName: 'a', columns: ID });
    lake.addIcebergTable('B', { tableName: 'b', columns: ID });
    const template = Template.fromStack(stack);
    const glueRoles = template.findResources('AWS::IAM::Role', {
      Properties: { AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'glue.amazonaws.com' } })] } },
    });
    expect(Object.keys(glueRoles)).toHaveLength(1);
    const policy = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('IcebergOptimizerRole'))![1];
    const statements = policy.Properties.PolicyDocument.Statement;
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
    expect(Object.keys(template.findResources('AWS::IAM::Role')).filter((id) => id.startsWith('IcebergOptimizerRole'))).toEqual([]);
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

describe('Iceberg tables survive stack updates (CloudFormation requests played against moto\'s Glue)', () => {
  const PYTHON = path.join(__dirname, '..', '.venv', 'bin', 'python');
  const SCRIPT = path.join(__dirname, 'support', 'glue_table_lifecycle.py');
  const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/);
  const columns = fc.uniqueArray(name, { minLength: 1, maxLength: 5 }).map((names) => names.map((n) => ({ name: n, type: 'string' })));
  const version = fc.record({
    tableName: fc.constantFrom('orders', 'orders', 'orders', 'orders_v2'),
    columns,
    description: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    prefix: fc.option(fc.constantFrom('orders', 'tables/orders'), { nil: undefined }),
  });

  type Version = typeof version extends fc.Arbitrary<infer T> ? T : never;

  function callsFor(v: Version, removalPolicy: RemovalPolicy) {
    const stack = new Stack(new App(), 'Test');
    const lake = new LakehouseTier(stack, 'Lake', { lakeName: 'lake', removalPolicy });
    lake.addIcebergTable('Orders', { tableName: v.tableName, columns: v.columns, description: v.description, prefix: v.prefix });
    return icebergCalls(stack, v.tableName);
  }

  test('any edit of the table props leaves an existing table\'s Iceberg metadata and engine schema as they were', () => {
    const scenarios = fc.sample(fc.tuple(version, version, fc.boolean()), { seed: 1207, numRuns: 10 }).map(([v1, v2, retain]) => {
      const policy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
      const first = callsFor(v1, policy);
      const second = callsFor(v2, policy);
      expect(first.resource.DeletionPolicy).toBe(retain ? 'Retain' : 'Delete');
      expect(first.resource.UpdateReplacePolicy).toBe(retain ? 'Retain' : 'Delete');
      return { v1, v2, create: first.create, update: second.update, deleteOld: first.delete, retain };
    });
    // The sample covers both paths (same table edited, table renamed) and both removal policies.
    expect(new Set(scenarios.map((x) => x.v1.tableName === x.v2.tableName))).toEqual(new Set([true, false]));
    expect(new Set(scenarios.map((x) => x.retain))).toEqual(new Set([true, false]));
    const run = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify({ scenarios }), encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).not.toMatch(/Traceback/);
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout);

    out.results.forEach((r: any, i: number) => {
      const { v1, v2, retain } = scenarios[i];
      expect(r.create).toBe('ok');
      expect(r.afterCommit.parameters.table_type).toBe('ICEBERG');
      if (v1.tableName === v2.tableName) {
        // Same table: the update is answered AlreadyExists and the engine's state is untouched.
        expect(r.replaced).toBe(false);
        expect(r.update).toBe('ignored AlreadyExistsException');
        expect(r.afterUpdate).toEqual(r.afterCommit);
      } else {
        // A new name is a new table (created as Iceberg); the old entry goes only if not retained.
        expect(r.replaced).toBe(true);
        expect(r.update).toBe('ok');
        expect(r.afterUpdate.parameters.table_type).toBe('ICEBERG');
        expect(r.afterUpdate.columns).toEqual(v2.columns.map((c: any) => c.name));
        if (retain) expect(r.oldAfterUpdate).toEqual(r.afterCommit);
        else expect(r.oldAfterUpdate).toBeNull();
      }
      // The engine keeps committing afterwards.
      expect(r.afterSecondCommit.parameters.metadata_location).toBe(r.secondCommit);
      expect(r.afterSecondCommit.parameters.table_type).toBe('ICEBERG');
    });
    // The fake enforces what wiped tables before: a CloudFormation update of an AWS::Glue::Table
    // sends the template's TableInput, and UpdateTable replaces the table's parameters with it.
    expect(out.contrast.parameters.metadata_location).toBeUndefined();
    expect(out.contrast.parameters.table_type).toBeUndefined();
  }, 120_000);
});
