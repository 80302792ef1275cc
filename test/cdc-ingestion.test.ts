import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { cdcProps, cdcScaffold, cdcStack } from './cdc-fixtures';
import {
  CdcIngestion, CdcIngestionProps, CdcTable, CdcTableMode, DmsAccountRoles, DmsCapacityMode, PipelineKind,
  PostgresCdcPlugin, PostgresSslMode,
} from '../src';

function build(overrides: Partial<CdcIngestionProps> = {}) {
  const built = cdcStack(overrides);
  return { ...built, template: Template.fromStack(built.stack) };
}

/** Job arguments with tokens replaced by "TOKEN", so JSON-valued arguments can be parsed. */
function jobArguments(template: Template): Record<string, string> {
  const [job] = Object.values(template.findResources('AWS::Glue::Job'));
  const flat = (v: unknown): string => (typeof v === 'string' ? v
    : (v as any)['Fn::Join'] ? (v as any)['Fn::Join'][1].map((p: unknown) => (typeof p === 'string' ? p : 'TOKEN')).join('') : 'TOKEN');
  return Object.fromEntries(Object.entries(job.Properties.DefaultArguments).map(([k, v]) => [k, flat(v)]));
}

/** A value that is JSON text, possibly joined with tokens (replaced by "TOKEN"), parsed. */
function flatJson(value: any): any {
  const text = typeof value === 'string' ? value : value['Fn::Join'][1].map((p: unknown) => (typeof p === 'string' ? p : 'TOKEN')).join('');
  return JSON.parse(text);
}

function scheduleInputs(template: Template): any[] {
  return Object.values(template.findResources('AWS::Scheduler::Schedule')).map((s) => {
    const input = s.Properties.Target.Input;
    const text = typeof input === 'string' ? input : input['Fn::Join'][1].map((p: unknown) => (typeof p === 'string' ? p : 'TOKEN')).join('');
    return { expression: s.Properties.ScheduleExpression, input: JSON.parse(text), arn: s.Properties.Target.Arn };
  });
}

function expectError(overrides: Partial<CdcIngestionProps>, message: RegExp) {
  expect(() => build(overrides)).toThrow(message);
}

describe('CdcIngestion defaults', () => {
  const { template, cdc } = build();

  test('DMS Serverless, full load and CDC, 1-4 DCU, single AZ, encrypted with its own key, in the VPC\'s private subnets', () => {
    template.resourceCountIs('AWS::DMS::ReplicationConfig', 1);
    template.resourceCountIs('AWS::DMS::ReplicationInstance', 0);
    template.hasResourceProperties('AWS::DMS::ReplicationConfig', {
      ReplicationType: 'full-load-and-cdc',
      ComputeConfig: {
        MinCapacityUnits: 1,
        MaxCapacityUnits: 4,
        MultiAZ: false,
        KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ShopKey'), 'Arn'] },
        ReplicationSubnetGroupId: { Ref: Match.stringLikeRegexp('^ShopSubnetGroup') },
        VpcSecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^ShopReplicationSecurityGroup'), 'GroupId'] }],
      },
      ReplicationSettings: {
        Logging: { EnableLogging: true },
        FullLoadSettings: { TargetTablePrepMode: 'DO_NOTHING' },
      },
    });
    template.hasResourceProperties('AWS::DMS::ReplicationSubnetGroup', {
      SubnetIds: [{ Ref: Match.stringLikeRegexp('^VpcPrivateSubnet1') }, { Ref: Match.stringLikeRegexp('^VpcPrivateSubnet2') }],
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true, Description: Match.stringLikeRegexp('^CdcIngestion shop') });
    expect(cdc.replicationInstance).toBeUndefined();
    expect(cdc.replicationConfig).toBeDefined();
  });

  test('the DMS identifier is valid for DMS: a letter first, lowercase, single hyphens', () => {
    const [config] = Object.values(template.findResources('AWS::DMS::ReplicationConfig'));
    expect(config.Properties.ReplicationConfigIdentifier).toMatch(/^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$/);
    expect(config.Properties.ResourceIdentifier).toEqual(config.Properties.ReplicationConfigIdentifier);
  });

  test('the source endpoint reads the secret through its own role, TLS required, test_decoding, heartbeat on, no DDL capture', () => {
    template.hasResourceProperties('AWS::DMS::Endpoint', {
      EndpointType: 'source',
      EngineName: 'postgres',
      DatabaseName: 'shop',
      SslMode: 'require',
      PostgreSqlSettings: {
        SecretsManagerSecretId: { Ref: Match.stringLikeRegexp('^DbSecret') },
        SecretsManagerAccessRoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ShopSourceAccessRole'), 'Arn'] },
        PluginName: 'test_decoding',
        HeartbeatEnable: true,
        HeartbeatFrequency: 5,
        CaptureDdls: false,
        SlotName: Match.absent(),
      },
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: { 'Fn::Join': ['', ['dms.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } })] },
      Description: Match.stringLikeRegexp('reads the source secret'),
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^ShopSourceAccessRole') }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'] })]) },
    });
  });

  test('the S3 target writes Parquet into the raw zone under <pipelineName>/ with Op on full load, commit timestamps and date partitions, SSE-KMS', () => {
    template.hasResourceProperties('AWS::DMS::Endpoint', {
      EndpointType: 'target',
      EngineName: 's3',
      S3Settings: {
        BucketName: { Ref: Match.stringLikeRegexp('^LakeRawBucket') },
        BucketFolder: 'shop',
        DataFormat: 'parquet',
        ParquetVersion: 'parquet-2-0',
        IncludeOpForFullLoad: true,
        CdcInsertsOnly: false,
        CdcInsertsAndUpdates: false,
        TimestampColumnName: '_dms_commit_ts',
        DatePartitionEnabled: true,
        DatePartitionSequence: 'YYYYMMDD',
        DatePartitionDelimiter: 'SLASH',
        EncryptionMode: 'SSE_KMS',
        ServerSideEncryptionKmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LakeKey'), 'Arn'] },
        ExpectedBucketOwner: { Ref: 'AWS::AccountId' },
      },
    });
  });

  test('the target role may write only under the pipeline\'s raw prefix', () => {
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^ShopTargetAccessRole') }] } });
    const statements = Object.values(policies)[0].Properties.PolicyDocument.Statement;
    const put = statements.find((s: any) => [s.Action].flat().includes('s3:PutObject'));
    expect(put.Resource['Fn::Join'][1][0]['Fn::GetAtt'][0]).toMatch(/^LakeRawBucket/);
    expect(put.Resource['Fn::Join'][1][1]).toBe('/shop/*');
    expect(JSON.stringify(statements)).not.toContain('"s3:*"');
  });

  test('table mappings select each CDC table (wildcards as %), never pulled tables, and add the change sequence column', () => {
    const [config] = Object.values(template.findResources('AWS::DMS::ReplicationConfig'));
    const rules = config.Properties.TableMappings.rules;
    expect(rules.filter((r: any) => r['rule-type'] === 'selection').map((r: any) => r['object-locator'])).toEqual([
      { 'schema-name': 'public', 'table-name': 'orders' },
      { 'schema-name': 'sales', 'table-name': '%' },
    ]);
    expect(rules.find((r: any) => r['rule-action'] === 'add-column')).toMatchObject({
      'value': '_dms_change_seq',
      'expression': '$AR_H_CHANGE_SEQ',
      'object-locator': { 'schema-name': '%', 'table-name': '%' },
    });
    expect(new Set(rules.map((r: any) => r['rule-id'])).size).toBe(rules.length);
  });

  test('the replication is started once on create and stopped on delete', () => {
    const [starter] = Object.values(template.findResources('Custom::AWS'));
    expect(flatJson(starter.Properties.Create)).toEqual({
      service: 'DatabaseMigrationService',
      action: 'startReplication',
      parameters: { ReplicationConfigArn: 'TOKEN', StartReplicationType: 'start-replication' },
      physicalResourceId: { id: 'shop-replication-start' },
    });
    expect(flatJson(starter.Properties.Delete)).toMatchObject({ action: 'stopReplication', ignoreErrorCodesMatching: '.*' });
    expect(starter.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^ShopReplication/)]));
  });

  test('one Glue 5.0 merge job with Iceberg, encrypted by a security configuration, and the job arguments the script reads', () => {
    template.resourceCountIs('AWS::Glue::Job', 1);
    template.hasResourceProperties('AWS::Glue::Job', {
      GlueVersion: '5.0',
      Command: { Name: 'glueetl', PythonVersion: '3' },
      WorkerType: 'G.1X',
      NumberOfWorkers: 2,
      Timeout: 120,
      MaxRetries: 0,
      ExecutionProperty: { MaxConcurrentRuns: 1 },
      JobRunQueuingEnabled: true,
      SecurityConfiguration: { Ref: Match.stringLikeRegexp('^ShopMergeSecurity') },
      DefaultArguments: Match.objectLike({ '--extra-py-files': Match.anyValue(), '--pipeline_name': 'shop' }),
    });
    template.hasResourceProperties('AWS::Glue::SecurityConfiguration', {
      EncryptionConfiguration: {
        S3Encryptions: [{ S3EncryptionMode: 'SSE-KMS' }],
        CloudWatchEncryption: { CloudWatchEncryptionMode: 'SSE-KMS' },
        JobBookmarksEncryption: { JobBookmarksEncryptionMode: 'CSE-KMS' },
      },
    });
    const args = jobArguments(template);
    expect(args).toMatchObject({
      '--datalake-formats': 'iceberg',
      '--source_name': 'shop',
      '--raw_prefix': 'shop/',
      '--catalog': 'glue_catalog',
      '--table_prefix': 'shop_',
      '--state_prefix': '_ops/cdc/shop/',
      '--quarantine_prefix': '_quarantine/shop/',
      '--metrics_namespace': 'CdkLakehouse/Merge',
      '--maintenance': 'true',
      '--snapshot_retention_hours': '168',
      '--job-bookmark-option': 'job-bookmark-disable',
    });
    expect(JSON.parse(args['--tables'])).toEqual([
      { name: 'public.orders', schema: 'public', table: 'orders', primaryKey: ['id'], mode: 'cdc' },
      { name: 'sales.*', schema: 'sales', table: '*', primaryKey: ['id'], mode: 'cdc' },
      { name: 'legacy.invoices', schema: 'legacy', table: 'invoices', primaryKey: ['invoice_no'], mode: 'pull', watermarkColumn: 'updated_at', ownSchedule: true },
    ]);
    expect(args['--conf']).toContain('spark.sql.catalog.glue_catalog.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog');
  });

  test('the merge runs hourly on every table but the pulled table with its own schedule; that one is pulled on its own', () => {
    const inputs = scheduleInputs(template);
    const merge = inputs.find((i) => i.expression === 'rate(1 hour)');
    expect(merge.arn['Fn::Join'][1].slice(-1)).toEqual([':scheduler:::aws-sdk:glue:startJobRun']);
    expect(merge.input).toEqual({ JobName: expect.stringMatching(/^shop-cdc-merge-/) });
    const pull = inputs.find((i) => i.expression === 'cron(0 3 * * ? *)');
    expect(pull.input.Arguments).toEqual({ '--only_table': 'legacy.invoices' });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: { RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 }, DeadLetterConfig: { Arn: Match.anyValue() } },
    });
  });

  test('pulled tables get a Glue NETWORK connection in the VPC whose security group admits itself', () => {
    template.hasResourceProperties('AWS::Glue::Connection', {
      ConnectionInput: { ConnectionType: 'NETWORK', PhysicalConnectionRequirements: { SubnetId: { Ref: Match.stringLikeRegexp('^VpcPrivateSubnet1') } } },
    });
    template.hasResourceProperties('AWS::Glue::Job', { Connections: { Connections: [{ Ref: Match.stringLikeRegexp('^ShopPullConnection') }] } });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 0,
      ToPort: 65535,
      GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ShopPullSecurityGroup'), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ShopPullSecurityGroup'), 'GroupId'] },
    });
    const args = jobArguments(template);
    expect(args['--jdbc_database']).toBe('shop');
    expect(args['--jdbc_secret_id']).toBe('TOKEN');
  });

  test('DMS, the preflight function and the pull connection are let into the database on 5432', () => {
    const rules = template.findResources('AWS::EC2::SecurityGroupIngress', {
      Properties: { GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DbSg'), 'GroupId'] }, FromPort: 5432, ToPort: 5432 },
    });
    const sources = Object.values(rules).map((r) => r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0]).sort();
    expect(sources).toEqual([
      expect.stringMatching(/^ShopPreflightSecurityGroup/),
      expect.stringMatching(/^ShopPullSecurityGroup/),
      expect.stringMatching(/^ShopReplicationSecurityGroup/),
    ]);
  });

  test('a preflight function in the VPC, told the secret, the database and the CDC tables', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^ShopPreflightSecurityGroup'), 'GroupId'] }] },
      TracingConfig: { Mode: 'Active' },
      Environment: { Variables: { CDC_PREFLIGHT_CONFIG: Match.anyValue() } },
    });
    const fns = template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { CDC_PREFLIGHT_CONFIG: Match.anyValue() } } } });
    const value = Object.values(fns)[0].Properties.Environment.Variables.CDC_PREFLIGHT_CONFIG;
    const config = JSON.parse(value['Fn::Join'][1].map((p: unknown) => (typeof p === 'string' ? p : 'TOKEN')).join(''));
    expect(config).toEqual({
      secretArn: 'TOKEN',
      databaseName: 'shop',
      sslMode: 'require',
      tables: [{ name: 'public.orders', primaryKey: ['id'] }, { name: 'sales.*', primaryKey: ['id'] }],
      fullLobMode: false,
      lobMaxSizeKb: 64,
    });
  });

  test('the merge role writes the curated tables of its prefix, its ledger and its quarantine, and may publish only its own metrics', () => {
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: Match.stringLikeRegexp('^ShopMergeRole') }] } });
    const text = JSON.stringify(Object.values(policies)[0].Properties.PolicyDocument.Statement);
    for (const prefix of ['/shop/*', '/_ops/cdc/shop/*', '/_quarantine/shop/*', '/shop_*']) expect(text).toContain(prefix);
    expect(text).toContain('"cloudwatch:namespace":["Glue","CdkLakehouse/Merge"]');
    expect(text).toContain('glue:CreateTable');
    expect(text).toContain('glue:UpdateTable');
  });

  test('100 tables cost no more CloudFormation resources than 1: the job creates the curated tables', () => {
    const many = Array.from({ length: 100 }, (_, i) => ({ name: `public.t${i}`, primaryKey: ['id'] }));
    const one = build({ tables: many.slice(0, 1) }).template;
    const hundred = build({ tables: many }).template;
    const count = (t: Template) => Object.keys(t.toJSON().Resources).length;
    expect(count(hundred)).toBe(count(one));
    expect(Object.values(hundred.findResources('AWS::DMS::ReplicationConfig'))[0].Properties.TableMappings.rules).toHaveLength(101);
    expect(JSON.parse(jobArguments(hundred)['--tables'])).toHaveLength(100);
  });

  test('no per-table CloudFormation resources for CDC tables: the job creates the curated tables', () => {
    template.resourceCountIs('AWS::Glue::Table', 0);
    expect(cdc.curatedTableNames).toEqual(['shop_public_orders', 'shop_legacy_invoices']);
  });

  test('the pipeline contract', () => {
    expect(cdc.pipelineName).toBe('shop');
    expect(cdc.pipelineKind).toBe(PipelineKind.CDC);
    expect(cdc.freshness.map((f) => [f.dataset, f.expectedInterval.toHours()])).toEqual([
      ['shop_public_orders', 24], ['shop_sales.*', 6], ['shop_legacy_invoices', 24],
    ]);
    const stack = cdc.node.scope as any;
    const resolve = (m: any) => stack.resolve(m.toMetricConfig());
    // Freshness is the curated table's commits (issue 15): per curated table where the name is known,
    // the pipeline's commits for a pattern (its tables are named at run time).
    expect(resolve(cdc.freshness[0].arrivals).metricStat).toMatchObject({
      namespace: 'CdkLakehouse/Merge', metricName: 'TableCommits', statistic: 'Sum', dimensions: [{ name: 'Pipeline', value: 'shop' }, { name: 'Table', value: 'shop_public_orders' }],
    });
    expect(resolve(cdc.freshness[1].arrivals).metricStat).toMatchObject({
      namespace: 'CdkLakehouse/Merge', metricName: 'TableCommits', dimensions: [{ name: 'Pipeline', value: 'shop' }],
    });
    expect(resolve(cdc.pipelineMetrics.throughput).metricStat).toMatchObject({ metricName: 'RowsMerged', statistic: 'Sum', dimensions: [{ name: 'Pipeline', value: 'shop' }] });
    // Errors: quarantined changes plus tables the job could not merge (it merges the rest, then fails).
    const errors = resolve(cdc.pipelineMetrics.errors).mathExpression;
    expect(errors.expression).toBe('FILL(quarantined, 0) + FILL(tablesFailed, 0)');
    const using = (cdc.pipelineMetrics.errors as any).usingMetrics;
    expect(resolve(using.quarantined).metricStat).toMatchObject({ metricName: 'RowsQuarantined', statistic: 'Sum' });
    expect(resolve(using.tablesFailed).metricStat).toMatchObject({
      namespace: 'CdkLakehouse/Merge', metricName: 'TablesFailed', statistic: 'Sum', dimensions: [{ name: 'Pipeline', value: 'shop' }],
    });
    expect(resolve(cdc.pipelineMetrics.lagMillis!).mathExpression.expression).toBe('age * 1000');
    expect(cdc.pipelineMetrics.additional!.map((m) => m.label)).toEqual([
      'CDC latency, source (s)', 'CDC latency, target (s)', 'Change files merged', 'Changes quarantined', 'Tables that failed to merge', 'Merge run time (s)',
    ]);
    expect(cdc.quarantines).toHaveLength(1);
    expect(cdc.quarantines[0].prefix).toBe('_quarantine/shop/');
    expect(cdc.deadLetterQueues).toEqual([cdc.scheduleDeadLetterQueue]);
    expect(cdc.pipelineAlarms).toEqual([cdc.scheduleDeadLetterAlarm, cdc.quarantineAlarm]);
    expect(stack.resolve(cdc.failureEvents)).toEqual([
      { source: ['aws.glue'], detailType: ['Glue Job State Change'], detail: { jobName: [cdc.mergeJobName], state: ['FAILED', 'TIMEOUT', 'ERROR'] } },
      {
        source: ['aws.dms'],
        resources: [{ 'Fn::GetAtt': [expect.stringMatching(/^ShopReplication/), 'ReplicationConfigArn'] }],
        detail: { eventType: [{ wildcard: '*FAIL*' }, { wildcard: '*STOPPED*' }] },
      },
    ]);
    expect(cdc.logGroups).toEqual([cdc.preflightLogGroup]);
  });

  test('the job\'s curated table naming: prefix, schema, table, lowercased, anything else "_"', () => {
    expect(CdcIngestion.curatedTableName('shop_', 'Sales', 'Order-Lines')).toBe('shop_sales_order_lines');
    expect(CdcIngestion.curatedTableName('', 'public', 'orders')).toBe('public_orders');
  });

  test('RETAIN by default for the key and the DLQ', () => {
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: { Description: Match.stringLikeRegexp('^CdcIngestion') } });
    template.hasResource('AWS::SQS::Queue', { DeletionPolicy: 'Retain' });
  });
});

describe('CdcIngestion overrides', () => {
  test('provisioned DMS: an instance (class, storage, multi-AZ, private) and a task with the same mappings and settings', () => {
    const { template, cdc } = build({ capacityMode: DmsCapacityMode.PROVISIONED, replicationInstanceClass: 'dms.r6i.large', allocatedStorageGiB: 200, multiAz: true });
    template.resourceCountIs('AWS::DMS::ReplicationConfig', 0);
    template.hasResourceProperties('AWS::DMS::ReplicationInstance', {
      ReplicationInstanceClass: 'dms.r6i.large', AllocatedStorage: 200, MultiAZ: true, PubliclyAccessible: false,
    });
    const [task] = Object.values(template.findResources('AWS::DMS::ReplicationTask'));
    expect(task.Properties.MigrationType).toBe('full-load-and-cdc');
    expect(flatJson(task.Properties.TableMappings).rules).toHaveLength(3);
    expect(flatJson(task.Properties.ReplicationTaskSettings).FullLoadSettings.TargetTablePrepMode).toBe('DO_NOTHING');
    const [starter] = Object.values(template.findResources('Custom::AWS'));
    expect(flatJson(starter.Properties.Create)).toMatchObject({ action: 'startReplicationTask', parameters: { StartReplicationTaskType: 'start-replication' } });
    const resolved = (cdc.node.scope as any).resolve(cdc.failureEvents[1]);
    expect(resolved).toMatchObject({ detailType: ['DMS Replication Task State Change'], detail: { eventType: ['REPLICATION_TASK_FAILED', 'REPLICATION_TASK_STOPPED'] } });
    const lag = (cdc.node.scope as any).resolve(cdc.pipelineMetrics.additional![0].metric.toMetricConfig());
    expect(lag.metricStat.dimensions.map((d: any) => d.name)).toEqual(['ReplicationInstanceIdentifier', 'ReplicationTaskIdentifier']);
  });

  test('serverless capacity and multi-AZ', () => {
    const { template } = build({ minCapacityUnits: 2, maxCapacityUnits: 16, multiAz: true });
    template.hasResourceProperties('AWS::DMS::ReplicationConfig', { ComputeConfig: { MinCapacityUnits: 2, MaxCapacityUnits: 16, MultiAZ: true } });
  });

  test('account roles created on request, with the names and managed policies DMS expects, before the subnet group', () => {
    const { template } = build({ dmsAccountRoles: DmsAccountRoles.CREATE });
    template.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'dms-vpc-role',
      ManagedPolicyArns: [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AmazonDMSVPCManagementRole']] }],
    });
    template.hasResourceProperties('AWS::IAM::Role', { RoleName: 'dms-cloudwatch-logs-role' });
    template.hasResource('AWS::DMS::ReplicationSubnetGroup', { DependsOn: [Match.stringLikeRegexp('^CdkLakehouseDmsAccountRolesDmsVpcRole')] });
  });

  test('by default the account roles are not created', () => {
    const { template } = build();
    expect(JSON.stringify(template.toJSON())).not.toContain('dms-vpc-role');
  });

  test('source options: verify-full with a certificate, pglogical, a slot of the user\'s, heartbeat off, another port', () => {
    const s = cdcScaffold();
    new CdcIngestion(s.stack, 'Shop', cdcProps(s, {
      source: {
        secret: s.secret,
        databaseName: 'shop',
        port: 6432,
        securityGroup: s.dbSecurityGroup,
        sslMode: PostgresSslMode.VERIFY_FULL,
        certificateArn: 'arn:aws:dms:eu-west-1:111111111111:cert:RDSCA',
        cdcPlugin: PostgresCdcPlugin.PGLOGICAL,
        slotName: 'lake_slot',
        heartbeat: false,
      },
    }));
    const template = Template.fromStack(s.stack);
    template.hasResourceProperties('AWS::DMS::Endpoint', {
      SslMode: 'verify-full',
      CertificateArn: 'arn:aws:dms:eu-west-1:111111111111:cert:RDSCA',
      PostgreSqlSettings: { PluginName: 'pglogical', SlotName: 'lake_slot', HeartbeatEnable: false, HeartbeatFrequency: Match.absent() },
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 6432, ToPort: 6432 });
  });

  test('schedule, job sizing, maintenance, retention, table prefix and an imported key', () => {
    const s = cdcScaffold();
    const key = kms.Key.fromKeyArn(s.stack, 'Imported', 'arn:aws:kms:eu-west-1:111111111111:key/abc');
    new CdcIngestion(s.stack, 'Shop', cdcProps(s, {
      mergeSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(15)),
      mergeWorkerType: 'G.2X',
      mergeNumberOfWorkers: 10,
      mergeTimeout: Duration.hours(6),
      maintenance: false,
      snapshotRetention: Duration.days(2),
      tableNamePrefix: 'erp_',
      jobEncryptionKey: key,
      preflightFunction: false,
      startReplication: false,
      removalPolicy: RemovalPolicy.DESTROY,
    }));
    const template = Template.fromStack(s.stack);
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(15 minutes)' });
    template.hasResourceProperties('AWS::Glue::Job', { WorkerType: 'G.2X', NumberOfWorkers: 10, Timeout: 360 });
    expect(jobArguments(template)).toMatchObject({ '--maintenance': 'false', '--snapshot_retention_hours': '48', '--table_prefix': 'erp_' });
    template.hasResourceProperties('AWS::DMS::ReplicationConfig', { ComputeConfig: { KmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/abc' } });
    template.resourceCountIs('Custom::AWS', 0);
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toEqual([]);
    template.hasResource('AWS::SQS::Queue', { DeletionPolicy: 'Delete' });
  });

  test('without pulled tables there is no pull connection and the job has no JDBC arguments', () => {
    const { template, cdc } = build({ tables: [{ name: 'public.orders', primaryKey: ['id'] }] });
    template.resourceCountIs('AWS::Glue::Connection', 0);
    expect(jobArguments(template)['--jdbc_secret_id']).toBeUndefined();
    expect(cdc.pullConnection).toBeUndefined();
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
  });

  test('a pulled table without its own schedule is pulled by the merge schedule', () => {
    const { template } = build({
      tables: [{ name: 'public.orders', primaryKey: ['id'] }, { name: 'legacy.invoices', primaryKey: ['id'], mode: CdcTableMode.PULL, watermarkColumn: 'changed' }],
    });
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    expect(JSON.parse(jobArguments(template)['--tables'])[1]).toEqual({
      name: 'legacy.invoices', schema: 'legacy', table: 'invoices', primaryKey: ['id'], mode: 'pull', watermarkColumn: 'changed',
    });
  });

  test('without a database security group no rule is added; connections lets the user allow it', () => {
    const s = cdcScaffold();
    const cdc = new CdcIngestion(s.stack, 'Shop', cdcProps(s, { source: { secret: s.secret, databaseName: 'shop' } }));
    expect(Template.fromStack(s.stack).findResources('AWS::EC2::SecurityGroupIngress', { Properties: { FromPort: 5432 } })).toEqual({});
    expect(cdc.connections.securityGroups).toHaveLength(3);
  });

  test('connections lets a user allow DMS, the preflight and the pull connection into a database of their own', () => {
    const s = cdcScaffold();
    const cdc = new CdcIngestion(s.stack, 'Shop', cdcProps(s, { source: { secret: s.secret, databaseName: 'shop' } }));
    const other = new ec2.SecurityGroup(s.stack, 'Other', { vpc: s.vpc });
    other.connections.allowFrom(cdc, ec2.Port.tcp(5432));
    Template.fromStack(s.stack).resourcePropertiesCountIs('AWS::EC2::SecurityGroupIngress', { FromPort: 5432 }, 3);
  });
});

describe('CdcIngestion validation names the prop and the fix', () => {
  const tables = (t: Partial<CdcTable>[]) => ({ tables: t as CdcTable[] });
  test.each<[string, Partial<CdcIngestionProps>, RegExp]>([
    ['a table without a key', tables([{ name: 'public.orders', primaryKey: [] }]), /invalid prop "tables\[0\]\.primaryKey": table "public\.orders" has no primary key\. Fix: give the columns/],
    ['no tables', { tables: [] }, /invalid prop "tables": no table is given/],
    ['not schema.table', tables([{ name: 'orders', primaryKey: ['id'] }]), /"tables\[0\]\.name": "orders" is not "schema\.table"/],
    ['a name Glue rejects', tables([{ name: 'public.orders', primaryKey: ['id'] }, { name: 'public.ørders', primaryKey: ['id'] }]), /"tables\[1\]\.name": "public\.ørders" is not "schema\.table"/],
    ['a duplicate', tables([{ name: 'public.orders', primaryKey: ['id'] }, { name: 'public.orders', primaryKey: ['id'] }]), /"tables\[1\]\.name": "public\.orders" is declared twice/],
    ['two tables, one curated name', tables([{ name: 'public.Orders', primaryKey: ['id'] }, { name: 'public.orders', primaryKey: ['id'] }]), /"tables\[1\]\.name": "public\.orders" and tables\[0\] \("public\.Orders"\) both become curated table "shop_public_orders"/],
    ['a bad key column', tables([{ name: 'public.orders', primaryKey: ['id; drop'] }]), /"tables\[0\]\.primaryKey\[0\]": "id; drop" is not a column name/],
    ['a key column twice', tables([{ name: 'public.orders', primaryKey: ['id', 'ID'] }]), /"tables\[0\]\.primaryKey": a column is listed twice/],
    ['pull without watermark', tables([{ name: 'public.a', primaryKey: ['id'] }, { name: 'public.orders', primaryKey: ['id'], mode: CdcTableMode.PULL }]), /"tables\[1\]\.watermarkColumn": pulled table "public\.orders" has no valid watermark column/],
    ['pull of a pattern', tables([{ name: 'public.a', primaryKey: ['id'] }, { name: 'public.*', primaryKey: ['id'], mode: CdcTableMode.PULL, watermarkColumn: 'u' }]), /"tables\[1\]\.name": "public\.\*" is a pattern; a pull reads one table/],
    ['watermark on a CDC table', tables([{ name: 'public.orders', primaryKey: ['id'], watermarkColumn: 'u' }]), /"tables\[0\]\.watermarkColumn": a watermark column only applies to CdcTableMode\.PULL/],
    ['a too short expected interval', tables([{ name: 'public.orders', primaryKey: ['id'], expectedInterval: Duration.seconds(10) }]), /"tables\[0\]\.expectedInterval": 10 seconds is shorter than a minute/],
    ['a pipeline name Glue and DMS reject', { pipelineName: 'Shop-DB' }, /invalid prop "pipelineName": "Shop-DB" is not a valid pipeline name.*Fix: use a name such as "shop-db"/],
    ['a table prefix Glue rejects', { tableNamePrefix: 'Shop-' }, /invalid prop "tableNamePrefix": "Shop-" may only hold/],
    ['a DMS capacity DMS rejects', { maxCapacityUnits: 3 }, /invalid prop "maxCapacityUnits": 3 is not a DMS capacity unit count DMS accepts\. Fix: use one of 1, 2, 4, 8/],
    ['min above max', { minCapacityUnits: 8, maxCapacityUnits: 4 }, /invalid prop "minCapacityUnits": 8 is above maxCapacityUnits \(4\)/],
    ['storage out of range', { capacityMode: DmsCapacityMode.PROVISIONED, allocatedStorageGiB: 2 }, /invalid prop "allocatedStorageGiB": 2 is outside 5-6144 GiB/],
    ['one Glue worker', { mergeNumberOfWorkers: 1 }, /invalid prop "mergeNumberOfWorkers": 1 is not a whole number from 2/],
    ['retention below an hour', { snapshotRetention: Duration.minutes(30) }, /invalid prop "snapshotRetention"/],
  ])('%s', (_name, overrides, message) => expectError(overrides, message));

  test('verify-full without a certificate', () => {
    const s = cdcScaffold();
    expect(() => new CdcIngestion(s.stack, 'Shop', cdcProps(s, {
      source: { secret: s.secret, databaseName: 'shop', sslMode: PostgresSslMode.VERIFY_FULL },
    }))).toThrow(/invalid prop "source\.certificateArn": PostgresSslMode\.VERIFY_FULL needs the CA certificate.*Fix: import the RDS CA bundle/);
  });

  test('a database name PostgreSQL rejects, a port that is not one', () => {
    const s = cdcScaffold();
    expect(() => new CdcIngestion(s.stack, 'A', cdcProps(s, { source: { secret: s.secret, databaseName: 'my db' } }))).toThrow(/"source\.databaseName": "my db" is not a PostgreSQL database name/);
    expect(() => new CdcIngestion(s.stack, 'B', cdcProps(s, { source: { secret: s.secret, databaseName: 'shop', port: 70000 } }))).toThrow(/"source\.port": 70000 is not a TCP port/);
  });
});
