import { ArnFormat, Names, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ILakeZone } from '../core/lake';
import { suppressNag } from '../core/nag';
import { addOrReportStatement } from '../core/resource-policy';
import { propError, validateGlueName } from '../core/validation';

/** What a crawler needs beyond its zone. */
export interface LakeCrawlerOptions {
  /**
   * Prefixes of the zone to crawl.
   * @default - the whole zone
   */
  readonly prefixes?: string[];
  /**
   * Prefix added to the names of the tables the crawler creates.
   * @default - none
   */
  readonly tablePrefix?: string;
  /**
   * When to crawl, as a Glue cron expression, e.g. `cron(0 3 * * ? *)`.
   * @default - on demand only (partition projection makes scheduled crawls unnecessary for
   * tables registered by this library)
   */
  readonly schedule?: string;
}

/** Props of a crawler. */
export interface LakeCrawlerProps extends LakeCrawlerOptions {
  /** The zone to crawl; tables go into its database. */
  readonly zone: ILakeZone;
}

/**
 * An optional Glue crawler for schema discovery in a zone, for data whose schema is not known
 * up front. Its logs, and anything it writes, are encrypted with the zone's key.
 *
 * @example
 * declare const lake: LakehouseTier;
 *
 * // Discover the schema of partner drops in the clean zone every night.
 * lake.addCrawler('PartnerDrops', LakeZoneName.CLEAN, {
 *   prefixes: ['partners/'],
 *   tablePrefix: 'partner_',
 *   schedule: 'cron(0 3 * * ? *)',
 * });
 */
export class LakeCrawler extends Construct {
  /** The crawler (escape hatch). */
  public readonly cfnCrawler: glue.CfnCrawler;
  /** The crawler's role. */
  public readonly role: iam.Role;
  /** The Glue security configuration encrypting its logs with the zone key. */
  public readonly securityConfiguration: glue.CfnSecurityConfiguration;
  /** Name of the crawler. */
  public readonly crawlerName: string;

  constructor(scope: Construct, id: string, props: LakeCrawlerProps) {
    super(scope, id);
    if (props.schedule !== undefined && !/^cron\(\S+( \S+){5}\)$/.test(props.schedule)) {
      throw propError('LakeCrawler', 'schedule', `"${props.schedule}" is not a Glue cron expression`,
        'use six fields inside cron(...), e.g. "cron(0 3 * * ? *)"');
    }
    if (props.tablePrefix) validateGlueName('LakeCrawler', 'tablePrefix', props.tablePrefix);

    const stack = Stack.of(this);
    this.crawlerName = Names.uniqueResourceName(this, { maxLength: 100, separator: '-' });
    const securityConfigurationName = `${this.crawlerName}-sec`;
    const logGroupArn = stack.formatArn({
      service: 'logs', resource: 'log-group', resourceName: '/aws-glue/crawlers-role/*', arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
      description: `Glue crawler of the ${props.zone.zoneName} zone`,
    });
    const prefixes = props.prefixes ?? [''];
    for (const prefix of prefixes) props.zone.grantReadWrite(this.role, prefix || undefined);
    this.role.addToPolicy(new iam.PolicyStatement({
      actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:AssociateKmsKey'],
      resources: [logGroupArn, `${logGroupArn}:*`],
    }));

    // CloudWatch Logs encrypts the crawler's log group with the zone key; only possible when
    // the key's policy is ours to extend (a key the lake created).
    const key = props.zone.encryptionKey;
    // On an imported key the statement cannot be added: its owner is told exactly what to add.
    addOrReportStatement(this, key, 'lake key (KMS key policy)', new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal(`logs.${stack.region}.${stack.urlSuffix}`)],
      actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:DescribeKey'],
      resources: ['*'],
      conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': logGroupArn } },
    }), 'CloudWatch Logs cannot encrypt the log group of the crawler with it, and the crawler fails to write its logs');

    this.securityConfiguration = new glue.CfnSecurityConfiguration(this, 'SecurityConfiguration', {
      name: securityConfigurationName,
      encryptionConfiguration: {
        s3Encryptions: [{ s3EncryptionMode: 'SSE-KMS', kmsKeyArn: key.keyArn }],
        cloudWatchEncryption: { cloudWatchEncryptionMode: 'SSE-KMS', kmsKeyArn: key.keyArn },
        jobBookmarksEncryption: { jobBookmarksEncryptionMode: 'CSE-KMS', kmsKeyArn: key.keyArn },
      },
    });

    this.cfnCrawler = new glue.CfnCrawler(this, 'Crawler', {
      name: this.crawlerName,
      role: this.role.roleArn,
      databaseName: props.zone.databaseName,
      tablePrefix: props.tablePrefix,
      crawlerSecurityConfiguration: securityConfigurationName,
      schedule: props.schedule ? { scheduleExpression: props.schedule } : undefined,
      targets: { s3Targets: prefixes.map((prefix) => ({ path: props.zone.s3Url(prefix) })) },
      // New columns are added; nothing the crawler does deletes a table.
      schemaChangePolicy: { updateBehavior: 'UPDATE_IN_DATABASE', deleteBehavior: 'LOG' },
    });
    suppressNag(this.role.node.findChild('DefaultPolicy'), [{
      id: 'AwsSolutions-IAM5',
      reason: 'A crawler discovers objects and creates tables it cannot know in advance: it reads the crawled prefixes '
        + 'of one zone bucket and writes tables of that zone database only; its log group is the one Glue names '
        + '(/aws-glue/crawlers-role/<role>-<security configuration>).',
      appliesTo: [
        '/^Resource::<.*\\.Arn>/.*\\*$/',
        `/^Resource::arn:<AWS::Partition>:glue:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):table/${props.zone.databaseName}/\\*$/`,
        '/^Resource::arn:<AWS::Partition>:logs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):log-group:/aws-glue/crawlers-role/\\*(:\\*)?$/',
      ],
    }]);
    this.cfnCrawler.addDependency(this.securityConfiguration);
    // The role's policy must be in place before Glue validates the crawler.
    this.cfnCrawler.node.addDependency(this.role.node.findChild('DefaultPolicy'));
    this.cfnCrawler.node.addDependency(props.zone);
  }
}
