"""DynamoDB on-demand backups and point-in-time recovery against the real binary, with boto3."""

import datetime
import math
import time

import pytest
from botocore.exceptions import ClientError


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def s(v):
    return {"S": v}


def n(v):
    return {"N": str(v)}


def make_table(ddb, name, gsi=True, lsi=False, billing="PAY_PER_REQUEST"):
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}]
    kwargs = {}
    if gsi:
        attrs.append({"AttributeName": "g", "AttributeType": "S"})
        kwargs["GlobalSecondaryIndexes"] = [{
            "IndexName": "byG",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }]
    if lsi:
        attrs.append({"AttributeName": "l", "AttributeType": "S"})
        kwargs["LocalSecondaryIndexes"] = [{
            "IndexName": "byL",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }]
    if billing == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = {"ReadCapacityUnits": 50, "WriteCapacityUnits": 50}
        for g in kwargs.get("GlobalSecondaryIndexes", []):
            g["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=attrs,
        BillingMode=billing,
        **kwargs,
    )


def scan_all(ddb, name, **kw):
    items, start = [], None
    while True:
        args = dict(TableName=name, **kw)
        if start:
            args["ExclusiveStartKey"] = start
        page = ddb.scan(**args)
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def keys(items):
    return sorted((i["pk"]["S"], int(i["sk"]["N"])) for i in items)


# ---------------------------------------------------------------- on-demand backups

def test_backup_is_a_consistent_copy_and_restores_into_a_new_table(server):
    ddb = server.client("dynamodb")
    make_table(ddb, "Src", lsi=True)
    for i in range(30):
        ddb.put_item(TableName="Src", Item={"pk": s(f"p{i % 3}"), "sk": n(i), "g": s(f"g{i % 2}"), "l": s(f"l{i}"), "v": n(i)})
    b = ddb.create_backup(TableName="Src", BackupName="before-change")["BackupDetails"]
    assert b["BackupName"] == "before-change"
    assert b["BackupStatus"] == "AVAILABLE"
    assert b["BackupType"] == "USER"
    assert b["BackupArn"].startswith("arn:aws:dynamodb:us-east-1:000000000000:table/Src/backup/")
    assert b["BackupSizeBytes"] > 0
    # Changes after the backup are not in it.
    for i in range(10):
        ddb.delete_item(TableName="Src", Key={"pk": s(f"p{i % 3}"), "sk": n(i)})
    ddb.put_item(TableName="Src", Item={"pk": s("late"), "sk": n(1)})

    d = ddb.describe_backup(BackupArn=b["BackupArn"])["BackupDescription"]
    assert d["BackupDetails"]["BackupArn"] == b["BackupArn"]
    assert d["SourceTableDetails"]["TableName"] == "Src"
    assert d["SourceTableDetails"]["ItemCount"] == 30
    assert d["SourceTableDetails"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [g["IndexName"] for g in d["SourceTableFeatureDetails"]["GlobalSecondaryIndexes"]] == ["byG"]
    assert [l["IndexName"] for l in d["SourceTableFeatureDetails"]["LocalSecondaryIndexes"]] == ["byL"]

    t = ddb.restore_table_from_backup(TargetTableName="Restored", BackupArn=b["BackupArn"])["TableDescription"]
    assert t["TableName"] == "Restored"
    assert t["RestoreSummary"]["SourceBackupArn"] == b["BackupArn"]
    assert t["RestoreSummary"]["SourceTableArn"].endswith(":table/Src")
    assert t["RestoreSummary"]["RestoreInProgress"] is False
    ddb.get_waiter("table_exists").wait(TableName="Restored", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    restored = scan_all(ddb, "Restored")
    assert keys(restored) == sorted((f"p{i % 3}", i) for i in range(30))
    desc = ddb.describe_table(TableName="Restored")["Table"]
    assert desc["ItemCount"] == 30
    assert desc["RestoreSummary"]["SourceBackupArn"] == b["BackupArn"]
    # Indexes came back, filled.
    q = ddb.query(TableName="Restored", IndexName="byG", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": s("g1")})
    assert q["Count"] == 15
    q = ddb.query(TableName="Restored", IndexName="byL", KeyConditionExpression="pk = :p AND l = :l",
                  ExpressionAttributeValues={":p": s("p0"), ":l": s("l0")})
    assert q["Count"] == 1
    # The source is untouched.
    assert len(scan_all(ddb, "Src")) == 21
    # The restored table is an ordinary table.
    ddb.put_item(TableName="Restored", Item={"pk": s("new"), "sk": n(0)})
    assert ddb.get_item(TableName="Restored", Key={"pk": s("new"), "sk": n(0)})["Item"]["pk"] == s("new")


def test_list_backups_filters_and_pages(server):
    ddb = server.client("dynamodb")
    make_table(ddb, "TabA", gsi=False)
    make_table(ddb, "TabB", gsi=False)
    arns = []
    for i in range(3):
        arns.append(ddb.create_backup(TableName="TabA", BackupName=f"a-{i}")["BackupDetails"]["BackupArn"])
    # botocore sends timestamps in whole seconds: put the bound on a second boundary.
    t0 = time.time()
    time.sleep(math.ceil(t0) - t0 + 0.01)
    mid = datetime.datetime.fromtimestamp(math.ceil(t0), datetime.timezone.utc)
    arns.append(ddb.create_backup(TableName="TabB", BackupName="b-0")["BackupDetails"]["BackupArn"])

    every = ddb.list_backups()["BackupSummaries"]
    assert [x["BackupArn"] for x in every] == arns
    assert {x["TableName"] for x in every} == {"TabA", "TabB"}
    assert ddb.list_backups(BackupType="ALL")["BackupSummaries"] == every
    assert ddb.list_backups(BackupType="SYSTEM")["BackupSummaries"] == []
    assert [x["BackupName"] for x in ddb.list_backups(TableName="TabA")["BackupSummaries"]] == ["a-0", "a-1", "a-2"]
    assert [x["BackupName"] for x in ddb.list_backups(TimeRangeLowerBound=mid)["BackupSummaries"]] == ["b-0"]
    assert [x["BackupName"] for x in ddb.list_backups(TimeRangeUpperBound=mid)["BackupSummaries"]] == ["a-0", "a-1", "a-2"]

    page = ddb.list_backups(Limit=2)
    assert [x["BackupArn"] for x in page["BackupSummaries"]] == arns[:2]
    assert page["LastEvaluatedBackupArn"] == arns[1]
    page = ddb.list_backups(Limit=2, ExclusiveStartBackupArn=page["LastEvaluatedBackupArn"])
    assert [x["BackupArn"] for x in page["BackupSummaries"]] == arns[2:]
    assert "LastEvaluatedBackupArn" not in page

    gone = ddb.delete_backup(BackupArn=arns[0])["BackupDescription"]
    assert gone["BackupDetails"]["BackupStatus"] == "DELETED"
    assert [x["BackupArn"] for x in ddb.list_backups()["BackupSummaries"]] == arns[1:]
    with pytest.raises(ClientError) as e:
        ddb.describe_backup(BackupArn=arns[0])
    assert err(e) == ("BackupNotFoundException", f"Backup not found: {arns[0]}")
    with pytest.raises(ClientError) as e:
        ddb.delete_backup(BackupArn=arns[0])
    assert err(e)[0] == "BackupNotFoundException"


def test_backup_and_restore_errors(server):
    ddb = server.client("dynamodb")
    raw = server.client("dynamodb", validate=False)
    with pytest.raises(ClientError) as e:
        ddb.create_backup(TableName="Nope", BackupName="x-1")
    assert err(e) == ("TableNotFoundException", "Table not found: Nope")
    make_table(ddb, "Tab", gsi=False)
    arn = ddb.create_backup(TableName="Tab", BackupName="bk1")["BackupDetails"]["BackupArn"]
    with pytest.raises(ClientError) as e:
        ddb.restore_table_from_backup(TargetTableName="Tab", BackupArn=arn)
    assert err(e) == ("TableAlreadyExistsException", "Table already exists: Tab")
    bogus = arn[:-8] + "00000000"
    with pytest.raises(ClientError) as e:
        ddb.restore_table_from_backup(TargetTableName="Tab2", BackupArn=bogus)
    assert err(e) == ("BackupNotFoundException", f"Backup not found: {bogus}")
    with pytest.raises(ClientError) as e:
        raw.create_backup(TableName="Tab", BackupName="x")  # shorter than 3
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.restore_table_from_backup(TargetTableName="Tab3", BackupArn=arn, BillingModeOverride="PROVISIONED")
    assert err(e)[0] == "ValidationException"
    # Nothing was left behind by the refused restores.
    assert ddb.list_tables()["TableNames"] == ["Tab"]


def test_restore_overrides(server):
    ddb = server.client("dynamodb")
    make_table(ddb, "Tab", billing="PROVISIONED")
    for i in range(5):
        ddb.put_item(TableName="Tab", Item={"pk": s("p"), "sk": n(i), "g": s("x"), "h": s(f"h{i % 2}")})
    arn = ddb.create_backup(TableName="Tab", BackupName="bk-overrides")["BackupDetails"]["BackupArn"]
    t = ddb.restore_table_from_backup(
        TargetTableName="OnDemand", BackupArn=arn, BillingModeOverride="PAY_PER_REQUEST",
        GlobalSecondaryIndexOverride=[],
        SSESpecificationOverride={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "my-key"},
    )["TableDescription"]
    assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "GlobalSecondaryIndexes" not in t
    assert t["SSEDescription"]["Status"] == "ENABLED"
    assert t["SSEDescription"]["KMSMasterKeyArn"].endswith(":key/my-key")
    assert [a["AttributeName"] for a in t["AttributeDefinitions"]] == ["pk", "sk"]
    t = ddb.restore_table_from_backup(
        TargetTableName="More", BackupArn=arn,
        ProvisionedThroughputOverride={"ReadCapacityUnits": 7, "WriteCapacityUnits": 8},
    )["TableDescription"]
    assert t["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert t["ProvisionedThroughput"]["WriteCapacityUnits"] == 8
    assert t["GlobalSecondaryIndexes"][0]["IndexName"] == "byG"
    q = ddb.query(TableName="More", IndexName="byG", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": s("x")})
    assert q["Count"] == 5


def test_backups_survive_kill9(server_factory):
    srv = server_factory()
    ddb = srv.client("dynamodb")
    make_table(ddb, "Tab", gsi=False)
    for i in range(20):
        ddb.put_item(TableName="Tab", Item={"pk": s("p"), "sk": n(i)})
    arn = ddb.create_backup(TableName="Tab", BackupName="durable")["BackupDetails"]["BackupArn"]
    srv.kill9()
    srv2 = server_factory(data_dir=srv.data_dir)
    ddb = srv2.client("dynamodb")
    assert [x["BackupArn"] for x in ddb.list_backups()["BackupSummaries"]] == [arn]
    ddb.restore_table_from_backup(TargetTableName="Back", BackupArn=arn)
    assert len(scan_all(ddb, "Back")) == 20


# ---------------------------------------------------------------- point-in-time recovery

def enable_pitr(ddb, name, days=None):
    spec = {"PointInTimeRecoveryEnabled": True}
    if days is not None:
        spec["RecoveryPeriodInDays"] = days
    return ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=spec)["ContinuousBackupsDescription"]


def test_continuous_backups_settings(server):
    ddb = server.client("dynamodb")
    make_table(ddb, "Tab", gsi=False)
    d = ddb.describe_continuous_backups(TableName="Tab")["ContinuousBackupsDescription"]
    assert d == {"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}
    d = enable_pitr(ddb, "Tab")
    p = d["PointInTimeRecoveryDescription"]
    assert p["PointInTimeRecoveryStatus"] == "ENABLED"
    assert p["RecoveryPeriodInDays"] == 35
    assert p["EarliestRestorableDateTime"] <= p["LatestRestorableDateTime"]
    p = enable_pitr(ddb, "Tab", days=7)["PointInTimeRecoveryDescription"]
    assert p["RecoveryPeriodInDays"] == 7
    assert ddb.describe_continuous_backups(TableName="Tab")["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 7
    # Unspecified means the default, 35 days; the window keeps its start.
    p2 = enable_pitr(ddb, "Tab")["PointInTimeRecoveryDescription"]
    assert p2["RecoveryPeriodInDays"] == 35
    assert p2["EarliestRestorableDateTime"] == p["EarliestRestorableDateTime"]
    raw = server.client("dynamodb", validate=False)
    with pytest.raises(ClientError) as e:
        enable_pitr(raw, "Tab", days=36)
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        enable_pitr(raw, "Tab", days=0)
    assert err(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        ddb.describe_continuous_backups(TableName="Nope")
    assert err(e) == ("TableNotFoundException", "Table not found: Nope")
    with pytest.raises(ClientError) as e:
        enable_pitr(ddb, "Nope")
    assert err(e)[0] == "TableNotFoundException"
    d = ddb.update_continuous_backups(TableName="Tab", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    assert d["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "DISABLED"}


def test_restore_to_a_second_before_a_destructive_batch(server):
    ddb = server.client("dynamodb")
    make_table(ddb, "Orders")
    ddb.put_item(TableName="Orders", Item={"pk": s("before"), "sk": n(0), "g": s("x")})
    enable_pitr(ddb, "Orders")
    for i in range(25):
        ddb.put_item(TableName="Orders", Item={"pk": s("o"), "sk": n(i), "g": s("x"), "v": n(1)})
    ddb.update_item(TableName="Orders", Key={"pk": s("o"), "sk": n(3)}, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": n(2)})
    time.sleep(1.1)
    good = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(1.1)
    # The destructive batch: delete everything, overwrite one, add junk.
    ddb.batch_write_item(RequestItems={"Orders": [{"DeleteRequest": {"Key": {"pk": s("o"), "sk": n(i)}}} for i in range(25)]})
    ddb.delete_item(TableName="Orders", Key={"pk": s("before"), "sk": n(0)})
    ddb.put_item(TableName="Orders", Item={"pk": s("junk"), "sk": n(1)})
    assert keys(scan_all(ddb, "Orders")) == [("junk", 1)]

    t = ddb.restore_table_to_point_in_time(SourceTableName="Orders", TargetTableName="OrdersBack", RestoreDateTime=good)["TableDescription"]
    assert t["RestoreSummary"]["SourceTableArn"].endswith(":table/Orders")
    # botocore sends whole seconds.
    assert t["RestoreSummary"]["RestoreDateTime"].timestamp() == int(good.timestamp())
    back = scan_all(ddb, "OrdersBack")
    assert keys(back) == [("before", 0)] + [("o", i) for i in range(25)]
    assert {i["sk"]["N"]: i.get("v", {}).get("N") for i in back if i["pk"] == s("o")}["3"] == "2"
    assert ddb.query(TableName="OrdersBack", IndexName="byG", KeyConditionExpression="g = :g",
                     ExpressionAttributeValues={":g": s("x")})["Count"] == 26
    # The source stays as it is; the latest restorable time gives the current state.
    assert keys(scan_all(ddb, "Orders")) == [("junk", 1)]
    ddb.restore_table_to_point_in_time(SourceTableName="Orders", TargetTableName="Now", UseLatestRestorableTime=True)
    assert keys(scan_all(ddb, "Now")) == [("junk", 1)]
    # By ARN too.
    arn = ddb.describe_table(TableName="Orders")["Table"]["TableArn"]
    ddb.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="ByArn", RestoreDateTime=good)
    assert len(scan_all(ddb, "ByArn")) == 26


def test_restore_time_out_of_window_and_other_errors(server):
    ddb = server.client("dynamodb")
    make_table(ddb, "Tab", gsi=False)
    with pytest.raises(ClientError) as e:
        ddb.restore_table_to_point_in_time(SourceTableName="Tab", TargetTableName="Xyz", UseLatestRestorableTime=True)
    assert err(e) == ("PointInTimeRecoveryUnavailableException", "Point in time recovery is not enabled for table 'Tab'")
    p = enable_pitr(ddb, "Tab")["PointInTimeRecoveryDescription"]
    for when in (p["EarliestRestorableDateTime"] - datetime.timedelta(seconds=5),
                 datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)):
        with pytest.raises(ClientError) as e:
            ddb.restore_table_to_point_in_time(SourceTableName="Tab", TargetTableName="Xyz", RestoreDateTime=when)
        code, msg = err(e)
        assert code == "InvalidRestoreTimeException"
        assert "RestoreDateTime must be between EarliestRestorableDateTime and LatestRestorableDateTime" in msg
    with pytest.raises(ClientError) as e:
        ddb.restore_table_to_point_in_time(SourceTableName="Nope", TargetTableName="Xyz", UseLatestRestorableTime=True)
    assert err(e) == ("TableNotFoundException", "Table not found: Nope")
    with pytest.raises(ClientError) as e:
        ddb.restore_table_to_point_in_time(SourceTableName="Tab", TargetTableName="Tab", UseLatestRestorableTime=True)
    assert err(e) == ("TableAlreadyExistsException", "Table already exists: Tab")
    assert ddb.list_tables()["TableNames"] == ["Tab"]
    # Disabling drops the history: restoring is unavailable again, and re-enabling
    # starts a new window.
    ddb.update_continuous_backups(TableName="Tab", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    with pytest.raises(ClientError) as e:
        ddb.restore_table_to_point_in_time(SourceTableName="Tab", TargetTableName="Xyz", UseLatestRestorableTime=True)
    assert err(e)[0] == "PointInTimeRecoveryUnavailableException"
    p2 = enable_pitr(ddb, "Tab")["PointInTimeRecoveryDescription"]
    assert p2["EarliestRestorableDateTime"] > p["EarliestRestorableDateTime"]


def test_point_in_time_restore_after_kill9(server_factory):
    srv = server_factory()
    ddb = srv.client("dynamodb")
    make_table(ddb, "Tab", gsi=False)
    enable_pitr(ddb, "Tab")
    for i in range(10):
        ddb.put_item(TableName="Tab", Item={"pk": s("p"), "sk": n(i)})
    time.sleep(1.1)
    good = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(1.1)
    for i in range(10):
        ddb.delete_item(TableName="Tab", Key={"pk": s("p"), "sk": n(i)})
    srv.kill9()
    srv2 = server_factory(data_dir=srv.data_dir)
    ddb = srv2.client("dynamodb")
    p = ddb.describe_continuous_backups(TableName="Tab")["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert p["PointInTimeRecoveryStatus"] == "ENABLED"
    ddb.restore_table_to_point_in_time(SourceTableName="Tab", TargetTableName="Back", RestoreDateTime=good)
    assert keys(scan_all(ddb, "Back")) == [("p", i) for i in range(10)]
    assert scan_all(ddb, "Tab") == []


def test_deleting_a_table_with_pitr_keeps_a_system_backup(server):
    ddb = server.client("dynamodb")
    make_table(ddb, "Gone", gsi=False)
    make_table(ddb, "Plain", gsi=False)
    for i in range(7):
        ddb.put_item(TableName="Gone", Item={"pk": s("p"), "sk": n(i)})
    enable_pitr(ddb, "Gone")
    ddb.delete_table(TableName="Gone")
    ddb.delete_table(TableName="Plain")
    assert ddb.list_backups()["BackupSummaries"] == []
    sysb = ddb.list_backups(BackupType="SYSTEM")["BackupSummaries"]
    assert [b["BackupName"] for b in sysb] == ["Gone$DeletedTableBackup"]
    assert sysb[0]["BackupType"] == "SYSTEM"
    assert sysb[0]["TableName"] == "Gone"
    days = (sysb[0]["BackupExpiryDateTime"] - sysb[0]["BackupCreationDateTime"]).total_seconds() / 86400
    assert round(days) == 35
    assert ddb.list_backups(BackupType="ALL")["BackupSummaries"] == sysb
    ddb.restore_table_from_backup(TargetTableName="GoneBack", BackupArn=sysb[0]["BackupArn"])
    assert len(scan_all(ddb, "GoneBack")) == 7
