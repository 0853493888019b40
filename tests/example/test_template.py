"""The example's SAM template, checked offline by the tools its users run: cfn-lint on the
source, aws-sam-translator then cfn-lint on the result, checkov, assertions on the
transformed resources, and a deploy to a moto server's CloudFormation."""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("samtranslator")
pytest.importorskip("cfnlint")

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "vanta_sync" / "template.yaml"
PLACEHOLDER = {"bucket": "placeholder-code", "key": "vanta-sync.zip"}


class StubPolicyLoader:
    """The managed policies the transform asks IAM for, without IAM (no credentials)."""

    def load(self) -> dict[str, str]:
        return {
            "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
            "AWSLambdaBasicExecutionRole": (
                "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
            ),
            "CloudWatchLambdaInsightsExecutionRolePolicy": (
                "arn:aws:iam::aws:policy/CloudWatchLambdaInsightsExecutionRolePolicy"
            ),
        }


def source() -> dict[str, Any]:
    document: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return document


def translate(document: dict[str, Any]) -> dict[str, Any]:
    """SAM to CloudFormation, offline: a region set here, CodeUri an S3 placeholder."""
    document = copy.deepcopy(document)
    function = document["Resources"]["VantaSyncFunction"]["Properties"]
    function["CodeUri"] = f"s3://{PLACEHOLDER['bucket']}/{PLACEHOLDER['key']}"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    translated: dict[str, Any] = transform(document, {}, StubPolicyLoader())
    return translated


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate(source())


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_passes_on_the_source() -> None:
    result = cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_transformed_template_passes_cfn_lint(
    translated: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "transformed.json"
    out.write_text(json.dumps(translated))
    result = cfn_lint(out)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("mistake", ["event type", "runtime"])
def test_linting_the_source_alone_misses_what_the_transform_catches(
    tmp_path: Path, mistake: str
) -> None:
    document = source()
    function = document["Resources"]["VantaSyncFunction"]["Properties"]
    if mistake == "event type":
        function["Events"]["Daily"]["Type"] = "Schedul"
    else:
        function["Runtime"] = "python2.1"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    assert cfn_lint(broken).returncode == 0  # cfn-lint >= 1.54 does not run the transform
    if mistake == "event type":  # the transform refuses the document
        with pytest.raises(Exception, match="Schedul"):
            translate(document)
        return
    transformed = translate(document)
    out = tmp_path / "transformed.json"
    out.write_text(json.dumps(transformed))
    result = cfn_lint(out)
    assert result.returncode != 0
    assert "python2.1" in result.stdout


def test_checkov_passes_with_every_skip_justified(
    translated: dict[str, Any], tmp_path: Path
) -> None:
    pytest.importorskip("checkov")
    out = tmp_path / "transformed.json"
    out.write_text(json.dumps(translated))
    result = subprocess.run(
        [
            sys.executable, "-m", "checkov.main", "-f", str(out), "--framework",
            "cloudformation", "--output", "json", "--skip-download",
        ],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [], failed
    assert summary["passed"] > 20
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the skips are named in the template"
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]


def test_the_function_and_its_wiring(translated: dict[str, Any]) -> None:
    function = translated["Resources"]["VantaSyncFunction"]["Properties"]
    assert function["FunctionName"] == "vanta-vuln-sync"
    assert function["Runtime"] == "python3.13"
    assert function["Handler"] == "vanta_sync.handler.handler"
    assert (function["MemorySize"], function["Timeout"]) == (1536, 900)
    assert function["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": ["FunctionDlq", "Arn"]}}
    assert function["Code"] == {"S3Bucket": PLACEHOLDER["bucket"], "S3Key": PLACEHOLDER["key"]}
    variables = function["Environment"]["Variables"]
    assert set(variables) == {
        "VANTA_SECRET_NAME", "S3_BUCKET_NAME", "VANTA_API_BASE", "MAX_POOL_CONNECTIONS",
        "LAMBDA_PERF_METRICS_NAMESPACE", "LOG_LEVEL",
    }  # fmt: skip
    assert variables["MAX_POOL_CONNECTIONS"] == "50"
    assert "Fn::If" in function["Layers"]  # the Insights layer only when given
    (invoke_config,) = resources(translated, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 2
    (rule,) = resources(translated, "AWS::Events::Rule").values()
    target = rule["Properties"]["Targets"][0]
    assert rule["Properties"]["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDlq", "Arn"]}}
    queues = resources(translated, "AWS::SQS::Queue")
    for queue in queues.values():
        assert queue["Properties"]["MessageRetentionPeriod"] == 1209600
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queues["FunctionDlq"]["Properties"]["QueueName"] == "vanta-vuln-sync-dlq"
    topic = translated["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"
    assert translated["Resources"]["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"
    log_group = translated["Resources"]["FunctionLogGroup"]["Properties"]
    assert log_group["LogGroupName"] == "/aws/lambda/vanta-vuln-sync"
    assert log_group["RetentionInDays"] > 0


def test_the_bucket_is_secure_by_default(translated: dict[str, Any]) -> None:
    bucket = translated["Resources"]["DataBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)
    (statement,) = translated["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


ALARMS = {
    "ErrorsAlarm": ("AWS/Lambda", "Errors", "Sum", 1, "notBreaching"),
    "ThrottlesAlarm": ("AWS/Lambda", "Throttles", "Sum", 5, "notBreaching"),
    "DurationAlarm": ("AWS/Lambda", "Duration", "Average", 600000, "notBreaching"),
    "ConcurrencyAlarm": ("AWS/Lambda", "ConcurrentExecutions", "Maximum", 4, "notBreaching"),
    "DlqAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 1, "breaching"),
}


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_the_five_alarms(translated: dict[str, Any], name: str) -> None:
    alarm = translated["Resources"][name]["Properties"]
    namespace, metric, statistic, threshold, missing = ALARMS[name]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        namespace, metric, statistic,
    )  # fmt: skip
    assert alarm["Threshold"] == threshold
    assert alarm["Period"] == 300
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == missing
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_dashboard_has_the_five_widgets(translated: dict[str, Any]) -> None:
    dashboard = translated["Resources"]["Dashboard"]["Properties"]
    assert dashboard["DashboardName"] == "vanta-vuln-performance"
    body = dashboard["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert titles == [
        "Invocations, errors and throttles", "Duration", "Records and objects",
        "Concurrent executions", "Cold starts",
    ]  # fmt: skip
    assert "VulnerabilitiesFetched" in body
    assert "ColdStart" in body


def test_iam_is_least_privilege(translated: dict[str, Any]) -> None:
    role = translated["Resources"]["VantaSyncFunctionRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    by_sid = {s.get("Sid"): s for s in statements}
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all("*" not in action for action in actions), statement
        assert statement["Resource"] != "*", statement
    assert by_sid["ReadTheVantaCredentials"]["Action"] == "secretsmanager:GetSecretValue"
    assert (
        "${VantaCredentialsSecretName}" in by_sid["ReadTheVantaCredentials"]["Resource"]["Fn::Sub"]
    )
    assert by_sid["ReadAndWriteTheSyncPrefix"]["Resource"] == {
        "Fn::Sub": "${DataBucket.Arn}/vanta/*"
    }
    assert by_sid["ListTheSyncPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["vanta/*"]}}
    assert by_sid["SendToTheDlq"]["Resource"] == {"Fn::GetAtt": ["FunctionDlq", "Arn"]}
    assert by_sid["ContinueItself"]["Resource"]["Fn::Sub"].endswith(":function:vanta-vuln-sync")
    managed = json.dumps(role["ManagedPolicyArns"])
    assert "AWSXrayWriteOnlyAccess" in managed
    assert "CloudWatchLambdaInsightsExecutionRolePolicy" in managed  # under Fn::If


@pytest.mark.filterwarnings("ignore::UserWarning")  # moto names what it skips (alarms, ...)
def test_the_stack_deploys_on_moto(translated: dict[str, Any], moto_server: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket=PLACEHOLDER["bucket"])
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("vanta_sync/handler.py", "def handler(event, context):\n    return {}\n")
    s3.put_object(Bucket=PLACEHOLDER["bucket"], Key=PLACEHOLDER["key"], Body=package.getvalue())
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_server)
    cloudformation.create_stack(
        StackName="vanta-sync",
        TemplateBody=json.dumps(translated),
        Parameters=[
            {"ParameterKey": "S3BucketName", "ParameterValue": "vanta-data-deployed"},
            {"ParameterKey": "AlarmEmail", "ParameterValue": "ops@example.com"},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName="vanta-sync")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["FunctionName"] == "vanta-vuln-sync"
    assert outputs["DashboardUrl"].endswith("#dashboards:name=vanta-vuln-performance")
    function = boto3.client("lambda", endpoint_url=moto_server).get_function_configuration(
        FunctionName="vanta-vuln-sync"
    )
    assert (function["MemorySize"], function["Timeout"], function["Runtime"]) == (
        1536, 900, "python3.13",
    )  # fmt: skip
    # (moto does not report the function's DeadLetterConfig: the transformed resource's
    # assertions above cover it)
    sqs = boto3.client("sqs", endpoint_url=moto_server)
    queue_url = sqs.get_queue_url(QueueName="vanta-vuln-sync-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == "1209600"
    topics = boto3.client("sns", endpoint_url=moto_server).list_topics()["Topics"]
    assert any(t["TopicArn"] == outputs["AlarmTopicArn"] for t in topics)
    s3.head_bucket(Bucket="vanta-data-deployed")  # created (moto skips its versioning)
    rules = boto3.client("events", endpoint_url=moto_server).list_rules()["Rules"]
    assert any(r.get("ScheduleExpression") == "cron(0 6 * * ? *)" for r in rules)
    dashboards = boto3.client("cloudwatch", endpoint_url=moto_server).list_dashboards()
    assert [d["DashboardName"] for d in dashboards["DashboardEntries"]] == [
        "vanta-vuln-performance"
    ]
