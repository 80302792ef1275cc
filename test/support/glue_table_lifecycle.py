"""Plays CloudFormation's requests for Iceberg tables against moto's Glue (in process).

Input (stdin, JSON): a list of scenarios, each with the custom resource's Create call of the
first template, the Update call of the second, and the Delete calls, exactly as the templates
carry them (AWS SDK parameter names). For each scenario:

  1. CloudFormation creates the table (the Create call, as the AwsCustomResource handler makes it:
     the parameters as given, an error whose name matches `ignoreErrorCodesMatching` ignored).
  2. An engine commits (what Iceberg's GlueCatalog does on every commit: UpdateTable with the
     table's current TableInput, a new `metadata_location`, and here an added column).
  3. CloudFormation updates the stack to the second template (the Update call; when the physical
     id changed, CloudFormation then sends Delete for the old id unless the resource is retained).
  4. The table is read back.

moto's UpdateTable replaces the TableInput wholesale, as Glue's does (that is what wipes
`table_type` / `metadata_location` when CloudFormation updates an AWS::Glue::Table); the
`contrast` step shows it on the old design. Output (stdout, JSON): one result per scenario.
"""
import json
import re
import sys

import boto3
from moto import mock_aws


def call(glue, sdk_call):
    """The AwsCustomResource handler's behaviour: invoke, ignore errors matching the regex."""
    action = sdk_call["action"]
    method = re.sub(r"(?<!^)(?=[A-Z])", "_", action[0].lower() + action[1:]).lower()
    try:
        getattr(glue, method)(**sdk_call["parameters"])
        return "ok"
    except glue.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        pattern = sdk_call.get("ignoreErrorCodesMatching")
        if pattern and re.search(pattern, code):
            return f"ignored {code}"
        raise


def physical_id(sdk_call):
    return sdk_call["physicalResourceId"]["id"]


def table(glue, database, name):
    t = glue.get_table(DatabaseName=database, Name=name)["Table"]
    return {
        "parameters": t.get("Parameters", {}),
        "columns": [c["Name"] for c in t["StorageDescriptor"]["Columns"]],
        "location": t["StorageDescriptor"].get("Location"),
        "description": t.get("Description"),
    }


def engine_commit(glue, database, name, n):
    """Iceberg GlueCatalog commit: current TableInput + new metadata_location (+ an evolved column)."""
    t = glue.get_table(DatabaseName=database, Name=name)["Table"]
    params = dict(t.get("Parameters", {}))
    params["previous_metadata_location"] = params.get("metadata_location", "")
    params["metadata_location"] = f"{t['StorageDescriptor']['Location']}metadata/0000{n}-engine.metadata.json"
    columns = t["StorageDescriptor"]["Columns"] + [{"Name": f"engine_added_{n}", "Type": "string"}]
    glue.update_table(DatabaseName=database, TableInput={
        "Name": name,
        "TableType": t.get("TableType", "EXTERNAL_TABLE"),
        "Parameters": params,
        "StorageDescriptor": {**t["StorageDescriptor"], "Columns": columns},
        **({"Description": t["Description"]} if "Description" in t else {}),
    })
    return params["metadata_location"]


def run(scenario):
    glue = boto3.client("glue", region_name="us-east-1")
    create, update, delete_old = scenario["create"], scenario["update"], scenario["deleteOld"]
    database = create["parameters"]["DatabaseName"]
    glue.create_database(DatabaseInput={"Name": database})
    if update["parameters"]["DatabaseName"] != database:
        glue.create_database(DatabaseInput={"Name": update["parameters"]["DatabaseName"]})
    name = create["parameters"]["TableInput"]["Name"]
    result = {"create": call(glue, create)}
    committed = engine_commit(glue, database, name, 1)
    result["committedMetadata"] = committed
    result["afterCommit"] = table(glue, database, name)

    result["update"] = call(glue, update)
    replaced = physical_id(update) != physical_id(create)
    result["replaced"] = replaced
    if replaced and not scenario["retain"]:
        result["deleteOld"] = call(glue, delete_old)
    new_db = update["parameters"]["DatabaseName"]
    new_name = update["parameters"]["TableInput"]["Name"]
    result["afterUpdate"] = table(glue, new_db, new_name)
    if replaced:
        try:
            result["oldAfterUpdate"] = table(glue, database, name)
        except glue.exceptions.EntityNotFoundException:
            result["oldAfterUpdate"] = None
    # The engine keeps committing after the update.
    result["secondCommit"] = engine_commit(glue, new_db, new_name, 2)
    result["afterSecondCommit"] = table(glue, new_db, new_name)
    return result


def contrast(scenario):
    """The old design: CloudFormation updates an AWS::Glue::Table with the template's TableInput."""
    glue = boto3.client("glue", region_name="us-east-1")
    create = scenario["create"]
    database = create["parameters"]["DatabaseName"]
    glue.create_database(DatabaseInput={"Name": database})
    call(glue, create)
    name = create["parameters"]["TableInput"]["Name"]
    engine_commit(glue, database, name, 1)
    # The user edits only the description; CloudFormation sends the template's whole TableInput.
    glue.update_table(DatabaseName=database, TableInput={**create["parameters"]["TableInput"], "Description": "edited"})
    return table(glue, database, name)


def main():
    request = json.load(sys.stdin)
    out = []
    for scenario in request["scenarios"]:
        with mock_aws():
            out.append(run(scenario))
    with mock_aws():
        wiped = contrast(request["scenarios"][0])
    print(json.dumps({"results": out, "contrast": wiped}))


if __name__ == "__main__":
    main()
