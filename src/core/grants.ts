import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { IConstruct } from 'constructs';

// Explicit action lists (no `s3:Get*`-style wildcards): what one read or one write of lake data
// needs, and nothing else. Shared by zones, tables and every construct that grants lake access.
const S3_OBJECT_READ = ['s3:GetObject', 's3:GetObjectVersion'];
const S3_OBJECT_WRITE = ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];
const S3_BUCKET_WRITE = ['s3:ListBucketMultipartUploads'];
const KMS_READ = ['kms:Decrypt'];
const KMS_WRITE = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'];
const GLUE_READ = [
  'glue:GetDatabase',
  'glue:GetTable',
  'glue:GetTables',
  'glue:GetPartition',
  'glue:GetPartitions',
  'glue:BatchGetPartition',
];
const GLUE_WRITE = [
  'glue:UpdateTable',
  'glue:CreatePartition',
  'glue:BatchCreatePartition',
  'glue:UpdatePartition',
  'glue:BatchUpdatePartition',
  'glue:DeletePartition',
  'glue:BatchDeletePartition',
];

/** What a lake grant covers. */
export interface LakeAccess {
  readonly bucket: s3.IBucket;
  readonly key: kms.IKey;
  /** Limit S3 to this prefix; undefined = the whole bucket. */
  readonly prefix?: string;
  readonly catalogArn: string;
  readonly databaseArn: string;
  /** Table ARNs (may end with `/*` for every table of the database). */
  readonly tableArns: string[];
  /** Allow creating tables in the database (zone-level writes). */
  readonly createTables?: boolean;
}

/** Grants read access to lake data and its catalog entries. */
export function grantLakeRead(grantee: iam.IGrantable, access: LakeAccess): iam.Grant {
  return grantLake(grantee, access, false);
}

/** Grants read and write access to lake data and its catalog entries. */
export function grantLakeReadWrite(grantee: iam.IGrantable, access: LakeAccess): iam.Grant {
  return grantLake(grantee, access, true);
}

function grantLake(grantee: iam.IGrantable, access: LakeAccess, write: boolean): iam.Grant {
  const objects = access.bucket.arnForObjects(`${access.prefix ?? ''}*`);
  const grants: iam.Grant[] = [];
  const add = (actions: string[], resourceArns: string[], conditions?: Record<string, Record<string, unknown>>) =>
    grants.push(iam.Grant.addToPrincipal({ grantee, actions, resourceArns, conditions }));

  add(write ? [...S3_OBJECT_READ, ...S3_OBJECT_WRITE] : S3_OBJECT_READ, [objects]);
  // ListBucket is the one bucket action that honours s3:prefix; keep it apart so the condition
  // does not deny GetBucketLocation.
  add(['s3:ListBucket'], [access.bucket.bucketArn], access.prefix ? { StringLike: { 's3:prefix': [`${access.prefix}*`] } } : undefined);
  add(write ? ['s3:GetBucketLocation', ...S3_BUCKET_WRITE] : ['s3:GetBucketLocation'], [access.bucket.bucketArn]);
  grants.push(access.key.grant(grantee, ...(write ? KMS_WRITE : KMS_READ)));

  const catalog = [access.catalogArn, access.databaseArn, ...access.tableArns];
  const glueActions = write ? [...GLUE_READ, ...GLUE_WRITE, ...(access.createTables ? ['glue:CreateTable'] : [])] : GLUE_READ;
  add(glueActions, catalog);

  return grants.reduce((all, g) => all.combine(g));
}

/** ARNs of the Glue catalog, a database and its tables in the stack of `scope`. */
export function glueArns(scope: IConstruct, databaseName: string) {
  const stack = Stack.of(scope);
  const arn = (resource: string, resourceName?: string) =>
    stack.formatArn({ service: 'glue', resource, resourceName });
  return {
    catalogArn: arn('catalog'),
    databaseArn: arn('database', databaseName),
    tableArn: (tableName: string) => arn('table', `${databaseName}/${tableName}`),
  };
}
