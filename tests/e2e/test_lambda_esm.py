"""Lambda event source mappings on DynamoDB streams, against the real binary (boto3).

A Python function writes every stream record it receives into a second table; the tests
read that table to see what was delivered, in which batches and how often."""

import json
import re
import time

import pytest
from botocore.exceptions import ClientError

from conftest import wait_until
from test_lambda import create

SINK_CODE = """
import json, os, boto3

ddb = boto3.client("dynamodb")
SINK = os.environ["SINK"]


def handler(event, context):
    recs = event["Records"]
    rid = context.aws_request_id
    ddb.put_item(TableName=SINK, Item={"pk": {"S": "attempt"}, "sk": {"S": rid}, "n": {"N": str(len(recs))}})
    for r in recs:
        if "poison" in (r["dynamodb"].get("NewImage") or {}):
            raise RuntimeError("poison record " + r["dynamodb"]["SequenceNumber"])
    failures = []
    for i, r in enumerate(recs):
        seq = r["dynamodb"]["SequenceNumber"]
        if "failonce" in (r["dynamodb"].get("NewImage") or {}) and not failures:
            marker = {"pk": {"S": "failed#" + seq}, "sk": {"S": "-"}}
            if "Item" not in ddb.get_item(TableName=SINK, Key=marker):
                ddb.put_item(TableName=SINK, Item=marker)
                failures.append({"itemIdentifier": seq})
        ddb.put_item(TableName=SINK, Item={
            "pk": {"S": "seq#" + seq}, "sk": {"S": rid}, "pos": {"N": str(i)}, "record": {"S": json.dumps(r)},
        })
    ddb.put_item(TableName=SINK, Item={"pk": {"S": "batch"}, "sk": {"S": rid}, "n": {"N": str(len(recs))}})
    return {"batchItemFailures": failures}
"""

ESM_ARN = re.compile(r"arn:aws:lambda:us-east-1:000000000000:event-source-mapping:[0-9a-f-]{36}")


def err(exc):
    e = exc.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def make_table(ddb, name, stream=True):
    kw = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}} if stream else {}
    t = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **kw,
    )["TableDescription"]
    return t.get("LatestStreamArn")


def setup(server, fn="sinker", sink="sink", source="src"):
    ddb, lam = server.client("dynamodb"), server.client("lambda")
    arn = make_table(ddb, source)
    make_table(ddb, sink, stream=False)
    create(lam, fn, {"index.py": SINK_CODE}, Timeout=30, Environment={"Variables": {"SINK": sink}})
    return ddb, lam, arn


def put(ddb, pk, table="src", **attrs):
    item = {"pk": {"S": pk}, "sk": {"S": "-"}}
    item.update(attrs)
    ddb.put_item(TableName=table, Item=item)


def deliveries(ddb, sink="sink"):
    """{sequence number: [record, ...]} in delivery order, and the batch sizes."""
    items, start = [], {}
    while True:
        page = ddb.scan(TableName=sink, **start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    seqs = {}
    for it in items:
        if it["pk"]["S"].startswith("seq#"):
            seqs.setdefault(it["pk"]["S"][4:], []).append(json.loads(it["record"]["S"]))
    batches = [int(it["n"]["N"]) for it in items if it["pk"]["S"] == "batch"]
    attempts = [int(it["n"]["N"]) for it in items if it["pk"]["S"] == "attempt"]
    return dict(sorted(seqs.items())), batches, attempts


def keys_delivered(ddb, sink="sink"):
    seqs, _, _ = deliveries(ddb, sink)
    return [(recs[0]["eventName"], recs[0]["dynamodb"]["Keys"]["pk"]["S"]) for recs in seqs.values()]


def wait_state(lam, uuid, state, timeout=10):
    assert wait_until(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == state, timeout), lam.get_event_source_mapping(UUID=uuid)


def mapping(lam, arn, fn="sinker", **kw):
    kw.setdefault("StartingPosition", "TRIM_HORIZON")
    m = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=fn, **kw)
    wait_state(lam, m["UUID"], "Enabled" if kw.get("Enabled", True) else "Disabled")
    return m


def test_records_reach_the_function_in_order_with_images(server):
    ddb, lam, arn = setup(server)
    m = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="sinker", StartingPosition="TRIM_HORIZON", BatchSize=2)
    assert m["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert m["State"] == "Creating" and m["StateTransitionReason"] == "User action"
    assert m["LastProcessingResult"] == "No records processed"
    assert m["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:sinker"
    assert m["EventSourceArn"] == arn and ESM_ARN.fullmatch(m["EventSourceMappingArn"])
    assert m["EventSourceMappingArn"].endswith(m["UUID"])
    assert (m["BatchSize"], m["MaximumBatchingWindowInSeconds"], m["ParallelizationFactor"]) == (2, 0, 1)
    assert (m["MaximumRecordAgeInSeconds"], m["MaximumRetryAttempts"], m["BisectBatchOnFunctionError"]) == (-1, -1, False)
    assert m["StartingPosition"] == "TRIM_HORIZON" and m["TumblingWindowInSeconds"] == 0
    assert m["FunctionResponseTypes"] == [] and m["DestinationConfig"] == {"OnFailure": {}}
    assert "FilterCriteria" not in m
    wait_state(lam, m["UUID"], "Enabled")

    put(ddb, "a", v={"N": "1"})
    put(ddb, "b", v={"N": "2"})
    ddb.update_item(TableName="src", Key={"pk": {"S": "a"}, "sk": {"S": "-"}}, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"N": "3"}})
    ddb.delete_item(TableName="src", Key={"pk": {"S": "b"}, "sk": {"S": "-"}})
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 4, 30)
    seqs, batches, _ = deliveries(ddb)
    recs = [r[0] for r in seqs.values()]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in recs] == [("INSERT", "a"), ("INSERT", "b"), ("MODIFY", "a"), ("REMOVE", "b")]
    assert all(len(r) == 1 for r in seqs.values()), "each record once"
    assert all(0 < b <= 2 for b in batches)
    for r in recs:
        assert r["eventVersion"] == "1.1" and r["eventSource"] == "aws:dynamodb" and r["awsRegion"] == "us-east-1"
        assert r["eventSourceARN"] == arn and re.fullmatch(r"[0-9a-f]{32}", r["eventID"])
        assert r["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES" and r["dynamodb"]["SizeBytes"] > 0
        assert isinstance(r["dynamodb"]["ApproximateCreationDateTime"], (int, float))
    assert "OldImage" not in recs[0]["dynamodb"] and recs[0]["dynamodb"]["NewImage"]["v"] == {"N": "1"}
    assert recs[2]["dynamodb"]["OldImage"]["v"] == {"N": "1"} and recs[2]["dynamodb"]["NewImage"]["v"] == {"N": "3"}
    assert recs[3]["dynamodb"]["OldImage"]["v"] == {"N": "2"} and "NewImage" not in recs[3]["dynamodb"]
    assert wait_until(lambda: lam.get_event_source_mapping(UUID=m["UUID"])["LastProcessingResult"] == "OK", 10)


def test_latest_and_trim_horizon_and_batch_size(server):
    ddb, lam, arn = setup(server, fn="all", sink="sinkAll")
    make_table(ddb, "sinkNew", stream=False)
    create(lam, "new", {"index.py": SINK_CODE}, Timeout=30, Environment={"Variables": {"SINK": "sinkNew"}})
    for i in range(5):
        put(ddb, f"old{i}")
    latest = mapping(lam, arn, fn="new", StartingPosition="LATEST")
    assert latest["StartingPosition"] == "LATEST"
    trim = mapping(lam, arn, fn="all", BatchSize=4)
    put(ddb, "new0")
    assert wait_until(lambda: len(deliveries(ddb, "sinkAll")[0]) == 6, 30)
    assert wait_until(lambda: len(deliveries(ddb, "sinkNew")[0]) == 1, 30)
    assert [k for _, k in keys_delivered(ddb, "sinkNew")] == ["new0"]
    assert [k for _, k in keys_delivered(ddb, "sinkAll")] == [f"old{i}" for i in range(5)] + ["new0"]
    _, batches, _ = deliveries(ddb, "sinkAll")
    # Five records were waiting: the first batch is full.
    assert max(batches) == 4 and sum(batches) == 6
    listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    assert {x["UUID"] for x in listed} == {latest["UUID"], trim["UUID"]}


def test_filter_criteria_deliver_only_matching_records(server):
    ddb, lam, arn = setup(server)
    pattern = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": [{"prefix": "keep"}]}}}}
    m = mapping(lam, arn, FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]})
    assert json.loads(m["FilterCriteria"]["Filters"][0]["Pattern"]) == pattern
    put(ddb, "a", kind={"S": "keep-1"})
    put(ddb, "b", kind={"S": "drop"})
    put(ddb, "c")
    put(ddb, "a", kind={"S": "keep-2"})  # a MODIFY
    put(ddb, "d", kind={"S": "keep-3"})
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 2, 30)
    assert keys_delivered(ddb) == [("INSERT", "a"), ("INSERT", "d")]
    # A second filter ORs; anything-but and numeric rules.
    other = {"eventName": [{"anything-but": ["INSERT", "REMOVE"]}], "dynamodb": {"SizeBytes": [{"numeric": [">", 0]}]}}
    lam.update_event_source_mapping(UUID=m["UUID"], FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}, {"Pattern": json.dumps(other)}]})
    wait_state(lam, m["UUID"], "Enabled")
    put(ddb, "d", kind={"S": "changed"})  # MODIFY: matches the second filter
    put(ddb, "e", kind={"S": "nope"})  # INSERT that matches neither
    put(ddb, "f", kind={"S": "keep-4"})
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 4, 30)
    assert keys_delivered(ddb)[2:] == [("MODIFY", "d"), ("INSERT", "f")]
    # `{}` removes the filters.
    removed = lam.update_event_source_mapping(UUID=m["UUID"], FilterCriteria={})
    assert "FilterCriteria" not in removed
    wait_state(lam, m["UUID"], "Enabled")
    put(ddb, "g")
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 5, 30)

    with pytest.raises(ClientError) as e:
        lam.update_event_source_mapping(UUID=m["UUID"], FilterCriteria={"Filters": [{"Pattern": '{"eventName": "INSERT"}'}]})
    assert err(e) == ("InvalidParameterValueException", "Invalid filter pattern definition.", 400)


def test_failing_batches_are_retried_then_skipped(server):
    ddb, lam, arn = setup(server)
    m = mapping(lam, arn, Enabled=False, MaximumRetryAttempts=2, BatchSize=10)
    assert m["State"] == "Creating"
    put(ddb, "a")
    put(ddb, "bad", poison={"BOOL": True})
    put(ddb, "c")
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    wait_state(lam, m["UUID"], "Enabled")
    # One try and two retries of the whole batch, then it is skipped: nothing delivered.
    assert wait_until(lambda: len(deliveries(ddb)[2]) == 3, 30)
    assert wait_until(lambda: lam.get_event_source_mapping(UUID=m["UUID"])["LastProcessingResult"] == "PROBLEM: Function call failed", 10)
    put(ddb, "d")
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 1, 30)
    assert keys_delivered(ddb) == [("INSERT", "d")]
    assert len(deliveries(ddb)[2]) == 4
    assert wait_until(lambda: lam.get_event_source_mapping(UUID=m["UUID"])["LastProcessingResult"] == "OK", 10)


def test_bisect_isolates_the_failing_record(server):
    ddb, lam, arn = setup(server)
    m = mapping(lam, arn, Enabled=False, BisectBatchOnFunctionError=True, MaximumRetryAttempts=0, BatchSize=10)
    for k in ["a", "b", "c"]:
        put(ddb, k)
    put(ddb, "bad", poison={"BOOL": True})
    for k in ["e", "f"]:
        put(ddb, k)
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 5, 30)
    assert [k for _, k in keys_delivered(ddb)] == ["a", "b", "c", "e", "f"]
    seqs, batches, attempts = deliveries(ddb)
    assert all(len(r) == 1 for r in seqs.values())
    # 6 → 3+3 → [a b c] ok; [bad e f] → [bad] fails (no retries) and [e f] ok.
    assert sorted(attempts) == sorted([6, 3, 3, 1, 2])


def test_report_batch_item_failures_resumes_at_the_failed_record(server):
    ddb, lam, arn = setup(server)
    m = mapping(lam, arn, Enabled=False, FunctionResponseTypes=["ReportBatchItemFailures"], BatchSize=10)
    assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    put(ddb, "r1")
    put(ddb, "r2", failonce={"BOOL": True})
    put(ddb, "r3")
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    assert wait_until(lambda: len(deliveries(ddb)[1]) == 2, 30)
    seqs, batches, _ = deliveries(ddb)
    counts = [(r[0]["dynamodb"]["Keys"]["pk"]["S"], len(r)) for r in seqs.values()]
    assert counts == [("r1", 1), ("r2", 2), ("r3", 2)]
    assert sorted(batches) == [2, 3]


def test_disable_enable_and_delete(server):
    ddb, lam, arn = setup(server)
    m = mapping(lam, arn)
    put(ddb, "a")
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 1, 30)
    off = lam.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
    assert off["State"] == "Disabling"
    wait_state(lam, m["UUID"], "Disabled")
    put(ddb, "b")
    # Nothing is read while disabled ...
    assert not wait_until(lambda: len(deliveries(ddb)[0]) > 1, 2)
    on = lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    assert on["State"] == "Enabling"
    wait_state(lam, m["UUID"], "Enabled")
    # ... and enabling resumes where it stopped.
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 2, 30)
    assert [k for _, k in keys_delivered(ddb)] == ["a", "b"]

    gone = lam.delete_event_source_mapping(UUID=m["UUID"])
    assert gone["State"] == "Deleting" and gone["ResponseMetadata"]["HTTPStatusCode"] == 202

    def deleted():
        try:
            lam.get_event_source_mapping(UUID=m["UUID"])
            return False
        except ClientError as e:
            return e.response["Error"]["Code"] == "ResourceNotFoundException"

    assert wait_until(deleted, 10)
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []
    put(ddb, "c")
    assert not wait_until(lambda: len(deliveries(ddb)[0]) > 2, 2)
    # A new mapping starts over from the trim horizon.
    mapping(lam, arn)
    assert wait_until(lambda: sum(len(r) for r in deliveries(ddb)[0].values()) == 5, 30)


def test_restart_resumes_from_the_checkpoint(server_factory, tmp_path):
    data = str(tmp_path / "data")
    s1 = server_factory(data_dir=data)
    ddb, lam, arn = setup(s1)
    m = mapping(lam, arn, Enabled=False, BatchSize=10)
    for k in ["a", "b", "c"]:
        put(ddb, k)
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 3, 30)
    # One batch; "OK" is reported once its checkpoint is written.
    assert wait_until(lambda: lam.get_event_source_mapping(UUID=m["UUID"])["LastProcessingResult"] == "OK", 10)
    s1.stop()
    s2 = server_factory(data_dir=data)
    ddb, lam = s2.client("dynamodb"), s2.client("lambda")
    wait_state(lam, m["UUID"], "Enabled")
    put(ddb, "d")
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 4, 30)
    seqs, _, _ = deliveries(ddb)
    assert all(len(r) == 1 for r in seqs.values()), "nothing delivered twice"
    assert [k for _, k in keys_delivered(ddb)] == ["a", "b", "c", "d"]


def test_parallelization_keeps_per_key_order(server):
    ddb, lam, arn = setup(server)
    m = mapping(lam, arn, Enabled=False, ParallelizationFactor=4, BatchSize=3)
    assert m["ParallelizationFactor"] == 4
    for i in range(4):
        for k in ["p", "q", "r", "s", "t"]:
            ddb.put_item(TableName="src", Item={"pk": {"S": k}, "sk": {"S": str(i)}})
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=True)
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 20, 30)
    seqs, batches, _ = deliveries(ddb)
    assert all(len(r) == 1 for r in seqs.values()) and max(batches) <= 3
    # Per partition key, the function saw the items in write order.
    for k in ["p", "q", "r", "s", "t"]:
        order = [r[0]["dynamodb"]["Keys"]["sk"]["S"] for r in seqs.values() if r[0]["dynamodb"]["Keys"]["pk"]["S"] == k]
        assert order == ["0", "1", "2", "3"]


def test_validation_errors(server):
    ddb, lam, arn = setup(server)
    other = "arn:aws:dynamodb:us-east-1:000000000000:table/nope/stream/2024-01-01T00:00:00.000"

    def fails(**kw):
        kw.setdefault("EventSourceArn", arn)
        kw.setdefault("FunctionName", "sinker")
        with pytest.raises(ClientError) as e:
            lam.create_event_source_mapping(**kw)
        return err(e)

    assert fails() == (
        "InvalidParameterValueException",
        "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null.",
        400,
    )
    assert fails(StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=1) == (
        "InvalidParameterValueException", f"Unsupported starting position for arn type: {arn}", 400)
    assert fails(StartingPosition="LATEST", EventSourceArn=other) == ("InvalidParameterValueException", f"Stream not found: {other}", 400)
    assert fails(StartingPosition="LATEST", FunctionName="missing") == ("InvalidParameterValueException", "Function does not exist", 400)
    assert fails(StartingPosition="LATEST", FunctionName="sinker:7") == ("InvalidParameterValueException", "Function does not exist", 400)
    code, msg, status = fails(StartingPosition="LATEST", EventSourceArn="arn:aws:sqs:us-east-1:000000000000:q")
    assert (code, status) == ("InvalidParameterValueException", 400) and "SQS" in msg
    code, msg, status = fails(StartingPosition="LATEST", DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}})
    assert (code, status) == ("InvalidParameterValueException", 400) and "OnFailure" in msg
    code, msg, _ = fails(StartingPosition="LATEST", TumblingWindowInSeconds=60)
    assert code == "InvalidParameterValueException" and "TumblingWindowInSeconds" in msg
    assert fails(StartingPosition="LATEST", MaximumRecordAgeInSeconds=30) == (
        "InvalidParameterValueException", "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)", 400)
    assert fails(StartingPosition="LATEST", FilterCriteria={"Filters": [{"Pattern": "nope"}]}) == (
        "InvalidParameterValueException", "Invalid filter pattern definition.", 400)
    code, msg, status = fails(StartingPosition="LATEST", BatchSize=10001)
    assert status == 400 and "batchSize" in msg

    # A stream turned off is not found either.
    ddb.update_table(TableName="src", StreamSpecification={"StreamEnabled": False})
    assert fails(StartingPosition="LATEST") == ("InvalidParameterValueException", f"Stream not found: {arn}", 400)
    ddb.update_table(TableName="src", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    arn2 = ddb.describe_table(TableName="src")["Table"]["LatestStreamArn"]

    m = mapping(lam, arn2, StartingPosition="LATEST")
    code, msg, status = fails(StartingPosition="LATEST", EventSourceArn=arn2, FunctionName="arn:aws:lambda:us-east-1:000000000000:function:sinker")
    assert (code, status) == ("ResourceConflictException", 409)
    assert msg == (f'The event source arn (" {arn2} ") and function (" sinker ") provided mapping already exists. '
                   f"Please update or delete the existing mapping with UUID {m['UUID']}")

    with pytest.raises(ClientError) as e:
        lam.get_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000")
    assert err(e) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(ClientError) as e:
        lam.delete_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000")
    assert err(e)[0] == "ResourceNotFoundException"


def test_list_filters_and_pagination(server):
    ddb, lam, arn = setup(server)
    lam.publish_version(FunctionName="sinker")
    lam.create_alias(FunctionName="sinker", Name="live", FunctionVersion="1")
    a = mapping(lam, arn)
    b = mapping(lam, arn, fn="sinker:live")
    c = mapping(lam, arn, fn="arn:aws:lambda:us-east-1:000000000000:function:sinker:1")
    assert b["FunctionArn"].endswith(":function:sinker:live") and c["FunctionArn"].endswith(":function:sinker:1")
    assert {m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]} == {a["UUID"], b["UUID"], c["UUID"]}
    assert [m["UUID"] for m in lam.list_event_source_mappings(FunctionName="sinker:live")["EventSourceMappings"]] == [b["UUID"]]
    assert [m["UUID"] for m in lam.list_event_source_mappings(FunctionName="sinker")["EventSourceMappings"]] == [a["UUID"]]
    seen, marker = [], None
    while True:
        page = lam.list_event_source_mappings(MaxItems=1, **({"Marker": marker} if marker else {}))
        seen += [m["UUID"] for m in page["EventSourceMappings"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert sorted(seen) == sorted([a["UUID"], b["UUID"], c["UUID"]])
    # The alias's mapping invokes through the alias.
    put(ddb, "x")
    assert wait_until(lambda: sum(len(r) for r in deliveries(ddb)[0].values()) == 3, 30)


def test_tags_on_mappings(server):
    ddb, lam, arn = setup(server)
    m = mapping(lam, arn, Tags={"team": "data"})
    res = m["EventSourceMappingArn"]
    assert lam.list_tags(Resource=res)["Tags"] == {"team": "data"}
    lam.tag_resource(Resource=res, Tags={"env": "dev"})
    lam.untag_resource(Resource=res, TagKeys=["team"])
    assert lam.list_tags(Resource=res)["Tags"] == {"env": "dev"}
    # The function's own tags are separate.
    assert lam.list_tags(Resource="arn:aws:lambda:us-east-1:000000000000:function:sinker")["Tags"] == {}
    with pytest.raises(ClientError) as e:
        lam.list_tags(Resource=res[:-12] + "000000000000")
    assert err(e)[0] == "ResourceNotFoundException"


def test_throttled_invocations_wait_without_using_retries(server):
    ddb, lam, arn = setup(server)
    lam.put_function_concurrency(FunctionName="sinker", ReservedConcurrentExecutions=0)
    m = mapping(lam, arn, MaximumRetryAttempts=0)
    put(ddb, "a")
    # Every invocation is throttled: nothing arrives ...
    assert not wait_until(lambda: len(deliveries(ddb)[2]) > 0, 2)
    lam.delete_function_concurrency(FunctionName="sinker")
    # ... and the record was not given up (no retries allowed) but waited for.
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 1, 30)
    assert keys_delivered(ddb) == [("INSERT", "a")]
    assert wait_until(lambda: lam.get_event_source_mapping(UUID=m["UUID"])["LastProcessingResult"] == "OK", 10)


def test_a_deleted_function_is_reported(server):
    ddb, lam, arn = setup(server)
    m = mapping(lam, arn)
    lam.delete_function(FunctionName="sinker")
    put(ddb, "a")
    problem = "PROBLEM: Function not found: arn:aws:lambda:us-east-1:000000000000:function:sinker"
    assert wait_until(lambda: lam.get_event_source_mapping(UUID=m["UUID"])["LastProcessingResult"] == problem, 10)
    # The mapping outlives its function (as on AWS); the record waits for a new one.
    create(lam, "sinker", {"index.py": SINK_CODE}, Timeout=30, Environment={"Variables": {"SINK": "sink"}})
    assert wait_until(lambda: len(deliveries(ddb)[0]) == 1, 60)
