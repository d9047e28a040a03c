"""image-resize: an upload to input/<name>.jpg becomes a thumbnail at output/<name>.jpg.

S3 invokes this function asynchronously with an event notification; the bucket's
configuration filters on the prefix `input/` and the suffix `.jpg`, so nothing else
reaches it (it checks anyway, so a misconfigured trigger cannot make it loop on its
own output).
"""

import io
import os
import urllib.parse
import urllib.request

from PIL import Image

# Longest side of a thumbnail, in pixels.
THUMBNAIL_SIZE = int(os.environ.get("THUMBNAIL_SIZE", "128"))
ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "")

try:
    # AWS's Python runtimes ship boto3; Nimbus's use the host's interpreter, which
    # may not have it. Without it, plain HTTP to the endpoint Nimbus passes in
    # AWS_ENDPOINT_URL does the same (signatures are not checked on loopback).
    import boto3

    _s3 = boto3.client("s3", endpoint_url=ENDPOINT or None)

    def get_object(bucket, key):
        return _s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def put_object(bucket, key, data, content_type):
        _s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

except ImportError:

    def _url(bucket, key):
        return f"{ENDPOINT.rstrip('/')}/{bucket}/{urllib.parse.quote(key)}"

    def get_object(bucket, key):
        with urllib.request.urlopen(_url(bucket, key)) as r:
            return r.read()

    def put_object(bucket, key, data, content_type):
        req = urllib.request.Request(_url(bucket, key), data=data, method="PUT",
                                     headers={"Content-Type": content_type})
        with urllib.request.urlopen(req) as r:
            r.read()


def thumbnail(data):
    """The JPEG thumbnail of an image: at most THUMBNAIL_SIZE on its longest side."""
    with Image.open(io.BytesIO(data)) as img:
        img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        out = io.BytesIO()
        img.convert("RGB").save(out, "JPEG", quality=85)
        return out.getvalue(), img.size


def handler(event, context):
    done = []
    for record in event.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated:"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        # Keys arrive form-URL-encoded (a space is '+').
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        print(f"received {record['eventName']} for s3://{bucket}/{key}")
        if not (key.startswith("input/") and key.endswith(".jpg")):
            continue
        data, size = thumbnail(get_object(bucket, key))
        target = "output/" + key[len("input/"):]
        put_object(bucket, target, data, "image/jpeg")
        print(f"resized s3://{bucket}/{key} to s3://{bucket}/{target} ({size[0]}x{size[1]})")
        done.append(target)
    return {"thumbnails": done}
