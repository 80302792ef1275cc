/**
 * The reference lake: every construct of cdk-lakehouse wired together as a user would.
 * Synthesizes into cdk.out/ with no AWS account: `npx projen synth:example`.
 */
import { App, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  ApiAuth, ApiPagination, ApiPullIngestion, AthenaServing, CdcIngestion, CdcTableMode, DataFormat, LakehouseTier, LakeZoneName,
  KafkaSource, PipelineObservability, QualityRule, RuleSeverity, StreamingDedupIngestion, WatermarkFormat,
} from '../src';

export class ReferenceLakeStack extends Stack {
  public readonly lake: LakehouseTier;
  public readonly events: StreamingDedupIngestion;
  public readonly orderEvents: StreamingDedupIngestion;
  public readonly adsApi: ApiPullIngestion;
  public readonly shopDb: CdcIngestion;
  public readonly analytics: AthenaServing;
  public readonly observability: PipelineObservability;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    // Storage and catalog: raw, clean and curated zones under one key.
    this.lake = new LakehouseTier(this, 'Lake', { lakeName: 'reference' });

    // Streaming events (seed 002): Kinesis → dedup Lambda (DynamoDB conditional writes) →
    // Firehose → raw JSON under events/event_type=…/event_subtype=…/year=…/month=…/day=… (a raw
    // table with partition projection) → hourly Glue MERGE into the curated Iceberg `events`.
    // Each merge audits the new snapshot on a branch and publishes only when the blocking rules pass.
    // Analysts query reference_curated.events_live, the speed view: merged rows plus the raw events of
    // the last two days the merge has not written yet, each event once. Raw events live 7 days.
    this.events = new StreamingDedupIngestion(this, 'Events', {
      lake: this.lake,
      datasetName: 'events',
      rawRetention: Duration.days(7),
      qualityRules: [QualityRule.isUnique(['event_id']), QualityRule.isComplete('event_type'), QualityRule.freshness('event_time', Duration.hours(6), { severity: RuleSeverity.WARN })],
    });
    const events = this.events.curatedTable;

    // Kafka events (issue 18): an MSK Serverless topic read with IAM auth by Lambda's Kafka event
    // source mapping, into the same dedup → raw → curated path; the order id is the record key.
    const ordersCluster = this.formatArn({ service: 'kafka', resource: 'cluster', resourceName: 'reference-events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-s1' });
    this.orderEvents = new StreamingDedupIngestion(this, 'OrderEvents', {
      lake: this.lake,
      datasetName: 'order_events',
      kafka: KafkaSource.msk({ clusterArn: ordersCluster, topic: 'orders', eventIdFromKey: true }),
    });

    // A third-party HTTP API (seeds 001 and 004): hourly incremental pulls, raw pages kept per
    // run, curated Iceberg tables merged by id, and an upload drop for manual CSV/JSON files.
    const apiToken = secretsmanager.Secret.fromSecretNameV2(this, 'AdsApiToken', 'reference/ads-api'); // {"token": "..."}
    this.adsApi = new ApiPullIngestion(this, 'AdsApi', {
      lake: this.lake,
      pipelineName: 'ads-api',
      endpoints: [
        {
          name: 'campaigns',
          url: 'https://api.ads.example.com/v2/campaigns',
          schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
          auth: ApiAuth.bearerToken(apiToken),
          pagination: ApiPagination.cursor({ cursorPath: '$.paging.next', parameter: 'after' }),
          recordsPath: '$.data',
          recordIdField: 'id',
          incremental: { sinceParameter: 'updated_since' },
          qualityRules: [QualityRule.isComplete('id'), QualityRule.isUnique(['id'])],
        },
        {
          name: 'daily_spend',
          url: 'https://api.ads.example.com/v2/reports/spend',
          schedule: scheduler.ScheduleExpression.cron({ minute: '30', hour: '3' }),
          queryParameters: { dimensions: 'campaign,day', metrics: 'spend,clicks' },
          auth: ApiAuth.apiKeyHeader(apiToken, 'X-Api-Key', 'token'),
          pagination: ApiPagination.pageNumber({ pageSize: 500, pageSizeParameter: 'per_page' }),
          recordsPath: '$.rows',
          recordIdField: 'row_id',
          incremental: { sinceParameter: 'from', untilParameter: 'to', format: WatermarkFormat.ISO_8601 },
        },
      ],
      uploadDrop: {},
    });

    // The shop's PostgreSQL (seeds 000 and 003): DMS Serverless full load + CDC into raw Parquet
    // under shop/<schema>/<table>/, merged hourly into curated Iceberg tables shop_<schema>_<table>
    // (last change per key wins, deletes delete). The slow legacy invoicing table is pulled
    // nightly by its updated_at column instead, through the same merge. The database, its VPC and
    // its secret belong to the application team; the lake imports them.
    const shopVpc = new ec2.Vpc(this, 'ShopVpc', { maxAzs: 2, natGateways: 1 });
    const shopDbSecret = secretsmanager.Secret.fromSecretNameV2(this, 'ShopDbSecret', 'reference/shop-db'); // username, password, host, port
    const shopDbSecurityGroup = new ec2.SecurityGroup(this, 'ShopDbSecurityGroup', { vpc: shopVpc, allowAllOutbound: false, description: 'Shop database' });
    this.shopDb = new CdcIngestion(this, 'ShopDb', {
      lake: this.lake,
      pipelineName: 'shop',
      vpc: shopVpc,
      source: { secret: shopDbSecret, databaseName: 'shop', securityGroup: shopDbSecurityGroup },
      tables: [
        {
          name: 'public.orders',
          primaryKey: ['order_id'],
          expectedInterval: Duration.hours(1),
          qualityRules: [QualityRule.isUnique(['order_id']), QualityRule.rowCountChange({ maxDecreasePercent: 5 }, { severity: RuleSeverity.WARN })],
        },
        { name: 'public.order_lines', primaryKey: ['order_id', 'line_no'] },
        { name: 'catalog.*', primaryKey: ['id'] },
        {
          name: 'billing.invoices',
          primaryKey: ['invoice_no'],
          mode: CdcTableMode.PULL,
          watermarkColumn: 'updated_at',
          pullSchedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '2' }),
        },
      ],
    });

    // Manual uploads (seed 004) as CSV.
    this.lake.addRawTable('RawUploads', {
      tableName: 'uploads',
      format: DataFormat.CSV,
      columns: [
        { name: 'campaign', type: 'string' },
        { name: 'spend', type: 'string' },
      ],
    });

    // Schema discovery for the clean zone, for data whose shape is not known up front.
    this.lake.addCrawler('CleanCrawler', LakeZoneName.CLEAN);

    // SQL for the data scientists (seed 001): one workgroup per team, results encrypted with the
    // lake key and expiring after 30 days, at most 100 GiB scanned per query.
    this.analytics = new AthenaServing(this, 'AnalyticsSql', {
      lake: this.lake,
      workGroupName: 'analytics',
      namedQueries: [{
        queryName: 'Events per type, last 7 days',
        sql: "SELECT event_type, count(*) AS events FROM events WHERE event_time > current_timestamp - interval '7' day GROUP BY 1",
      }],
    });

    // A data scientist's role: queries the curated events table through the workgroup, nothing else.
    const analyst = new iam.Role(this, 'AnalystRole', {
      assumedBy: new iam.AccountRootPrincipal(),
      description: 'Queries the curated events table',
    });
    this.analytics.grantQuery(analyst, { tables: [events] });
    this.events.speedView!.grantRead(analyst);

    // The daily report of seed 004: CSV at reports/daily-events/<scheduled time>.csv, with an SNS
    // notification on success and on failure.
    this.analytics.addScheduledQuery('DailyEventsReport', {
      queryName: 'daily-events',
      sql: "SELECT event_type, event_subtype, count(*) AS events FROM events WHERE event_time >= date_add('day', -1, current_date) GROUP BY 1, 2",
      schedule: scheduler.ScheduleExpression.cron({ minute: '0', hour: '6' }),
      reads: { tables: [events] },
    });

    // One place to see the lake is healthy, watching every pipeline: a dashboard, alarms and alerts to one encrypted
    // topic, and every pipeline's logs and failure events landed in the raw zone (_ops/) with
    // tables, so Athena can query the lake's own operations.
    this.observability = new PipelineObservability(this, 'Observability', {
      lake: this.lake,
      pipelines: [this.events, this.orderEvents, this.adsApi, this.shopDb, this.analytics],
      athenaWorkGroupName: this.analytics.workGroupName,
      emailSubscriptions: ['data-oncall@example.com'],
    });
  }
}

const app = new App({ outdir: process.env.CDK_OUTDIR ?? 'cdk.out' });
new ReferenceLakeStack(app, 'ReferenceLake');
app.synth();
