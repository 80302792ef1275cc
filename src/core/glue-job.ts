import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { addOrReportStatement } from './resource-policy';

/**
 * What the library's Glue 5.0 Spark jobs that write Iceberg through the Glue catalog share:
 * encryption of what the job writes, the runtime permissions of its role, and its arguments.
 */

/** Encrypts the job's S3 writes with the lake key, its logs and bookmarks with the job key. */
export function glueJobSecurityConfiguration(
  scope: Construct, id: string, name: string, dataKey: kms.IKey, jobKey: kms.IKey,
): glue.CfnSecurityConfiguration {
  // CloudWatch Logs encrypts the job's log groups with the job key, which needs the logs service
  // in the key policy, for Glue's log groups only. On an imported key that statement cannot be
  // added: the key's owner is told exactly what to add.
  const stack = Stack.of(scope);
  addOrReportStatement(scope, jobKey, 'Glue job key (KMS key policy)', new iam.PolicyStatement({
    sid: 'CloudWatchLogsEncryptsGlueJobLogs',
    principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
    actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
    resources: ['*'],
    conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: '/aws-glue/*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) } },
  }), `security configuration ${name} encrypts the job's CloudWatch logs with it, and the job fails to write its logs without this statement`);
  return new glue.CfnSecurityConfiguration(scope, id, {
    name,
    encryptionConfiguration: {
      s3Encryptions: [{ s3EncryptionMode: 'SSE-KMS', kmsKeyArn: dataKey.keyArn }],
      cloudWatchEncryption: { cloudWatchEncryptionMode: 'SSE-KMS', kmsKeyArn: jobKey.keyArn },
      jobBookmarksEncryption: { jobBookmarksEncryptionMode: 'CSE-KMS', kmsKeyArn: jobKey.keyArn },
    },
  });
}

/**
 * Lets a job role write Glue's log groups (/aws-glue/*, KMS-associated) and publish metrics in
 * the given namespaces only. Returns the log groups' ARN pattern (for nag reasons).
 */
export function grantGlueJobRuntime(role: iam.IRole, metricNamespaces: string[]): string {
  const glueLogs = Stack.of(role).formatArn({ service: 'logs', resource: 'log-group', resourceName: '/aws-glue/*', arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:AssociateKmsKey'],
    resources: [glueLogs],
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['cloudwatch:PutMetricData'],
    resources: ['*'],
    conditions: { StringEquals: { 'cloudwatch:namespace': metricNamespaces.length === 1 ? metricNamespaces[0] : metricNamespaces } },
  }));
  return glueLogs;
}

/**
 * Arguments of a Glue 5.0 job that reads and writes Iceberg tables of the Glue catalog as
 * `glue_catalog` (warehouse: the curated zone), with bookmarks off (the jobs keep their own
 * state) and metrics, observability metrics and continuous logs on.
 */
export function icebergJobArguments(warehouse: string): Record<string, string> {
  return {
    '--datalake-formats': 'iceberg',
    '--conf': [
      'spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions',
      'spark.sql.catalog.glue_catalog=org.apache.iceberg.spark.SparkCatalog',
      `spark.sql.catalog.glue_catalog.warehouse=${warehouse}`,
      'spark.sql.catalog.glue_catalog.catalog-impl=org.apache.iceberg.aws.glue.GlueCatalog',
      'spark.sql.catalog.glue_catalog.io-impl=org.apache.iceberg.aws.s3.S3FileIO',
    ].join(' --conf '),
    '--catalog': 'glue_catalog',
    '--warehouse': warehouse,
    '--job-bookmark-option': 'job-bookmark-disable',
    '--enable-metrics': 'true',
    '--enable-observability-metrics': 'true',
    '--enable-continuous-cloudwatch-log': 'true',
    '--enable-glue-datacatalog': 'true',
  };
}
