"""The reference lake from Python: the twin of examples/reference-lake.ts.

Every construct of cdk-lakehouse wired together as a Python user would, through the
jsii-generated package `cdk_lakehouse`. Run it with `python reference_lake.py` (synthesizes into
cdk.out/) or through its tests: `python -m pytest examples/python`.
"""
import os

from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

import cdk_lakehouse as lh


class ReferenceLakeStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)

        # Storage and catalog: raw, clean and curated zones under one key.
        self.lake = lh.LakehouseTier(self, "Lake", lake_name="reference")

        # Raw events as they arrive (JSON lines), partitioned the way seed 002 lands them.
        self.lake.add_raw_table(
            "RawEvents",
            table_name="events",
            columns=[
                lh.Column(name="event_id", type="string"),
                lh.Column(name="event_time", type="timestamp"),
                lh.Column(name="user_id", type="string"),
                lh.Column(name="payload", type="string"),
            ],
            partition_keys=[
                lh.PartitionKey(name="event_type"),
                lh.PartitionKey(name="event_subtype"),
                lh.PartitionKey(name="year", projection=lh.PartitionProjection.integer_range(2020, 2100)),
                lh.PartitionKey(name="month", projection=lh.PartitionProjection.integer_range(1, 12, 2)),
                lh.PartitionKey(name="day", projection=lh.PartitionProjection.integer_range(1, 31, 2)),
            ],
        )

        # Manual uploads (seed 004) as CSV.
        self.lake.add_raw_table(
            "RawUploads",
            table_name="uploads",
            format=lh.DataFormat.CSV,
            columns=[lh.Column(name="campaign", type="string"), lh.Column(name="spend", type="string")],
        )

        # The curated, upsertable copy people query.
        events = self.lake.add_iceberg_table(
            "CuratedEvents",
            table_name="events",
            columns=[
                lh.Column(name="event_id", type="string"),
                lh.Column(name="event_type", type="string"),
                lh.Column(name="event_subtype", type="string"),
                lh.Column(name="event_time", type="timestamp"),
                lh.Column(name="user_id", type="string"),
                lh.Column(name="payload", type="string"),
            ],
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

        # The daily report: CSV under reports/daily-events/, SNS on success and failure.
        self.analytics.add_scheduled_query(
            "DailyEventsReport",
            query_name="daily-events",
            sql="SELECT event_type, event_subtype, count(*) AS events FROM events "
                "WHERE event_time >= date_add('day', -1, current_date) GROUP BY 1, 2",
            schedule="cron(0 6 * * ? *)",
            reads=lh.QueryAccess(tables=[events]),
        )

        # One place to see the lake is healthy: dashboard, alarms, alerts to one encrypted topic,
        # and every pipeline's logs and failure events landed in the raw zone with tables.
        self.observability = lh.PipelineObservability(
            self, "Observability",
            lake=self.lake,
            pipelines=[self.analytics],
            athena_work_group_name=self.analytics.work_group_name,
            email_subscriptions=["data-oncall@example.com"],
        )


def build_app(outdir: str = "cdk.out") -> App:
    app = App(outdir=outdir)
    ReferenceLakeStack(app, "ReferenceLake")
    return app


if __name__ == "__main__":
    build_app(os.environ.get("CDK_OUTDIR", "cdk.out")).synth()
