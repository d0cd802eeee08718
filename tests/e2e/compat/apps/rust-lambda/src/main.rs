// A function as the lambda_runtime README shows one: service_fn over a JSON event.
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn func(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (event, context) = event.into_parts();
    let first_name = event["firstName"].as_str().unwrap_or("world");
    if first_name == "fail" {
        return Err("asked to fail".into());
    }
    println!("rust handler greets {first_name}");
    Ok(json!({
        "message": format!("Hello, {}!", first_name),
        "request_id": context.request_id,
        "function_arn": context.invoked_function_arn,
        "deadline_ms": context.deadline,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(func)).await
}
