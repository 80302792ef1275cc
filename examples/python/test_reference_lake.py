"""Synthesizes the reference lake from Python and checks what a Python user relies on."""
import json
import os
import subprocess
import sys

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template

from reference_lake import ReferenceLakeStack, build_app


@pytest.fixture(scope="module")
def template() -> Template:
    app = App()
    return Template.from_stack(ReferenceLakeStack(app, "ReferenceLake"))


def test_zones_are_encrypted_versioned_buckets_with_one_rotated_key(template):
    # The lake key, plus the keys constructs keep apart from it (alert topics): all rotated.
    keys = template.find_resources("AWS::KMS::Key")
    assert any(name.startswith("LakeKey") for name in keys)
    assert all(k["Properties"]["EnableKeyRotation"] for k in keys.values())
    # raw, clean, curated, access logs, Athena results
    template.resource_count_is("AWS::S3::Bucket", 5)
    template.has_resource_properties("AWS::S3::Bucket", {
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [Match.object_like({
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"}),
        })]},
        "VersioningConfiguration": {"Status": "Enabled"},
    })


def test_one_glue_database_per_zone(template):
    for zone in ("raw", "clean", "curated"):
        template.has_resource_properties("AWS::Glue::Database", {
            "DatabaseInput": Match.object_like({"Name": f"reference_{zone}"}),
        })


def test_raw_table_projects_partitions_given_from_python(template):
    template.has_resource_properties("AWS::Glue::Table", {
        "DatabaseName": "reference_raw",
        "TableInput": Match.object_like({
            "Name": "events",
            "Parameters": Match.object_like({
                "projection.enabled": "true",
                "projection.month.range": "1,12",
                "projection.month.digits": "2",
            }),
        }),
    })


def test_iceberg_table_with_its_three_optimizers(template):
    # Created once through Glue CreateTable (a custom resource that never sends an update, so a
    # stack update cannot wipe the table's Iceberg metadata location: docs/iceberg-tables.md).
    # Two streaming datasets (Kinesis events, Kafka order events): one curated table each.
    tables = template.find_resources("Custom::LakeIcebergTable")
    assert len(tables) == 2
    for table in tables.values():
        props = json.dumps(table["Properties"]).replace("\\", "")
        assert '"action":"createTable"' in props
        assert '"DatabaseName":"reference_curated"' in props
        assert '"OpenTableFormatInput":{"IcebergInput":{"MetadataOperation":"CREATE","Version":"2"}}' in props
        assert "updateTable" not in props
    template.resource_count_is("AWS::Glue::TableOptimizer", 6)


def test_grant_is_scoped_to_the_table(template):
    policies = template.find_resources("AWS::IAM::Policy")
    analyst = next(p for name, p in policies.items() if name.startswith("AnalystRole"))
    text = json.dumps(analyst["Properties"]["PolicyDocument"])
    assert ":table/reference_curated/events" in text
    assert '"s3:*"' not in text


def test_app_synthesizes_to_a_cloud_assembly(tmp_path):
    assembly = build_app(str(tmp_path)).synth()
    assert [s.stack_name for s in assembly.stacks] == ["ReferenceLake"]
    assert os.path.exists(os.path.join(str(tmp_path), "ReferenceLake.template.json"))


def test_athena_workgroup_is_enforced_encrypted_and_limited(template):
    template.has_resource_properties("AWS::Athena::WorkGroup", {
        "Name": "analytics",
        "WorkGroupConfiguration": Match.object_like({
            "EnforceWorkGroupConfiguration": True,
            "BytesScannedCutoffPerQuery": Match.any_value(),
            "ResultConfiguration": Match.object_like({
                "EncryptionConfiguration": Match.object_like({"EncryptionOption": "SSE_KMS"}),
            }),
        }),
    })


def test_scheduled_report_runs_through_step_functions(template):
    template.has_resource_properties("AWS::Scheduler::Schedule", {"ScheduleExpression": "cron(0 6 * * ? *)"})
    machines = template.find_resources("AWS::StepFunctions::StateMachine")
    assert any("DailyEventsReport" in name for name in machines)


def test_readme_quickstart_runs(tmp_path):
    """The README's Python quick start is quickstart.py; run as a user would, it synthesizes."""
    script = os.path.join(os.path.dirname(__file__), "quickstart.py")
    subprocess.run([sys.executable, script], check=True, env={**os.environ, "CDK_OUTDIR": str(tmp_path)})
    template = json.loads((tmp_path / "Lake.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Glue::Table", "AWS::Glue::TableOptimizer", "AWS::Athena::WorkGroup"} <= types


def test_observability_watches_the_pipelines(template):
    template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    template.resource_count_is("AWS::CloudWatch::CompositeAlarm", 1)
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "email", "Endpoint": "data-oncall@example.com",
    })
    template.has_resource_properties("AWS::Logs::SubscriptionFilter", {"FilterPattern": Match.any_value()})


def test_streaming_pipeline_dedups_with_dynamodb_and_lands_through_firehose(template):
    # Two streaming pipelines; the Kafka one keeps its stream for replays.
    template.resource_count_is("AWS::Kinesis::Stream", 2)
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BisectBatchOnFunctionError": True,
    })
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "TimeToLiveSpecification": Match.object_like({"Enabled": True}),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    })


def test_kafka_pipeline_reads_msk_with_iam_and_the_key_as_event_id(template):
    template.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "Topics": ["orders"],
        "StartingPosition": "TRIM_HORIZON",
        "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "order-events"},
    })
    template.has_resource_properties("AWS::Lambda::Function", {
        "Environment": {"Variables": Match.object_like({"KAFKA_ID_FROM": "key"})},
    })
    text = json.dumps(template.to_json())
    assert "kafka-cluster:ReadData" in text and ":topic/reference-events/" in text


def test_api_pull_runs_a_step_functions_workflow_per_schedule(template):
    schedules = template.find_resources("AWS::Scheduler::Schedule")
    expressions = sorted(s["Properties"]["ScheduleExpression"] for s in schedules.values())
    assert "rate(1 hour)" in expressions
    assert "cron(30 3 * * ? *)" in expressions
    # the API pull workflow and the Athena report workflow
    template.resource_count_is("AWS::StepFunctions::StateMachine", 2)


def test_cdc_replicates_postgres_with_dms_serverless_and_merges_with_one_glue_job(template):
    configs = template.find_resources("AWS::DMS::ReplicationConfig")
    assert len(configs) == 1
    (config,) = configs.values()
    assert config["Properties"]["ReplicationType"] == "full-load-and-cdc"
    selections = [r["object-locator"] for r in config["Properties"]["TableMappings"]["rules"] if r["rule-type"] == "selection"]
    assert selections == [
        {"schema-name": "public", "table-name": "orders"},
        {"schema-name": "public", "table-name": "order_lines"},
        {"schema-name": "catalog", "table-name": "%"},
    ]
    template.has_resource_properties("AWS::DMS::Endpoint", {"EngineName": "postgres", "SslMode": "require"})
    template.has_resource_properties("AWS::DMS::Endpoint", {
        "EngineName": "s3",
        "S3Settings": Match.object_like({"BucketFolder": "shop", "DataFormat": "parquet", "IncludeOpForFullLoad": True}),
    })
    template.has_resource_properties("AWS::Glue::Job", {
        "GlueVersion": "5.0",
        "DefaultArguments": Match.object_like({"--source_name": "shop", "--table_prefix": "shop_"}),
    })
    schedules = template.find_resources("AWS::Scheduler::Schedule")
    assert "cron(0 2 * * ? *)" in {s["Properties"]["ScheduleExpression"] for s in schedules.values()}


def test_each_ingestion_audits_a_curated_table_with_quality_rules(template):
    """Rules declared from Python reach each merge job as the --quality_rules document, keyed by
    the curated table, with the Deequ jar; each audit alarm is routed to the alert topic."""
    audited = {}
    for job in template.find_resources("AWS::Glue::Job").values():
        args = job["Properties"]["DefaultArguments"]
        if "--quality_rules" in args:
            audited.update(json.loads(args["--quality_rules"])["tables"])
            assert "--extra-jars" in args
    assert audited["events"][0] == {"rule": "IsUnique", "columns": ["event_id"], "severity": "block"}
    assert audited["events"][2] == {"rule": "Freshness", "column": "event_time", "maxAgeSeconds": 21600, "severity": "warn"}
    assert audited["campaigns"] == [
        {"rule": "IsComplete", "column": "id", "severity": "block"},
        {"rule": "IsUnique", "columns": ["id"], "severity": "block"},
    ]
    assert audited["shop_public_orders"][1] == {"rule": "RowCountChange", "maxDecreasePercent": 5, "severity": "warn"}
    alarms = [a for name, a in template.find_resources("AWS::CloudWatch::Alarm").items() if "AuditFailureAlarm" in name]
    assert len(alarms) == 3
    assert all(a["Properties"].get("AlarmActions") for a in alarms)


def test_every_lambda_bundle_exists_when_synthesized_from_python(tmp_path):
    """A construct whose asset is missing from the wheel fails here, not in a user's deploy."""
    assembly = build_app(str(tmp_path)).synth()
    manifest = json.loads((tmp_path / "ReferenceLake.assets.json").read_text())
    for asset in manifest["files"].values():
        source = tmp_path / asset["source"]["path"]
        assert source.exists(), asset["source"]["path"]
    assert assembly.stacks
