"""The reference lake from Python: the twin of examples/reference-lake.ts.

Every construct of cdk-lakehouse wired together as a Python user would, through the
jsii-generated package `cdk_lakehouse`. Run it with `python reference_lake.py` (synthesizes into
cdk.out/) or through its tests: `python -m pytest examples/python`.
"""
import os

from aws_cdk import App, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

import cdk_lakehouse as lh


class ReferenceLakeStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)

        # Storage and catalog: raw, clean and curated zones under one key.
        self.lake = lh.LakehouseTier(self, "Lake", lake_name="reference")

        # Streaming events (seed 002): Kinesis → dedup Lambda → Firehose → raw JSON partitioned by
        # event type / subtype / date → hourly Glue MERGE into the curated Iceberg `events`.
        # Each merge audits the new snapshot on a branch and publishes only when the blocking rules pass.
        # Analysts query reference_curated.events_live, the speed view: merged rows plus the raw events
        # of the last two days the merge has not written yet, each event once. Raw events live 7 days.
        self.events = lh.StreamingDedupIngestion(
            self, "Events", lake=self.lake, dataset_name="events", raw_retention=Duration.days(7),
            quality_rules=[
                lh.QualityRule.is_unique(["event_id"]),
                lh.QualityRule.is_complete("event_type"),
                lh.QualityRule.freshness("event_time", Duration.hours(6), severity=lh.RuleSeverity.WARN),
            ],
        )
        events = self.events.curated_table

        # Kafka events (issue 18): an MSK Serverless topic (IAM auth) into the same path; the
        # order id is the record key.
        orders_cluster = self.format_arn(
            service="kafka", resource="cluster", resource_name="reference-events/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0-s1"
        )
        self.order_events = lh.StreamingDedupIngestion(
            self,
            "OrderEvents",
            lake=self.lake,
            dataset_name="order_events",
            kafka=lh.KafkaSource.msk(cluster_arn=orders_cluster, topic="orders", event_id_from_key=True),
        )

        # A third-party HTTP API (seeds 001 and 004): incremental pulls, raw pages per run,
        # curated Iceberg tables merged by id, and an upload drop.
        api_token = secretsmanager.Secret.from_secret_name_v2(self, "AdsApiToken", "reference/ads-api")
        self.ads_api = lh.ApiPullIngestion(
            self, "AdsApi",
            lake=self.lake,
            pipeline_name="ads-api",
            endpoints=[
                lh.ApiEndpoint(
                    name="campaigns",
                    url="https://api.ads.example.com/v2/campaigns",
                    schedule=scheduler.ScheduleExpression.rate(Duration.hours(1)),
                    auth=lh.ApiAuth.bearer_token(api_token),
                    pagination=lh.ApiPagination.cursor(cursor_path="$.paging.next", parameter="after"),
                    records_path="$.data",
                    record_id_field="id",
                    incremental=lh.IncrementalPull(since_parameter="updated_since"),
                    quality_rules=[lh.QualityRule.is_complete("id"), lh.QualityRule.is_unique(["id"])],
                ),
                lh.ApiEndpoint(
                    name="daily_spend",
                    url="https://api.ads.example.com/v2/reports/spend",
                    schedule=scheduler.ScheduleExpression.cron(minute="30", hour="3"),
                    query_parameters={"dimensions": "campaign,day", "metrics": "spend,clicks"},
                    auth=lh.ApiAuth.api_key_header(api_token, "X-Api-Key", "token"),
                    pagination=lh.ApiPagination.page_number(page_size=500, page_size_parameter="per_page"),
                    records_path="$.rows",
                    record_id_field="row_id",
                    incremental=lh.IncrementalPull(
                        since_parameter="from", until_parameter="to", format=lh.WatermarkFormat.ISO_8601,
                    ),
                ),
            ],
            upload_drop=lh.UploadDropOptions(),
        )

        # The shop's PostgreSQL (seeds 000 and 003): DMS Serverless full load + CDC into raw Parquet,
        # merged hourly into curated Iceberg tables shop_<schema>_<table> (last change per key
        # wins); the slow legacy invoices table is pulled nightly by updated_at instead.
        shop_vpc = ec2.Vpc(self, "ShopVpc", max_azs=2, nat_gateways=1)
        shop_db_secret = secretsmanager.Secret.from_secret_name_v2(self, "ShopDbSecret", "reference/shop-db")
        shop_db_security_group = ec2.SecurityGroup(
            self, "ShopDbSecurityGroup", vpc=shop_vpc, allow_all_outbound=False, description="Shop database",
        )
        self.shop_db = lh.CdcIngestion(
            self, "ShopDb",
            lake=self.lake,
            pipeline_name="shop",
            vpc=shop_vpc,
            source=lh.PostgresSource(secret=shop_db_secret, database_name="shop", security_group=shop_db_security_group),
            tables=[
                lh.CdcTable(
                    name="public.orders", primary_key=["order_id"], expected_interval=Duration.hours(1),
                    quality_rules=[
                        lh.QualityRule.is_unique(["order_id"]),
                        lh.QualityRule.row_count_change(lh.RowCountChangeLimits(max_decrease_percent=5), severity=lh.RuleSeverity.WARN),
                    ],
                ),
                lh.CdcTable(name="public.order_lines", primary_key=["order_id", "line_no"]),
                lh.CdcTable(name="catalog.*", primary_key=["id"]),
                lh.CdcTable(
                    name="billing.invoices",
                    primary_key=["invoice_no"],
                    mode=lh.CdcTableMode.PULL,
                    watermark_column="updated_at",
                    pull_schedule=scheduler.ScheduleExpression.cron(minute="0", hour="2"),
                ),
            ],
        )

        # Manual uploads (seed 004) as CSV.
        self.lake.add_raw_table(
            "RawUploads",
            table_name="uploads",
            format=lh.DataFormat.CSV,
            columns=[lh.Column(name="campaign", type="string"), lh.Column(name="spend", type="string")],
        )

        # Schema discovery for the clean zone.
        self.lake.add_crawler("CleanCrawler", lh.LakeZoneName.CLEAN)

        # SQL for the data scientists: one workgroup per team, encrypted results, scan limit.
        self.analytics = lh.AthenaServing(
            self, "AnalyticsSql",
            lake=self.lake,
            work_group_name="analytics",
            named_queries=[lh.NamedQueryOptions(
                query_name="Events per type, last 7 days",
                sql="SELECT event_type, count(*) AS events FROM events "
                    "WHERE event_time > current_timestamp - interval '7' day GROUP BY 1",
            )],
        )

        # A data scientist's role: queries the curated events table through the workgroup.
        analyst = iam.Role(
            self, "AnalystRole",
            assumed_by=iam.AccountRootPrincipal(),
            description="Queries the curated events table",
        )
        self.analytics.grant_query(analyst, tables=[events])
        self.events.speed_view.grant_read(analyst)

        # The daily report: CSV under reports/daily-events/, SNS on success and failure.
        self.analytics.add_scheduled_query(
            "DailyEventsReport",
            query_name="daily-events",
            sql="SELECT event_type, event_subtype, count(*) AS events FROM events "
                "WHERE event_time >= date_add('day', -1, current_date) GROUP BY 1, 2",
            schedule=scheduler.ScheduleExpression.cron(minute="0", hour="6"),
            reads=lh.QueryAccess(tables=[events]),
        )

        # One place to see the lake is healthy: dashboard, alarms, alerts to one encrypted topic,
        # and every pipeline's logs and failure events landed in the raw zone with tables.
        self.observability = lh.PipelineObservability(
            self, "Observability",
            lake=self.lake,
            pipelines=[self.events, self.order_events, self.ads_api, self.shop_db, self.analytics],
            athena_work_group_name=self.analytics.work_group_name,
            email_subscriptions=["data-oncall@example.com"],
        )


def build_app(outdir: str = "cdk.out") -> App:
    app = App(outdir=outdir)
    ReferenceLakeStack(app, "ReferenceLake")
    return app


if __name__ == "__main__":
    build_app(os.environ.get("CDK_OUTDIR", "cdk.out")).synth()
