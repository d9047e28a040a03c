//! Lambda and API Gateway workloads: the functions (no-op handlers that answer a known
//! body, so every answer is checked), warm invokes, and the APIs in front of them.

use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use super::{auth_headers, call, post, rest, spec, State};
use crate::load::{Check, Spec};

/// The role every function names (moto wants it to exist in its IAM; Nimbus does not check).
pub const ROLE: &str = "arn:aws:iam::123456789012:role/bench";

pub fn zip_of(files: &[(&str, &str, u32)]) -> Result<Vec<u8>, String> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        for (name, text, mode) in files {
            let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
            z.start_file(*name, opts).map_err(|e| e.to_string())?;
            z.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        }
        z.finish().map_err(|e| e.to_string())?;
    }
    Ok(buf.into_inner())
}

/// Python handler: answers `{"statusCode": 200, "body": "ok", "n": <calls in this
/// environment>}`; `{"exit": true}` ends the environment (so the next invoke needs a new one).
pub const PYTHON: &str = "import os\nn = 0\ndef handler(event, context):\n    global n\n    if isinstance(event, dict) and event.get('exit'):\n        os._exit(0)\n    n += 1\n    return {'statusCode': 200, 'body': 'ok', 'n': n}\n";
/// The same with an init phase that imports boto3 and json, as many real functions do.
pub const PYTHON_BOTO3: &str = "import os, json\nimport boto3\nn = 0\ndef handler(event, context):\n    global n\n    if isinstance(event, dict) and event.get('exit'):\n        os._exit(0)\n    n += 1\n    return {'statusCode': 200, 'body': 'ok', 'n': n}\n";
pub const NODEJS: &str = "let n = 0;\nexports.handler = async (event) => {\n  if (event && event.exit) process.exit(0);\n  n += 1;\n  return {statusCode: 200, body: 'ok', n};\n};\n";
/// A custom runtime: a shell bootstrap that runs a Runtime API loop in python3 on one
/// kept-alive connection (as real custom runtimes do; a new connection per request would
/// measure the TCP handshakes, not the server).
pub const PROVIDED: &str = r#"#!/bin/sh
exec python3 -c '
import os, json, socket
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
s = socket.create_connection((host, int(port)))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""
def call(method, path, body=b""):
    global buf
    s.sendall(f"{method} /2018-06-01/runtime/{path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, buf = buf.partition(b"\r\n\r\n")
    headers = dict(l.split(": ", 1) for l in head.decode().lower().split("\r\n")[1:])
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        buf += s.recv(65536)
    out, buf = buf[:n], buf[n:]
    return headers, out
n = 0
while True:
    headers, data = call("GET", "invocation/next")
    rid = headers["lambda-runtime-aws-request-id"]
    event = json.loads(data or b"{}")
    if isinstance(event, dict) and event.get("exit"):
        os._exit(0)
    n += 1
    call("POST", f"invocation/{rid}/response", json.dumps({"statusCode": 200, "body": "ok", "n": n}).encode())
'
"#;

/// (runtime, handler, zip) of a function of `kind`: python, python-boto3, nodejs, provided.
pub fn code(kind: &str) -> Result<(String, &'static str, Vec<u8>), String> {
    Ok(match kind {
        "python" => ("python3.12".into(), "index.handler", zip_of(&[("index.py", PYTHON, 0o644)])?),
        "python-boto3" => boto3_bundle()?,
        "nodejs" => ("nodejs20.x".into(), "index.handler", zip_of(&[("index.js", NODEJS, 0o644)])?),
        "provided" => ("provided.al2023".into(), "unused", zip_of(&[("bootstrap", PROVIDED, 0o755)])?),
        other => return Err(format!("no function kind {other}")),
    })
}

/// Packages `import boto3` needs.
const BOTO3_PACKAGES: &[&str] = &["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"];

/// The python-boto3 function: its handler plus boto3 and its dependencies copied from the
/// bench venv (moto depends on boto3), with their compiled bytecode, on the runtime of the
/// venv's interpreter so the bytecode is used. Bundled because Nimbus' python runtimes do
/// not provide boto3 (AWS's do); the import work at init is the same either way.
fn boto3_bundle() -> Result<(String, &'static str, Vec<u8>), String> {
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench/venv/lib");
    let version = std::fs::read_dir(&lib)
        .map_err(|e| format!("no bench venv to take boto3 from ({}: {e})", lib.display()))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .find(|n| n.starts_with("python3."))
        .ok_or("no python in the bench venv")?;
    let site = lib.join(&version).join("site-packages");
    let mut files = Vec::new();
    for p in BOTO3_PACKAGES {
        collect(&site, &site.join(p), &mut files)?;
    }
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
        z.start_file("index.py", opts).map_err(|e| e.to_string())?;
        z.write_all(PYTHON_BOTO3.as_bytes()).map_err(|e| e.to_string())?;
        for (name, path) in files {
            let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            // Each file keeps its exact mtime (an Info-ZIP "UT" field, as `zip -r` writes)
            // so the bundled __pycache__ bytecode matches its sources once unpacked.
            let mtime = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as u32);
            let mut file_opts: zip::write::FullFileOptions = zip::write::FileOptions::default().unix_permissions(0o644);
            let mut ut = vec![1u8];
            ut.extend_from_slice(&mtime.to_le_bytes());
            file_opts.add_extra_data(0x5455, ut.into_boxed_slice(), false).map_err(|e| e.to_string())?;
            z.start_file(name, file_opts).map_err(|e| e.to_string())?;
            z.write_all(&data).map_err(|e| e.to_string())?;
        }
        z.finish().map_err(|e| e.to_string())?;
    }
    Ok((version, "index.handler", buf.into_inner()))
}

/// Every file under `path` as (name relative to `base`, path).
fn collect(base: &std::path::Path, path: &std::path::Path, out: &mut Vec<(String, std::path::PathBuf)>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("boto3 bundle: {}: {e}", path.display()))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(|e| e.to_string())?.flatten() {
            collect(base, &entry.path(), out)?;
        }
    } else {
        let name = path.strip_prefix(base).map_err(|e| e.to_string())?.to_string_lossy().to_string();
        out.push((name, path.to_path_buf()));
    }
    Ok(())
}

/// Whether an invoke answer is the handler's: no function error, status 200 and body "ok".
pub fn invoke_ok(headers: &http::HeaderMap, body: &[u8]) -> Option<u64> {
    if headers.contains_key("x-amz-function-error") {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    if v["statusCode"] != 200 || v["body"] != "ok" {
        return None;
    }
    v["n"].as_u64()
}

pub fn invoke_path(function: &str) -> String {
    format!("/2015-03-31/functions/{function}/invocations")
}

/// Creates a function of `kind` named `name`; `extra` is merged into the request.
pub async fn create_function(addr: &str, name: &str, kind: &str, extra: Value) -> Result<(), String> {
    let (runtime, handler, zip) = code(kind)?;
    let mut body = json!({"FunctionName": name, "Runtime": runtime, "Handler": handler, "Role": ROLE,
                          "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)}, "Timeout": 30});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    call(addr, Method::POST, "/2015-03-31/functions", rest("lambda"), body).await?;
    Ok(())
}

/// Invokes `name` once (setup use) and checks the answer.
pub async fn invoke_once(addr: &str, name: &str) -> Result<u64, String> {
    let (a, _) = crate::load::Client::new(addr).send(Method::POST, &invoke_path(name), &rest("lambda"), Bytes::from_static(b"{}")).await?;
    if a.status >= 300 {
        return Err(format!("Invoke {name} answered {}: {}", a.status, crate::load::snippet(&a.body)));
    }
    invoke_ok(&a.headers, &a.body).ok_or_else(|| format!("Invoke {name} answered a wrong body: {}", crate::load::snippet(&a.body)))
}

/// Best effort: the role in the peer's IAM (moto refuses functions whose role it does not
/// know; Nimbus does not check roles and answers IAM with "not implemented").
pub async fn create_role(addr: &str) {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let body = format!("Action=CreateRole&Version=2010-05-08&RoleName=bench&AssumeRolePolicyDocument={}", urlencode(policy));
    let mut headers = auth_headers("iam");
    headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    let _ = crate::load::once(addr, Method::POST, "/", &headers, Bytes::from(body)).await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// No-op functions `noop-python`, `noop-nodejs`, `noop-provided`, each warmed with as
/// many environments as the widest workload has clients (cold starts are their own rows).
pub async fn setup_functions(addr: &str) -> Result<(), String> {
    create_role(addr).await;
    for kind in ["python", "nodejs", "provided"] {
        let name = format!("noop-{kind}");
        // One full vCPU (1,769 MB, as on AWS): at 128 MB the cgroup CPU quota (7% of a
        // core, as AWS gives) would throttle the no-op itself.
        create_function(addr, &name, kind, json!({"MemorySize": 1769})).await?;
        let mut warming = Vec::new();
        for _ in 0..32 {
            let (addr, name) = (addr.to_string(), name.clone());
            warming.push(tokio::spawn(async move { invoke_once(&addr, &name).await }));
        }
        for w in warming {
            w.await.map_err(|e| e.to_string())??;
        }
    }
    Ok(())
}

/// A REST API (`{proxy+}` ANY → AWS_PROXY) and an HTTP API (quick create) in front of
/// `noop-python`, which lets API Gateway invoke it.
pub async fn setup_apis(addr: &str, state: &mut State) -> Result<(), String> {
    let function = call(addr, Method::GET, "/2015-03-31/functions/noop-python", rest("lambda"), Value::Null).await?;
    let arn = function["Configuration"]["FunctionArn"].as_str().ok_or("GetFunction gave no FunctionArn")?.to_string();
    call(addr, Method::POST, "/2015-03-31/functions/noop-python/policy", rest("lambda"),
         json!({"StatementId": "bench-apigateway", "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com"})).await?;
    let uri = format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations");
    let api = call(addr, Method::POST, "/restapis", rest("apigateway"), json!({"name": "bench"})).await?;
    let id = api["id"].as_str().ok_or("CreateRestApi gave no id")?.to_string();
    let resources = call(addr, Method::GET, &format!("/restapis/{id}/resources"), rest("apigateway"), Value::Null).await?;
    let root = resources["item"].as_array().and_then(|a| a.first()).and_then(|r| r["id"].as_str()).ok_or("no root resource")?.to_string();
    let proxy = call(addr, Method::POST, &format!("/restapis/{id}/resources/{root}"), rest("apigateway"), json!({"pathPart": "{proxy+}"})).await?;
    let pid = proxy["id"].as_str().ok_or("CreateResource gave no id")?.to_string();
    call(addr, Method::PUT, &format!("/restapis/{id}/resources/{pid}/methods/ANY"), rest("apigateway"), json!({"authorizationType": "NONE"})).await?;
    call(addr, Method::PUT, &format!("/restapis/{id}/resources/{pid}/methods/ANY/integration"), rest("apigateway"),
         json!({"type": "AWS_PROXY", "httpMethod": "POST", "uri": uri})).await?;
    call(addr, Method::POST, &format!("/restapis/{id}/deployments"), rest("apigateway"), json!({"stageName": "bench"})).await?;
    state.rest_api_id = Some(id);
    let http = call(addr, Method::POST, "/v2/apis", rest("apigateway"), json!({"name": "bench", "protocolType": "HTTP", "target": arn})).await?;
    state.http_api_id = Some(http["apiId"].as_str().ok_or("CreateApi gave no apiId")?.to_string());
    Ok(())
}

pub fn invoke(function: &str) -> Option<Arc<Spec>> {
    let check: Check = Arc::new(|_, _, h, body| invoke_ok(h, body).is_some());
    post(&invoke_path(function), rest("lambda"), |_| Bytes::from_static(b"{}"), check)
}

fn api_get(path: String) -> Option<Arc<Spec>> {
    let check: Check = Arc::new(|_, status, _, body| status == 200 && body == b"ok");
    spec(Method::GET, move |_| path.clone(), vec![], |_| Bytes::new(), Some(check))
}

pub fn rest_api(s: &State) -> Option<Arc<Spec>> {
    let id = s.rest_api_id.clone()?;
    api_get(format!("/restapis/{id}/bench/_user_request_/hello"))
}

pub fn http_api(s: &State) -> Option<Arc<Spec>> {
    let id = s.http_api_id.clone()?;
    api_get(format!("/restapis/{id}/$default/_user_request_/hello"))
}
