"""Every alarm the stack created exists in CloudWatch and none is firing."""

from __future__ import annotations

import boto3

from .stack_checks import alarm_problems, stack_alarm_names


def test_the_stacks_alarms_exist_and_none_is_in_alarm(session: boto3.Session, stack_name: str) -> None:
    # Given the alarms the stack's template created (drift, quality, failing drift checks)
    paginator = session.client("cloudformation").get_paginator("list_stack_resources")
    resources = [
        r for page in paginator.paginate(StackName=stack_name) for r in page["StackResourceSummaries"]
    ]
    names = stack_alarm_names(resources)
    assert names, f"{stack_name} created no CloudWatch alarm; template.yaml defines three"

    # When CloudWatch is asked for them
    described = session.client("cloudwatch").describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm"])

    # Then each exists and none is in ALARM (INSUFFICIENT_DATA is how a new alarm starts)
    assert alarm_problems(names, described["MetricAlarms"]) == []
