"""CloudWatch Logs end to end: boto3 and the aws CLI against the real binary."""

import json
import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError


def now_ms():
    return int(time.time() * 1000)


def aws(server, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    r = subprocess.run(["aws", "--endpoint-url", server.endpoint, "--output", "json", *args],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else {}


def error(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e["Message"]


def put(logs, group, stream, messages, start=None, step=1):
    start = now_ms() - 60_000 if start is None else start
    events = [{"timestamp": start + i * step, "message": m} for i, m in enumerate(messages)]
    return logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def test_group_and_stream_lifecycle(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName="/app/web", tags={"team": "core"})
    logs.create_log_group(logGroupName="/app/worker")
    logs.create_log_group(logGroupName="/other")
    with pytest.raises(ClientError) as e:
        logs.create_log_group(logGroupName="/app/web")
    assert error(e) == ("ResourceAlreadyExistsException", "The specified log group already exists")

    groups = logs.describe_log_groups(logGroupNamePrefix="/app/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/app/web", "/app/worker"]
    g = groups[0]
    assert g["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/app/web:*"
    assert g["storedBytes"] == 0 and "retentionInDays" not in g
    assert abs(g["creationTime"] - now_ms()) < 60_000

    # pagination
    page1 = logs.describe_log_groups(limit=2)
    assert len(page1["logGroups"]) == 2 and "nextToken" in page1
    page2 = logs.describe_log_groups(limit=2, nextToken=page1["nextToken"])
    assert [g["logGroupName"] for g in page2["logGroups"]] == ["/other"] and "nextToken" not in page2

    logs.put_retention_policy(logGroupName="/app/web", retentionInDays=7)
    assert logs.describe_log_groups(logGroupNamePrefix="/app/web")["logGroups"][0]["retentionInDays"] == 7
    with pytest.raises(ClientError) as e:
        logs.put_retention_policy(logGroupName="/app/web", retentionInDays=2)
    assert error(e)[0] == "InvalidParameterException"
    logs.delete_retention_policy(logGroupName="/app/web")
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix="/app/web")["logGroups"][0]

    # tags, both APIs
    assert logs.list_tags_log_group(logGroupName="/app/web")["tags"] == {"team": "core"}
    logs.tag_log_group(logGroupName="/app/web", tags={"env": "dev"})
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:/app/web"
    logs.tag_resource(resourceArn=arn, tags={"x": "1"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "core", "env": "dev", "x": "1"}
    logs.untag_resource(resourceArn=arn, tagKeys=["x"])
    logs.untag_log_group(logGroupName="/app/web", tags=["team"])
    assert logs.list_tags_log_group(logGroupName="/app/web")["tags"] == {"env": "dev"}

    # streams
    for s in ["b", "a", "c"]:
        logs.create_log_stream(logGroupName="/app/web", logStreamName=s)
    with pytest.raises(ClientError) as e:
        logs.create_log_stream(logGroupName="/app/web", logStreamName="a")
    assert error(e)[0] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        logs.create_log_stream(logGroupName="/nope", logStreamName="a")
    assert error(e) == ("ResourceNotFoundException", "The specified log group does not exist.")
    t = now_ms()
    logs.put_log_events(logGroupName="/app/web", logStreamName="a", logEvents=[{"timestamp": t - 3000, "message": "x"}])
    logs.put_log_events(logGroupName="/app/web", logStreamName="c", logEvents=[{"timestamp": t - 2000, "message": "yy"}])
    logs.put_log_events(logGroupName="/app/web", logStreamName="b", logEvents=[{"timestamp": t - 1000, "message": "zzz"}])

    names = lambda r: [s["logStreamName"] for s in r["logStreams"]]
    assert names(logs.describe_log_streams(logGroupName="/app/web")) == ["a", "b", "c"]
    assert names(logs.describe_log_streams(logGroupName="/app/web", descending=True)) == ["c", "b", "a"]
    assert names(logs.describe_log_streams(logGroupName="/app/web", orderBy="LastEventTime")) == ["a", "c", "b"]
    assert names(logs.describe_log_streams(logGroupName="/app/web", orderBy="LastEventTime", descending=True)) == ["b", "c", "a"]
    assert names(logs.describe_log_streams(logGroupName="/app/web", logStreamNamePrefix="b")) == ["b"]
    p1 = logs.describe_log_streams(logGroupName="/app/web", limit=2)
    p2 = logs.describe_log_streams(logGroupName="/app/web", limit=2, nextToken=p1["nextToken"])
    assert names(p1) + names(p2) == ["a", "b", "c"] and "nextToken" not in p2
    s = logs.describe_log_streams(logGroupName="/app/web", logStreamNamePrefix="a")["logStreams"][0]
    assert s["firstEventTimestamp"] == t - 3000 and s["lastEventTimestamp"] == t - 3000
    assert abs(s["lastIngestionTime"] - now_ms()) < 60_000
    assert s["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/app/web:log-stream:a"
    assert "uploadSequenceToken" in s
    with pytest.raises(ClientError) as e:
        logs.describe_log_streams(logGroupName="/app/web", orderBy="LastEventTime", logStreamNamePrefix="a")
    assert error(e)[0] == "InvalidParameterException"
    # identifier by ARN
    assert names(logs.describe_log_streams(logGroupIdentifier=arn)) == ["a", "b", "c"]
    assert logs.describe_log_groups(logGroupNamePrefix="/app/web")["logGroups"][0]["storedBytes"] == 6

    logs.delete_log_stream(logGroupName="/app/web", logStreamName="a")
    with pytest.raises(ClientError) as e:
        logs.delete_log_stream(logGroupName="/app/web", logStreamName="a")
    assert error(e) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    assert names(logs.describe_log_streams(logGroupName="/app/web")) == ["b", "c"]

    logs.delete_log_group(logGroupName="/app/web")
    with pytest.raises(ClientError) as e:
        logs.delete_log_group(logGroupName="/app/web")
    assert error(e) == ("ResourceNotFoundException", "The specified log group does not exist.")
    # recreated group starts empty
    logs.create_log_group(logGroupName="/app/web")
    assert logs.describe_log_streams(logGroupName="/app/web")["logStreams"] == []


def test_put_log_events_errors_and_rejections(server):
    logs = server.client("logs")
    with pytest.raises(ClientError) as e:
        put(logs, "/g", "s", ["x"])
    assert error(e) == ("ResourceNotFoundException", "The specified log group does not exist.")
    logs.create_log_group(logGroupName="/g")
    with pytest.raises(ClientError) as e:
        put(logs, "/g", "s", ["x"])
    assert error(e) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    logs.create_log_stream(logGroupName="/g", logStreamName="s")

    t = now_ms()
    with pytest.raises(ClientError) as e:
        logs.put_log_events(logGroupName="/g", logStreamName="s",
                            logEvents=[{"timestamp": t, "message": "a"}, {"timestamp": t - 1, "message": "b"}])
    assert error(e) == ("InvalidParameterException",
                        "Log events in a single PutLogEvents request must be in chronological order.")
    with pytest.raises(ClientError) as e:
        logs.put_log_events(logGroupName="/g", logStreamName="s",
                            logEvents=[{"timestamp": t - 25 * 3600_000, "message": "a"}, {"timestamp": t, "message": "b"}])
    assert error(e)[0] == "InvalidParameterException" and "24 hours" in error(e)[1]
    # 5 events of 209,690 bytes + 26 overhead = 1,048,580 > 1,048,576
    big = "x" * 209_690
    with pytest.raises(ClientError) as e:
        put(logs, "/g", "s", [big] * 5)
    assert error(e) == ("InvalidParameterException", "Upload too large: 1048580 bytes exceeds limit of 1048576")
    # exactly at the limit is accepted
    put(logs, "/g", "s", ["x" * 209_689] * 5)
    with pytest.raises(ClientError) as e:
        put(logs, "/g", "s", ["y" * 262_119])
    assert error(e)[0] == "InvalidParameterException" and "Log event too large" in error(e)[1]

    # too old (> 14 days) and too new (> 2 hours ahead) are rejected, the rest accepted
    day = 86_400_000
    r = logs.put_log_events(logGroupName="/g", logStreamName="s", logEvents=[
        {"timestamp": t - 15 * day + 3600_000 * 8, "message": "old1"},
        {"timestamp": t - 15 * day + 3600_000 * 9, "message": "old2"},
        {"timestamp": t - 15 * day + 3600_000 * 30, "message": "ok"},
    ])
    assert r["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    r = logs.put_log_events(logGroupName="/g", logStreamName="s", logEvents=[
        {"timestamp": t, "message": "ok2"},
        {"timestamp": t + 3 * 3600_000, "message": "new"},
    ])
    assert r["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    assert "nextSequenceToken" in r
    msgs = [e["message"] for e in logs.get_log_events(logGroupName="/g", logStreamName="s", startFromHead=True, limit=3)["events"]]
    assert msgs == ["ok", "x" * 209_689, "x" * 209_689]
    tail = logs.get_log_events(logGroupName="/g", logStreamName="s", limit=1)["events"]
    assert [e["message"] for e in tail] == ["ok2"]

    # validation by the model: empty list
    with pytest.raises(ClientError) as e:
        server.client("logs", validate=False).put_log_events(logGroupName="/g", logStreamName="s", logEvents=[])
    assert error(e)[0] in ("InvalidParameterException", "ValidationException")


def test_get_log_events_ordering_and_pagination(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    base = now_ms() - 3600_000
    # two batches interleaving in time: reads come back in timestamp order
    put(logs, "g", "s", [f"e{i:02d}" for i in range(0, 20, 2)], start=base, step=2)
    put(logs, "g", "s", [f"e{i:02d}" for i in range(1, 20, 2)], start=base + 1, step=2)
    expected = [f"e{i:02d}" for i in range(20)]

    r = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
    assert [e["message"] for e in r["events"]] == expected
    assert all(e["ingestionTime"] >= e["timestamp"] for e in r["events"])
    assert r["nextForwardToken"].startswith("f/") and r["nextBackwardToken"].startswith("b/")

    # forward paging from the head, then the same token at the end
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {"startFromHead": True}
        r = logs.get_log_events(logGroupName="g", logStreamName="s", limit=6, **kw)
        if r["nextForwardToken"] == token:
            assert r["events"] == []
            break
        seen += [e["message"] for e in r["events"]]
        token = r["nextForwardToken"]
    assert seen == expected

    # backward paging from the tail: each page is ascending, pages go back in time
    r = logs.get_log_events(logGroupName="g", logStreamName="s", limit=6)
    assert [e["message"] for e in r["events"]] == expected[14:]
    pages, token = [r["events"]], r["nextBackwardToken"]
    while True:
        r = logs.get_log_events(logGroupName="g", logStreamName="s", limit=6, nextToken=token)
        if not r["events"]:
            assert r["nextBackwardToken"] == token
            break
        pages.insert(0, r["events"])
        token = r["nextBackwardToken"]
    assert [e["message"] for p in pages for e in p] == expected
    # from the first backward page, the forward token resumes right after it
    first = logs.get_log_events(logGroupName="g", logStreamName="s", limit=6)
    back = logs.get_log_events(logGroupName="g", logStreamName="s", limit=6, nextToken=first["nextBackwardToken"])
    fwd = logs.get_log_events(logGroupName="g", logStreamName="s", limit=6, nextToken=back["nextForwardToken"])
    assert [e["message"] for e in fwd["events"]] == expected[14:]

    # tailing: new events appear after the last forward token
    r = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)
    put(logs, "g", "s", ["late"], start=base + 100)
    r2 = logs.get_log_events(logGroupName="g", logStreamName="s", nextToken=r["nextForwardToken"])
    assert [e["message"] for e in r2["events"]] == ["late"]

    # time window: startTime inclusive, endTime exclusive
    r = logs.get_log_events(logGroupName="g", logStreamName="s", startTime=base + 5, endTime=base + 9, startFromHead=True)
    assert [e["message"] for e in r["events"]] == ["e05", "e06", "e07", "e08"]

    with pytest.raises(ClientError) as e:
        logs.get_log_events(logGroupName="g", logStreamName="s", nextToken="garbage")
    assert error(e) == ("InvalidParameterException", "The specified nextToken is invalid.")
    with pytest.raises(ClientError) as e:
        logs.get_log_events(logGroupName="g", logStreamName="nope")
    assert error(e) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    with pytest.raises(ClientError) as e:
        logs.get_log_events(logGroupName="nope", logStreamName="s")
    assert error(e) == ("ResourceNotFoundException", "The specified log group does not exist.")
    # empty stream
    logs.create_log_stream(logGroupName="g", logStreamName="empty")
    r = logs.get_log_events(logGroupName="g", logStreamName="empty")
    assert r["events"] == [] and r["nextForwardToken"] and r["nextBackwardToken"]


def test_filter_log_events_patterns_across_streams(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName="app")
    base = now_ms() - 600_000
    streams = {
        "web-1": ["GET /a 200", "ERROR disk full", "GET /b 500"],
        "web-2": ["WARN slow request", "ERROR Exiting now", "INFO ok"],
        "job-1": ['{"level":"ERROR","code":503,"user":{"id":"u-1"}}', '{"level":"INFO","code":200}', "plain ERROR text"],
    }
    for i, (name, msgs) in enumerate(streams.items()):
        logs.create_log_stream(logGroupName="app", logStreamName=name)
        put(logs, "app", name, msgs, start=base + i, step=10)

    def f(**kw):
        r = logs.filter_log_events(logGroupName="app", **kw)
        return [e["message"] for e in r["events"]]

    # interleaved by time across all streams
    r = logs.filter_log_events(logGroupName="app")
    assert [e["logStreamName"] for e in r["events"]] == ["web-1", "web-2", "job-1"] * 3
    assert all(len(e["eventId"]) == 56 for e in r["events"])
    assert len({e["eventId"] for e in r["events"]}) == 9

    assert f(filterPattern="ERROR") == ['{"level":"ERROR","code":503,"user":{"id":"u-1"}}', "ERROR disk full", "ERROR Exiting now", "plain ERROR text"]
    assert f(filterPattern="ERROR -Exiting -level") == ["ERROR disk full", "plain ERROR text"]
    assert f(filterPattern='"disk full"') == ["ERROR disk full"]
    assert f(filterPattern="?WARN ?500") == ["WARN slow request", "GET /b 500"]
    assert f(filterPattern="{ $.level = \"ERROR\" }") == ['{"level":"ERROR","code":503,"user":{"id":"u-1"}}']
    assert f(filterPattern="{ $.code >= 200 && $.code < 300 }") == ['{"level":"INFO","code":200}']
    assert f(filterPattern="{ $.user.id = u-* }") == ['{"level":"ERROR","code":503,"user":{"id":"u-1"}}']
    assert f(filterPattern="%GET /[ab] 5\\d\\d%") == ["GET /b 500"]
    assert f(filterPattern="ERROR", logStreamNamePrefix="web") == ["ERROR disk full", "ERROR Exiting now"]
    assert f(filterPattern="ERROR", logStreamNames=["job-1", "web-2"]) == ['{"level":"ERROR","code":503,"user":{"id":"u-1"}}', "ERROR Exiting now", "plain ERROR text"]
    assert f(startTime=base + 10, endTime=base + 12) == ["ERROR disk full", "ERROR Exiting now", '{"level":"INFO","code":200}']

    # pagination
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        r = logs.filter_log_events(logGroupName="app", limit=2, **kw)
        seen += [(e["logStreamName"], e["message"]) for e in r["events"]]
        token = r.get("nextToken")
        if not token:
            break
    assert len(seen) == 9 and [m for _, m in seen] == f()

    with pytest.raises(ClientError) as e:
        logs.filter_log_events(logGroupName="app", filterPattern="{ $.a = }")
    assert error(e)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        logs.filter_log_events(logGroupName="nope")
    assert error(e) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_retention_hides_and_prunes_old_events(server):
    logs = server.client("logs")
    logs.create_log_group(logGroupName="r")
    logs.create_log_stream(logGroupName="r", logStreamName="s")
    day = 86_400_000
    t = now_ms()
    put(logs, "r", "s", ["three days ago", "also old"], start=t - 3 * day)
    put(logs, "r", "s", ["recent"], start=t - 1000)
    assert logs.describe_log_groups(logGroupNamePrefix="r")["logGroups"][0]["storedBytes"] == len("three days agoalso oldrecent")
    logs.put_retention_policy(logGroupName="r", retentionInDays=1)
    msgs = [e["message"] for e in logs.get_log_events(logGroupName="r", logStreamName="s", startFromHead=True)["events"]]
    assert msgs == ["recent"]
    assert [e["message"] for e in logs.filter_log_events(logGroupName="r")["events"]] == ["recent"]
    # pruned: bytes drop, first event timestamp moves, and removing the policy does not bring them back
    assert logs.describe_log_groups(logGroupNamePrefix="r")["logGroups"][0]["storedBytes"] == len("recent")
    s = logs.describe_log_streams(logGroupName="r")["logStreams"][0]
    assert s["firstEventTimestamp"] == t - 1000
    logs.delete_retention_policy(logGroupName="r")
    msgs = [e["message"] for e in logs.get_log_events(logGroupName="r", logStreamName="s", startFromHead=True)["events"]]
    assert msgs == ["recent"]
    # events older than the retention are rejected as expired
    logs.put_retention_policy(logGroupName="r", retentionInDays=1)
    r = logs.put_log_events(logGroupName="r", logStreamName="s", logEvents=[
        {"timestamp": t - 25 * 3600_000, "message": "expired"}, {"timestamp": t - 2 * 3600_000, "message": "fine"}])
    assert r["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}


def test_accounts_and_regions_are_isolated(server):
    a = server.client("logs")
    b = server.client("logs", key="123456789012")
    w = server.client("logs", region="eu-west-1")
    a.create_log_group(logGroupName="same")
    b.create_log_group(logGroupName="same")
    w.create_log_group(logGroupName="same")
    b.put_retention_policy(logGroupName="same", retentionInDays=3)
    assert "retentionInDays" not in a.describe_log_groups()["logGroups"][0]
    assert b.describe_log_groups()["logGroups"][0]["arn"] == "arn:aws:logs:us-east-1:123456789012:log-group:same:*"
    assert w.describe_log_groups()["logGroups"][0]["arn"] == "arn:aws:logs:eu-west-1:000000000000:log-group:same:*"


def test_aws_cli_and_persistence_across_restart(server_factory):
    server = server_factory()
    aws(server, "logs", "create-log-group", "--log-group-name", "/cli/group")
    aws(server, "logs", "create-log-stream", "--log-group-name", "/cli/group", "--log-stream-name", "s1")
    t = now_ms()
    events = json.dumps([{"timestamp": t - 2, "message": "hello from cli"}, {"timestamp": t - 1, "message": "ERROR boom"}])
    r = aws(server, "logs", "put-log-events", "--log-group-name", "/cli/group", "--log-stream-name", "s1",
            "--log-events", events)
    assert "nextSequenceToken" in r
    r = aws(server, "logs", "get-log-events", "--log-group-name", "/cli/group", "--log-stream-name", "s1", "--start-from-head")
    assert [e["message"] for e in r["events"]] == ["hello from cli", "ERROR boom"]
    r = aws(server, "logs", "filter-log-events", "--log-group-name", "/cli/group", "--filter-pattern", "ERROR")
    assert [e["message"] for e in r["events"]] == ["ERROR boom"]
    aws(server, "logs", "put-retention-policy", "--log-group-name", "/cli/group", "--retention-in-days", "30")
    r = aws(server, "logs", "describe-log-groups")
    assert r["logGroups"][0]["retentionInDays"] == 30

    data_dir = server.data_dir
    server.kill9()
    server2 = server_factory(data_dir=data_dir)
    logs = server2.client("logs")
    g = logs.describe_log_groups()["logGroups"][0]
    assert g["logGroupName"] == "/cli/group" and g["retentionInDays"] == 30
    r = logs.get_log_events(logGroupName="/cli/group", logStreamName="s1", startFromHead=True)
    assert [e["message"] for e in r["events"]] == ["hello from cli", "ERROR boom"]
    # new writes after restart keep ordering and sequence
    logs.put_log_events(logGroupName="/cli/group", logStreamName="s1", logEvents=[{"timestamp": t, "message": "after"}])
    r = logs.get_log_events(logGroupName="/cli/group", logStreamName="s1", nextToken=r["nextForwardToken"])
    assert [e["message"] for e in r["events"]] == ["after"]
    server2.stop()
    server3 = server_factory(data_dir=data_dir)
    r = server3.client("logs").get_log_events(logGroupName="/cli/group", logStreamName="s1", startFromHead=True)
    assert [e["message"] for e in r["events"]] == ["hello from cli", "ERROR boom", "after"]
