/**
 * Integ test: the platform layout. What platform teams build, as a new user would with the
 * public API only:
 *  - the network, the lake, each ingestion, serving and observability in stacks of their own;
 *  - two stages of the app (Dev and Staging) in one account and region;
 *  - two datasets of one kind (two streaming ingestions) on one lake;
 *  - the organisation's own KMS key and raw bucket, imported into the lake;
 *  - a daily API pull (default freshness: 2 days) and a weekly CDC table (freshness: 7 days).
 *
 * `test/platform-layout.test.ts` synthesizes it and checks: no cycle, no physical-name clash, an
 * action on every alarm, observability importing nothing from the pipeline stacks (and a pipeline
 * replaced or removed with one deploy of its stack and one of observability: the `clicks` variants),
 * the annotations naming what the owners of the imported key and bucket must add, and cdk-nag
 * (AwsSolutions) with nothing unexplained.
 *
 * Deploy in a sandbox: `npx integ-runner --directory integ --language typescript integ.platform-layout.ts`
 * (first create the imported key and bucket, with the statements the synth warnings print).
 * Offline (no credentials) the runner only compares the committed snapshot.
 */
import { IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, Environment, Stack, StackProps, Stage, StageProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
// Modules rather than the index, so this test compiles whatever else is being written in src/.
import { IDataPipeline } from '../src/core/pipeline';
import { ApiAuth } from '../src/ingestion/api-pull/api-auth';
import { ApiPullIngestion } from '../src/ingestion/api-pull/api-pull-ingestion';
import { CdcIngestion } from '../src/ingestion/cdc/cdc-ingestion';
import { StreamingDedupIngestion } from '../src/ingestion/streaming/streaming-dedup-ingestion';
import { LakehouseTier } from '../src/lakehouse/lakehouse-tier';
import { PipelineObservability } from '../src/observability/pipeline-observability';
import { AthenaServing } from '../src/serving/athena-serving';

/** The one account and region both stages share. */
export const PLATFORM_ENV: Environment = { account: '111111111111', region: 'eu-west-1' };

/** A stage of the platform, and how its Clicks pipeline looks (the tests redeploy it changed). */
export interface PlatformStageProps extends StageProps {
  /**
   * `replaced`: the Clicks stack holds another pipeline (new construct id, dataset and name: every
   * resource is new); `removed`: the Clicks stack is empty and observability no longer watches it.
   * @default 'original'
   */
  readonly clicks?: 'original' | 'replaced' | 'removed';
}

/** One stage of the platform: eight stacks. */
export class PlatformStage extends Stage {
  public readonly network: Stack;
  public readonly lakeStack: Stack;
  public readonly lake: LakehouseTier;
  public readonly pipelines: IDataPipeline[];
  public readonly serving: AthenaServing;
  public readonly observabilityStack: Stack;
  public readonly observability: PipelineObservability;

  constructor(scope: Construct, id: string, props: PlatformStageProps) {
    super(scope, id, props);
    const stage = id.toLowerCase();
    const stackProps: StackProps = { env: props.env };

    // Network: the VPC of the application's database, owned by another team.
    this.network = new Stack(this, 'Network', stackProps);
    const vpc = new ec2.Vpc(this.network, 'Vpc', { maxAzs: 2, natGateways: 1, flowLogs: { all: {} } });
    const dbSecurityGroup = new ec2.SecurityGroup(this.network, 'ShopDbSecurityGroup', { vpc, allowAllOutbound: false, description: 'Shop database' });

    // The lake, on the organisation's own key and raw bucket.
    this.lakeStack = new Stack(this, 'Lake', stackProps);
    const orgKey = kms.Key.fromKeyArn(this.lakeStack, 'OrgLakeKey',
      `arn:aws:kms:${props.env!.region}:${props.env!.account}:key/${stage === 'dev' ? '11111111-2222-3333-4444-555555555555' : '66666666-7777-8888-9999-000000000000'}`);
    const orgRawBucket = s3.Bucket.fromBucketName(this.lakeStack, 'OrgRawBucket', `org-${stage}-lake-raw`);
    this.lake = new LakehouseTier(this.lakeStack, 'Lake', {
      lakeName: `platform_${stage}`,
      encryptionKey: orgKey,
      raw: { existingBucket: orgRawBucket },
    });

    // Two datasets of one kind on one lake, each in its own stack.
    const clicksStack = new Stack(this, 'Clicks', stackProps);
    const clicksVariant = props.clicks ?? 'original';
    const clicks = clicksVariant === 'removed' ? undefined : clicksVariant === 'replaced'
      ? new StreamingDedupIngestion(clicksStack, 'ClickStream', { lake: this.lake, datasetName: 'click_stream', pipelineName: 'click-stream' })
      : new StreamingDedupIngestion(clicksStack, 'Clicks', { lake: this.lake, datasetName: 'clicks', pipelineName: 'clicks' });
    const ordersStack = new Stack(this, 'OrderEvents', stackProps);
    const orderEvents = new StreamingDedupIngestion(ordersStack, 'OrderEvents', { lake: this.lake, datasetName: 'order_events', pipelineName: 'order-events' });

    // A daily API pull: its default freshness is twice the rate, 2 days.
    const apiStack = new Stack(this, 'AdsApi', stackProps);
    const token = secretsmanager.Secret.fromSecretNameV2(apiStack, 'AdsApiToken', `${stage}/ads-api`);
    const ads = new ApiPullIngestion(apiStack, 'AdsApi', {
      lake: this.lake,
      pipelineName: 'ads-api',
      endpoints: [{
        name: 'daily_spend',
        url: 'https://api.ads.example.com/v2/reports/spend',
        schedule: scheduler.ScheduleExpression.rate(Duration.days(1)),
        auth: ApiAuth.bearerToken(token),
        recordsPath: '$.rows',
        recordIdField: 'row_id',
      }],
    });

    // CDC from the shop database; one table changes weekly.
    const cdcStack = new Stack(this, 'ShopDb', stackProps);
    const dbSecret = secretsmanager.Secret.fromSecretNameV2(cdcStack, 'ShopDbSecret', `${stage}/shop-db`);
    const shop = new CdcIngestion(cdcStack, 'ShopDb', {
      lake: this.lake,
      pipelineName: 'shop',
      vpc,
      source: { secret: dbSecret, databaseName: 'shop', securityGroup: dbSecurityGroup },
      tables: [
        { name: 'public.orders', primaryKey: ['order_id'], expectedInterval: Duration.hours(1) },
        { name: 'public.price_lists', primaryKey: ['id'], expectedInterval: Duration.days(7) },
      ],
    });

    // Serving.
    const servingStack = new Stack(this, 'Serving', stackProps);
    this.serving = new AthenaServing(servingStack, 'Sql', { lake: this.lake, workGroupName: `analytics-${stage}` });

    this.pipelines = [...(clicks ? [clicks] : []), orderEvents, ads, shop, this.serving];

    // Observability, watching every pipeline from its own stack, with CloudTrail data events.
    this.observabilityStack = new Stack(this, 'Observability', stackProps);
    this.observability = new PipelineObservability(this.observabilityStack, 'Observability', {
      lake: this.lake,
      pipelines: this.pipelines,
      athenaWorkGroupName: this.serving.workGroupName,
      cloudTrailDataEvents: true,
      emailSubscriptions: [`data-oncall+${stage}@example.com`],
    });
  }
}

/** The app: two stages of the platform in one account and region. */
export function platformLayoutApp(app: App = new App(), clicks?: PlatformStageProps['clicks']): { app: App; stages: PlatformStage[] } {
  const stages = ['Dev', 'Staging'].map((name) => new PlatformStage(app, name, { env: PLATFORM_ENV, clicks }));
  return { app, stages };
}

if (require.main === module) {
  const { app, stages } = platformLayoutApp();
  new IntegTest(app, 'PlatformLayoutInteg', {
    testCases: stages.flatMap((s) => s.node.children.filter((c): c is Stack => c instanceof Stack)),
    regions: [PLATFORM_ENV.region!],
  });
  app.synth();
}
