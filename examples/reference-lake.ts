/**
 * The reference lake: every construct of cdk-lakehouse wired together as a user would.
 * Synthesizes into cdk.out/ with no AWS account: `npx projen synth:example`.
 */
import { App, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { AthenaServing, DataFormat, LakehouseTier, LakeZoneName, PartitionProjection, PipelineObservability } from '../src';

export class ReferenceLakeStack extends Stack {
  public readonly lake: LakehouseTier;
  public readonly analytics: AthenaServing;
  public readonly observability: PipelineObservability;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    // Storage and catalog: raw, clean and curated zones under one key.
    this.lake = new LakehouseTier(this, 'Lake', { lakeName: 'reference' });

    // Raw events as they arrive (JSON lines), partitioned the way seed 002 lands them; Athena
    // projects the partitions, so no crawler is needed.
    this.lake.addRawTable('RawEvents', {
      tableName: 'events',
      columns: [
        { name: 'event_id', type: 'string' },
        { name: 'event_time', type: 'timestamp' },
        { name: 'user_id', type: 'string' },
        { name: 'payload', type: 'string' },
      ],
      partitionKeys: [
        { name: 'event_type' },
        { name: 'event_subtype' },
        { name: 'year', projection: PartitionProjection.integerRange(2020, 2100) },
        { name: 'month', projection: PartitionProjection.integerRange(1, 12, 2) },
        { name: 'day', projection: PartitionProjection.integerRange(1, 31, 2) },
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

    // The curated, upsertable copy people query.
    const events = this.lake.addIcebergTable('CuratedEvents', {
      tableName: 'events',
      columns: [
        { name: 'event_id', type: 'string' },
        { name: 'event_type', type: 'string' },
        { name: 'event_subtype', type: 'string' },
        { name: 'event_time', type: 'timestamp' },
        { name: 'user_id', type: 'string' },
        { name: 'payload', type: 'string' },
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

    // The daily report of seed 004: CSV at reports/daily-events/<scheduled time>.csv, with an SNS
    // notification on success and on failure.
    this.analytics.addScheduledQuery('DailyEventsReport', {
      queryName: 'daily-events',
      sql: "SELECT event_type, event_subtype, count(*) AS events FROM events WHERE event_time >= date_add('day', -1, current_date) GROUP BY 1, 2",
      schedule: 'cron(0 6 * * ? *)',
      reads: { tables: [events] },
    });

    // One place to see the lake is healthy: a dashboard, alarms and alerts to one encrypted
    // topic, and every pipeline's logs and failure events landed in the raw zone (_ops/) with
    // tables, so Athena can query the lake's own operations.
    this.observability = new PipelineObservability(this, 'Observability', {
      lake: this.lake,
      pipelines: [this.analytics],
      athenaWorkGroupName: this.analytics.workGroupName,
      emailSubscriptions: ['data-oncall@example.com'],
    });
  }
}

const app = new App({ outdir: process.env.CDK_OUTDIR ?? 'cdk.out' });
new ReferenceLakeStack(app, 'ReferenceLake');
app.synth();
