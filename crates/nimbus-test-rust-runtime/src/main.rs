//! A function for the `provided.al2023` runtime written with AWS's own `lambda_runtime`
//! crate: `tests/e2e/test_lambda_clients.py` zips this binary as `bootstrap`, so the
//! official Rust client drives Nimbus' Runtime API (next, response, error).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, ctx) = event.into_parts();
    if payload.get("fail").and_then(Value::as_bool) == Some(true) {
        return Err("asked to fail".into());
    }
    Ok(json!({
        "echo": payload,
        "request_id": ctx.request_id,
        "invoked_function_arn": ctx.invoked_function_arn,
        "deadline_ms": ctx.deadline,
        "function_name": std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        "client_context": ctx.client_context.map(|c| c.custom),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
