"""Nimbus' Python runtime: a Lambda Runtime API client.

Started once per execution environment with `_HANDLER=module.function`, it imports the
handler module from LAMBDA_TASK_ROOT once (the init phase), then loops on
`GET /2018-06-01/runtime/invocation/next`, calls the handler with the event and a context
object, and posts the result (or the error as {"errorMessage", "errorType",
"stackTrace"}). Standard library only, so it works on every interpreter 3.9+.
"""

import http.client
import importlib
import json
import os
import sys
import time
import traceback

API = os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
HOST, _, PORT = API.partition(":")
PREFIX = "/2018-06-01/runtime"

_conn = None


def _request(method, path, body=None, headers=None):
    global _conn
    for attempt in range(2):
        if _conn is None:
            _conn = http.client.HTTPConnection(HOST, int(PORT or 80))
        try:
            _conn.request(method, PREFIX + path, body=body, headers=headers or {})
            resp = _conn.getresponse()
            data = resp.read()
            return resp.status, resp.headers, data
        except (http.client.HTTPException, OSError):
            try:
                _conn.close()
            except Exception:
                pass
            _conn = None
            if attempt == 1:
                raise


def _error_payload(exc, error_type=None):
    tb = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list(tb),
    }


def _post_error(path, payload):
    body = json.dumps(payload).encode()
    _request(
        "POST",
        path,
        body=body,
        headers={
            "Content-Type": "application/vnd.aws.lambda.error+json",
            "Lambda-Runtime-Function-Error-Type": payload.get("errorType", "Unhandled"),
        },
    )


class CognitoIdentity:
    def __init__(self, data):
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class Client:
    def __init__(self, data):
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    def __init__(self, data):
        self.client = Client(data.get("client") or {}) if data.get("client") else None
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    def __init__(self, request_id, deadline_ms, arn, client_context, identity):
        self.aws_request_id = request_id
        self._deadline_ms = deadline_ms
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = CognitoIdentity(identity or {})

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


def _load_handler():
    spec = os.environ.get("_HANDLER", "")
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    modname, _, funcname = spec.rpartition(".")
    if not modname or not funcname:
        return None, {
            "errorMessage": f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)",
            "errorType": "Runtime.MalformedHandlerName",
            "requestId": "",
            "stackTrace": [],
        }
    modname = modname.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        return None, {
            "errorMessage": f"Unable to import module '{modname}': {e}",
            "errorType": "Runtime.ImportModuleError",
            "requestId": "",
            "stackTrace": [],
        }
    except SyntaxError as e:
        return None, {
            "errorMessage": f"Syntax error in module '{modname}': {e}",
            "errorType": "Runtime.UserCodeSyntaxError",
            "requestId": "",
            "stackTrace": [],
        }
    except Exception as e:
        return None, _error_payload(e)
    fn = getattr(module, funcname, None)
    if fn is None:
        return None, {
            "errorMessage": f"Handler '{funcname}' missing on module '{modname}'",
            "errorType": "Runtime.HandlerNotFound",
            "requestId": "",
            "stackTrace": [],
        }
    return fn, None


def main():
    handler, init_error = _load_handler()
    if init_error is not None:
        print(f"[ERROR] {init_error['errorType']}: {init_error['errorMessage']}", file=sys.stderr, flush=True)
        try:
            _post_error("/init/error", init_error)
        finally:
            sys.exit(1)
    while True:
        status, headers, body = _request("GET", "/invocation/next")
        if status != 200:
            sys.exit(0)
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        deadline = int(headers.get("Lambda-Runtime-Deadline-Ms", "0") or 0)
        arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        cc = headers.get("Lambda-Runtime-Client-Context")
        ci = headers.get("Lambda-Runtime-Cognito-Identity")
        try:
            client_context = json.loads(cc) if cc else None
        except ValueError:
            client_context = None
        try:
            identity = json.loads(ci) if ci else None
        except ValueError:
            identity = None
        ctx = LambdaContext(request_id, deadline, arn, client_context, identity)
        try:
            event = json.loads(body) if body else {}
        except ValueError as e:
            _post_error(f"/invocation/{request_id}/error", {
                "errorMessage": f"Unable to unmarshal input: {e}",
                "errorType": "Runtime.UnmarshalError",
                "requestId": request_id,
                "stackTrace": [],
            })
            continue
        try:
            result = handler(event, ctx)
            try:
                out = json.dumps(result).encode()
            except (TypeError, ValueError) as e:
                _post_error(f"/invocation/{request_id}/error", {
                    "errorMessage": f"Unable to marshal response: {e}",
                    "errorType": "Runtime.MarshalError",
                    "requestId": request_id,
                    "stackTrace": [],
                })
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            _request("POST", f"/invocation/{request_id}/response", body=out,
                     headers={"Content-Type": "application/json"})
        except Exception as e:
            payload = _error_payload(e)
            payload["requestId"] = request_id
            print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr)
            for line in traceback.format_exception(type(e), e, e.__traceback__):
                sys.stderr.write(line)
            sys.stdout.flush()
            sys.stderr.flush()
            _post_error(f"/invocation/{request_id}/error", payload)


if __name__ == "__main__":
    main()
