"""examples/image-resize built and deployed with its own scripts against the real
binary: a JPEG uploaded to input/ becomes a thumbnail in output/ (Pillow inside the
function's zip, running in the Lambda sandbox); other keys trigger nothing."""

import io
import os
import subprocess
import sys
import time

from PIL import Image

from test_s3_cli import AWS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "image-resize")


def jpeg(width, height):
    img = Image.new("RGB", (width, height))
    img.putdata([(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def run(script, env):
    r = subprocess.run(["bash", os.path.join(EXAMPLE, script)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{script} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def wait_for(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.2)
    return None


def test_image_resize_example(server, tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(tmp_path), AWS=AWS, ENDPOINT=server.endpoint,
               ZIP=str(tmp_path / "function.zip"), BUCKET="photos", FUNCTION="image-resize")
    run("build.sh", env)
    run("deploy.sh", env)
    s3 = server.client("s3")
    logs = server.client("logs")

    s3.put_object(Bucket="photos", Key="input/x.png", Body=jpeg(300, 200))
    s3.put_object(Bucket="photos", Key="other/x.jpg", Body=jpeg(300, 200))
    s3.put_object(Bucket="photos", Key="input/cat photo.jpg", Body=jpeg(640, 480), ContentType="image/jpeg")

    def thumbnail_of(key):
        try:
            return s3.get_object(Bucket="photos", Key=key)
        except s3.exceptions.NoSuchKey:
            return None

    got = wait_for(lambda: thumbnail_of("output/cat photo.jpg"), timeout=60)
    assert got is not None, "no thumbnail in output/"
    assert got["ContentType"] == "image/jpeg"
    with Image.open(io.BytesIO(got["Body"].read())) as img:
        assert img.format == "JPEG"
        assert img.size == (128, 96)

    # The function saw exactly the one matching upload: the others never invoked it.
    def received():
        try:
            events = logs.filter_log_events(logGroupName="/aws/lambda/image-resize", filterPattern='"received"')
        except logs.exceptions.ResourceNotFoundException:
            return None
        return [e["message"].strip() for e in events["events"]] or None

    # A second matching upload, after the others: once its event has been seen, the
    # earlier non-matching uploads would have been too, had they invoked anything.
    s3.put_object(Bucket="photos", Key="input/second.jpg", Body=jpeg(100, 400))
    lines = wait_for(lambda: (r := received()) and len(r) >= 2 and r, timeout=60)
    assert sorted(lines or []) == [
        "received ObjectCreated:Put for s3://photos/input/cat photo.jpg",
        "received ObjectCreated:Put for s3://photos/input/second.jpg",
    ], lines
    got = wait_for(lambda: thumbnail_of("output/second.jpg"), timeout=60)
    with Image.open(io.BytesIO(got["Body"].read())) as img:
        assert img.size == (32, 128)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="photos")["Contents"])
    assert keys == ["input/cat photo.jpg", "input/second.jpg", "input/x.png", "other/x.jpg",
                    "output/cat photo.jpg", "output/second.jpg"]
