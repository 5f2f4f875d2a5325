//! Lambda: SQS → one seller run per message, partial batch failures for retryable errors.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use marketbill_lambda::{Config, aws_services, seller_run};

// See the workspace Cargo.toml: a document is many small allocations, which mimalloc makes cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// One thread: Lambda gives an instance one event at a time, and the use cases are sequential.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let services = aws_services(&Config::from_env()?).await?;
    lambda_runtime::run(service_fn(|e: LambdaEvent<SqsEvent>| seller_run(&services, e))).await
}
