/**
 * The reference lake: every construct of cdk-lakehouse wired together as a user would.
 * Synthesizes into cdk.out/ with no AWS account: `npx projen synth:example`.
 */
import { App, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DataFormat, LakehouseTier, LakeZoneName, PartitionProjection } from '../src';

export class ReferenceLakeStack extends Stack {
  public readonly lake: LakehouseTier;

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

    // A data scientist's role: reads the curated events table and nothing else.
    const analyst = new iam.Role(this, 'AnalystRole', {
      assumedBy: new iam.AccountRootPrincipal(),
      description: 'Reads the curated events table',
    });
    events.grantRead(analyst);
  }
}

const app = new App({ outdir: process.env.CDK_OUTDIR ?? 'cdk.out' });
new ReferenceLakeStack(app, 'ReferenceLake');
app.synth();
