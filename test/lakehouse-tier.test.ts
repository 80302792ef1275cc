import { App, Duration, RemovalPolicy, Stack, Stage } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { LakehouseTier, LakehouseTierProps, LakeZoneName } from '../src';

function synth(props?: LakehouseTierProps, context?: Record<string, unknown>): { stack: Stack; lake: LakehouseTier; template: Template } {
  const stack = new Stack(new App({ context }), 'Test');
  const lake = new LakehouseTier(stack, 'Lake', props);
  return { stack, lake, template: Template.fromStack(stack) };
}

const zoneBuckets = (template: Template) =>
  Object.entries(template.findResources('AWS::S3::Bucket')).filter(([id]) => /Lake(Raw|Clean|Curated)Bucket/.test(id));

const lifecycleOf = (template: Template, zone: string) => {
  const [, bucket] = zoneBuckets(template).find(([id]) => id.startsWith(`Lake${zone}Bucket`))!;
  return bucket.Properties.LifecycleConfiguration?.Rules;
};

describe('LakehouseTier defaults', () => {
  const { template, lake } = synth();

  test('one customer-managed key with rotation, retained', () => {
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('three zone buckets plus an access-log bucket', () => {
    template.resourceCountIs('AWS::S3::Bucket', 4);
    expect(zoneBuckets(template)).toHaveLength(3);
  });

  test.each(['Raw', 'Clean', 'Curated'])('%s bucket: lake key with bucket key, public access blocked, versioned, logged, ACLs off, retained', (zone) => {
    template.hasResource('AWS::S3::Bucket', {
      Properties: {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LakeKey'), 'Arn'] } },
          }],
        },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('^LakeAccessLogsBucket') }, LogFilePrefix: `${zone.toLowerCase()}/` },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      },
      DeletionPolicy: 'Retain',
    });
  });

  test.each(['Raw', 'Clean', 'Curated', 'AccessLogs'])('%s bucket policy denies non-TLS and TLS below 1.2', (zone) => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp(`^Lake${zone}Bucket`) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  test('raw lifecycle: Standard-IA at 30 days, Glacier IR at 90, noncurrent versions expire at 30, uploads aborted at 7', () => {
    expect(lifecycleOf(template, 'Raw')).toEqual([{
      Id: 'raw-zone-lifecycle',
      Status: 'Enabled',
      Transitions: [
        { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
        { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
      ],
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
    }]);
  });

  test.each(['Clean', 'Curated'])('%s lifecycle: no transitions or expiry, noncurrent versions expire at 30, uploads aborted at 7', (zone) => {
    expect(lifecycleOf(template, zone)).toEqual([{
      Id: `${zone.toLowerCase()}-zone-lifecycle`,
      Status: 'Enabled',
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
    }]);
  });

  test('access-log bucket: SSE-S3 (what S3 log delivery accepts), logs kept 365 days, delivery by bucket policy', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 365, Status: 'Enabled' })] },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^LakeAccessLogsBucket') },
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({
          Effect: 'Allow', Action: 's3:PutObject', Principal: { Service: 'logging.s3.amazonaws.com' },
        })]),
      },
    });
  });

  test('one Glue database per zone, named <lake>_<zone>, located at its bucket, retained', () => {
    template.resourceCountIs('AWS::Glue::Database', 3);
    for (const zone of ['raw', 'clean', 'curated']) {
      template.hasResource('AWS::Glue::Database', {
        Properties: {
          CatalogId: { Ref: 'AWS::AccountId' },
          DatabaseInput: Match.objectLike({ Name: `test_lake_${zone}`, LocationUri: Match.anyValue() }),
        },
        DeletionPolicy: 'Retain',
      });
    }
    expect(lake.lakeName).toBe('test_lake');
  });

  test('zones are reachable by name and expose what ingestion constructs need', () => {
    expect(lake.zone(LakeZoneName.RAW)).toBe(lake.raw);
    expect(lake.zone(LakeZoneName.CLEAN)).toBe(lake.clean);
    expect(lake.zone(LakeZoneName.CURATED)).toBe(lake.curated);
    expect(lake.curated.zoneName).toBe('curated');
    expect(lake.curated.databaseName).toBe('test_lake_curated');
    expect(lake.curated.encryptionKey).toBe(lake.encryptionKey);
    expect(lake.lakeZones.map((z) => z.cfnDatabase)).toHaveLength(3);
  });

  test('no auto-delete machinery when retained', () => {
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });
});

describe('LakehouseTier overrides', () => {
  test('lakeName names the databases; a zone databaseName overrides one', () => {
    const { template } = synth({ lakeName: 'sales', curated: { databaseName: 'sales_gold' } });
    for (const name of ['sales_raw', 'sales_clean', 'sales_gold']) {
      template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: Match.objectLike({ Name: name }) });
    }
  });

  test('default lakeName is the stack name and the construct id in snake_case (unique per account and region)', () => {
    const stack = new Stack(new Stage(new App(), 'Dev'), 'DataStack');
    const lake = new LakehouseTier(stack, 'SalesLake');
    expect(stack.stackName).toBe('Dev-DataStack');
    expect(lake.lakeName).toBe('dev_data_stack_sales_lake');
  });

  test('bucketName and versioned: false', () => {
    const { template } = synth({ raw: { bucketName: 'my-raw-bucket', versioned: false } });
    const raw = zoneBuckets(template).find(([id]) => id.startsWith('LakeRawBucket'))![1];
    expect(raw.Properties.BucketName).toBe('my-raw-bucket');
    expect(raw.Properties.VersioningConfiguration).toBeUndefined();
  });

  test('lifecycle fields override one by one; Duration.days(0) turns a rule off', () => {
    const { template } = synth({
      raw: {
        lifecycle: { infrequentAccessAfter: Duration.days(60), glacierInstantRetrievalAfter: Duration.days(0), expireAfter: Duration.days(400) },
      },
      curated: { lifecycle: { noncurrentVersionsExpireAfter: Duration.days(0), abortIncompleteUploadsAfter: Duration.days(0) } },
      clean: {
        lifecycle: {
          infrequentAccessAfter: Duration.days(45),
          glacierInstantRetrievalAfter: Duration.days(120),
          noncurrentVersionsExpireAfter: Duration.days(10),
        },
      },
    });
    expect(lifecycleOf(template, 'Raw')).toEqual([{
      Id: 'raw-zone-lifecycle',
      Status: 'Enabled',
      Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 60 }],
      ExpirationInDays: 400,
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
    }]);
    expect(lifecycleOf(template, 'Curated')).toBeUndefined();
    expect(lifecycleOf(template, 'Clean')).toEqual([{
      Id: 'clean-zone-lifecycle',
      Status: 'Enabled',
      Transitions: [
        { StorageClass: 'STANDARD_IA', TransitionInDays: 45 },
        { StorageClass: 'GLACIER_IR', TransitionInDays: 120 },
      ],
      NoncurrentVersionExpiration: { NoncurrentDays: 10 },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
    }]);
  });

  test('existing bucket and key are used as they are', () => {
    const stack = new Stack();
    const key = kms.Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    const bucket = s3.Bucket.fromBucketName(stack, 'Raw', 'existing-raw');
    const lake = new LakehouseTier(stack, 'Lake', { encryptionKey: key, raw: { existingBucket: bucket } });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.resourceCountIs('AWS::S3::Bucket', 3);
    expect(lake.raw.bucket).toBe(bucket);
    expect(lake.encryptionKey).toBe(key);
    template.hasResourceProperties('AWS::Glue::Database', { DatabaseInput: { Name: 'default_lake_raw', LocationUri: 's3://existing-raw/', Description: Match.anyValue() } });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key.keyArn } })] },
    });
  });

  test('an existing access-log bucket replaces the one the lake would create', () => {
    const stack = new Stack();
    const logs = new s3.Bucket(stack, 'MyLogs');
    new LakehouseTier(stack, 'Lake', { accessLogsBucket: logs });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::S3::Bucket', 4);
    template.hasResourceProperties('AWS::S3::Bucket', { LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('^MyLogs') }, LogFilePrefix: 'raw/' } });
  });

  test('accessLogsExpiration: Duration.days(0) keeps logs forever', () => {
    const { template } = synth({ accessLogsExpiration: Duration.days(0) });
    const logs = Object.entries(template.findResources('AWS::S3::Bucket')).find(([id]) => id.startsWith('LakeAccessLogsBucket'))![1];
    expect(logs.Properties.LifecycleConfiguration).toBeUndefined();
  });

  test('removalPolicy DESTROY deletes and empties everything the lake created', () => {
    const { template } = synth({ removalPolicy: RemovalPolicy.DESTROY });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 4);
    for (const type of ['AWS::S3::Bucket', 'AWS::KMS::Key', 'AWS::Glue::Database']) {
      for (const resource of Object.values(template.findResources(type))) expect(resource.DeletionPolicy).toBe('Delete');
    }
  });

  test('context flag cdk-lakehouse:destroyOnRemoval does the same for a sandbox app', () => {
    const { template, lake } = synth(undefined, { 'cdk-lakehouse:destroyOnRemoval': 'true' });
    expect(lake.removalPolicy).toBe(RemovalPolicy.DESTROY);
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 4);
  });

  test('an explicit removalPolicy wins over the context flag', () => {
    const { template } = synth({ removalPolicy: RemovalPolicy.RETAIN }, { 'cdk-lakehouse:destroyOnRemoval': true });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });
});

describe('LakehouseTier validation names the prop and the fix', () => {
  test.each<[string, LakehouseTierProps, RegExp]>([
    ['lakeName not a Glue name', { lakeName: 'Sales-Lake' }, /invalid prop "lakeName": "Sales-Lake" is not a valid Glue\/Athena name.*Fix: use a name such as "sales_lake"/],
    ['databaseName not a Glue name', { raw: { databaseName: 'raw zone' } }, /invalid prop "raw.databaseName"/],
    ['Infrequent Access before 30 days', { raw: { lifecycle: { infrequentAccessAfter: Duration.days(7) } } }, /invalid prop "raw.lifecycle.infrequentAccessAfter".*30 days.*Fix: use Duration.days\(30\) or more/],
    ['Glacier before Infrequent Access', { clean: { lifecycle: { infrequentAccessAfter: Duration.days(60), glacierInstantRetrievalAfter: Duration.days(45) } } }, /invalid prop "clean.lifecycle.glacierInstantRetrievalAfter": Glacier Instant Retrieval \(45 days\) comes before/],
    ['expiry before transition', { raw: { lifecycle: { expireAfter: Duration.days(60) } } }, /invalid prop "raw.lifecycle.expireAfter": objects would expire \(60 days\) before or when they transition \(90 days\)/],
    ['fractional days', { raw: { lifecycle: { noncurrentVersionsExpireAfter: Duration.hours(36) } } }, /invalid prop "raw.lifecycle.noncurrentVersionsExpireAfter".*not a whole/],
    ['existing bucket with lifecycle', { raw: { existingBucket: s3.Bucket.fromBucketName(new Stack(), 'B', 'existing-bucket'), lifecycle: {} } }, /invalid prop "raw.lifecycle": it cannot be applied to an existing bucket/],
    ['existing bucket with bucketName', { curated: { existingBucket: s3.Bucket.fromBucketName(new Stack(), 'B', 'existing-bucket'), bucketName: 'x' } }, /invalid prop "curated.bucketName"/],
  ])('%s', (_name, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });

  test('the error names the construct', () => {
    expect(() => synth({ lakeName: 'X' })).toThrow(/^LakehouseTier: invalid prop "lakeName"/);
  });
});

describe('zone grants', () => {
  const policyOf = (template: Template) =>
    Object.values(template.findResources('AWS::IAM::Policy'))[0].Properties.PolicyDocument.Statement;

  test('grantRead on a zone prefix: explicit read actions scoped to the prefix, key and database', () => {
    const stack = new Stack();
    const lake = new LakehouseTier(stack, 'Lake');
    const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    lake.raw.grantRead(role, 'events/');
    const statements = stack.resolve(policyOf(Template.fromStack(stack)));
    expect(statements).toEqual([
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^LakeRawBucket/), 'Arn'] }, '/events/*']] } },
      { Effect: 'Allow', Action: 's3:ListBucket', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^LakeRawBucket/), 'Arn'] }, Condition: { StringLike: { 's3:prefix': ['events/*'] } } },
      { Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^LakeRawBucket/), 'Arn'] } },
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^LakeKey/), 'Arn'] } },
      {
        Effect: 'Allow',
        Action: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions', 'glue:BatchGetPartition'],
        Resource: [
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':glue:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':catalog']] },
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':glue:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':database/default_lake_raw']] },
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':glue:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':table/default_lake_raw/*']] },
        ],
      },
    ]);
  });

  test('grantReadWrite on a whole zone adds writes, data keys and table creation; never a wildcard action', () => {
    const stack = new Stack();
    const lake = new LakehouseTier(stack, 'Lake');
    const role = new iam.Role(stack, 'Writer', { assumedBy: new iam.AccountRootPrincipal() });
    lake.curated.grantReadWrite(role);
    const statements = stack.resolve(policyOf(Template.fromStack(stack)));
    expect(statements[0].Action).toEqual(['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts']);
    expect(statements[0].Resource['Fn::Join'][1][1]).toBe('/*');
    expect(statements[1]).toEqual({ Effect: 'Allow', Action: 's3:ListBucket', Resource: expect.anything() });
    expect(statements[2].Action).toEqual(['s3:GetBucketLocation', 's3:ListBucketMultipartUploads']);
    expect(statements[3].Action).toEqual(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey']);
    expect(statements[4].Action).toEqual(expect.arrayContaining(['glue:CreateTable', 'glue:UpdateTable', 'glue:BatchCreatePartition']));
    expect(statements[4].Action).not.toContain('glue:DeleteTable');
    for (const statement of statements) {
      for (const action of [statement.Action].flat()) expect(action).not.toContain('*');
    }
  });
});
