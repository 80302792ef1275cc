from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam

import cdk_lakehouse as lh

app = App()
stack = Stack(app, "Lake")
lake = lh.LakehouseTier(stack, "Lake", lake_name="analytics")

# Raw JSON lines as they arrive; Athena projects the partitions, no crawler needed.
lake.add_raw_table(
    "RawEvents",
    table_name="events",
    columns=[lh.Column(name="event_id", type="string"), lh.Column(name="payload", type="string")],
    partition_keys=[
        lh.PartitionKey(name="event_type"),
        lh.PartitionKey(
            name="day",
            projection=lh.PartitionProjection.date_range(format="yyyy-MM-dd", range_start="2024-01-01"),
        ),
    ],
)

# The curated, upsertable table people query.
events = lake.add_iceberg_table(
    "Events",
    table_name="events",
    columns=[lh.Column(name="event_id", type="string"), lh.Column(name="payload", type="string")],
)

# SQL for the team: an enforced workgroup, and one call to let an analyst query this table.
sql = lh.AthenaServing(stack, "Sql", lake=lake, work_group_name="analysts")
analyst = iam.Role(stack, "Analyst", assumed_by=iam.AccountRootPrincipal())
sql.grant_query(analyst, tables=[events])

app.synth()
