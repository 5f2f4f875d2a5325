//! # marketbill-lambda
//!
//! What the Lambda functions share: the configuration read once from the environment, the
//! service set on AWS (DynamoDB, S3, SES v2, SQS, KMS and the Octopia API), and the handlers —
//! thin: parse the event, call a use case of `marketbill-app`, map the result. Errors carry an
//! `error_type` of `Retryable` or `NonRetryable`, visible in the logs and to SQS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Diagnostic, LambdaEvent};
use marketbill_app::ports::{SellerRunMessage, SystemClock};
use marketbill_app::services::{PipelineError, Services, Settings};
use marketbill_aws::{AwsClients, AwsSettings, DynamoLedger, KmsSecretBox, S3Store, SesMailer, SqsQueue};
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use serde_json::{Value, json};

/// The environment a function reads at start-up (set by the SAM template).
#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub bucket: String,
    pub queue_url: String,
    pub kms_key_id: String,
    pub sender: String,
    /// The key of the buyer e-mail hashes (at least 32 characters).
    pub buyer_email_key: Vec<u8>,
    pub configuration_set: Option<String>,
    pub octopia_api_base: String,
    pub octopia_auth_base: String,
    /// An emulator (moto) for tests run outside AWS.
    pub aws_endpoint_url: Option<String>,
    /// Where the portal's pages are reached (`https://…`, no trailing slash): the buyer's page
    /// that invoice mails point to, the sign-in callbacks.
    pub public_url: Option<String>,
    /// The accounts of the sales journal (`ACCOUNTS`, JSON; the French chart by default).
    pub accounts: marketbill_app::accounting::Accounts,
    /// Marketbill's company profile for its fee invoices (`OPERATOR_PROFILE`, JSON in the
    /// seller-profile form); unset: no fee invoice is issued.
    pub operator: Option<marketbill_domain::SellerProfile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("cannot build the marketplace client: {0}")]
    Marketplace(String),
    #[error("cannot build the platform client: {0}")]
    Platform(String),
    #[error("environment variable {0}: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        fn var(name: &'static str) -> Result<String, ConfigError> {
            std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(name))
        }
        let optional = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(Config {
            table: var("TABLE_NAME")?,
            bucket: var("BUCKET_NAME")?,
            queue_url: var("QUEUE_URL")?,
            kms_key_id: var("KMS_KEY_ID")?,
            sender: marketbill_domain::email::parse_address(&var("SENDER_ADDRESS")?)
                .map_err(|e| ConfigError::Invalid("SENDER_ADDRESS", e.to_string()))?,
            buyer_email_key: {
                let key = var("BUYER_EMAIL_KEY")?;
                if key.len() < 32 {
                    return Err(ConfigError::Invalid("BUYER_EMAIL_KEY", "must be at least 32 characters".into()));
                }
                key.into_bytes()
            },
            configuration_set: optional("SES_CONFIGURATION_SET"),
            octopia_api_base: optional("OCTOPIA_API_BASE")
                .unwrap_or_else(|| "https://api.octopia-io.net/seller/v2".into()),
            octopia_auth_base: optional("OCTOPIA_AUTH_BASE").unwrap_or_else(|| "https://auth.octopia-io.net".into()),
            aws_endpoint_url: optional("AWS_ENDPOINT_URL"),
            public_url: match optional("PUBLIC_URL") {
                Some(url)
                    if url.starts_with("https://") && !url.ends_with('/') && !url.contains(char::is_whitespace) =>
                {
                    Some(url)
                }
                Some(url) => {
                    return Err(ConfigError::Invalid(
                        "PUBLIC_URL",
                        format!("{url:?} is not an https:// address without a trailing slash"),
                    ));
                }
                None => None,
            },
            accounts: match optional("ACCOUNTS") {
                Some(json) => marketbill_app::accounting::Accounts::from_json(&json)
                    .map_err(|e| ConfigError::Invalid("ACCOUNTS", e.to_string()))?,
                None => marketbill_app::accounting::Accounts::default(),
            },
            operator: match optional("OPERATOR_PROFILE") {
                Some(json) => Some(
                    serde_json::from_str(&json).map_err(|e| ConfigError::Invalid("OPERATOR_PROFILE", e.to_string()))?,
                ),
                None => None,
            },
        })
    }
}

/// The service set on AWS, built once per cold start.
pub async fn aws_services(c: &Config) -> Result<Services, ConfigError> {
    let clients = AwsClients::new(&AwsSettings { region: None, endpoint_url: c.aws_endpoint_url.clone() }).await;
    let client = OctopiaClient::new(OctopiaConfig::new(&c.octopia_api_base, &c.octopia_auth_base))
        .map_err(|e| ConfigError::Marketplace(e.to_string()))?;
    Ok(Services {
        ledger: Arc::new(DynamoLedger::new(clients.dynamodb.clone(), &c.table)),
        store: Arc::new(S3Store::new(clients.s3.clone(), &c.bucket)),
        mailer: Arc::new(SesMailer::new(clients.sesv2.clone(), c.configuration_set.clone())),
        queue: Arc::new(SqsQueue::new(clients.sqs.clone(), &c.queue_url)),
        secrets: Arc::new(KmsSecretBox::new(clients.kms.clone(), &c.kms_key_id)),
        marketplace: Arc::new(OctopiaMarketplace::new(Arc::new(client))),
        platform: Arc::new(
            marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default())
                .map_err(|e| ConfigError::Platform(e.to_string()))?,
        ),
        clock: Arc::new(SystemClock),
        settings: Settings {
            sender: c.sender.clone(),
            buyer_email_key: c.buyer_email_key.clone(),
            public_url: c.public_url.clone(),
            accounts: c.accounts.clone(),
            operator: c.operator.clone(),
            ..Settings::default()
        },
    })
}

/// A handler error with its retry class.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    pub retryable: bool,
    pub message: String,
}

impl From<PipelineError> for HandlerError {
    fn from(e: PipelineError) -> Self {
        HandlerError { retryable: e.is_retryable(), message: e.to_string() }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        Diagnostic {
            error_type: if e.retryable { "Retryable".into() } else { "NonRetryable".into() },
            error_message: e.message,
        }
    }
}

/// The `source` of an EventBridge event, or `manual` for a hand-made invocation (`{}`).
fn source(event: &Value) -> String {
    serde_json::from_value::<EventBridgeEvent<Value>>(event.clone())
        .map(|e| e.source)
        .unwrap_or_else(|_| "manual".into())
}

/// Scheduler: EventBridge (twice a day) → one SQS message per active seller. Any other
/// payload (`{}` from `aws lambda invoke`) runs a cycle too, except `{"task": "purge"}` (the
/// daily schedule): the documents and records of sellers past their month after unsubscribing
/// are deleted.
pub async fn scheduler(s: &Services, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
    if event.payload.get("task").and_then(Value::as_str) == Some("purge") {
        let purged = marketbill_app::retention::purge(s.ledger.as_ref(), s.store.as_ref(), s.clock.now())
            .await
            .map_err(|e| HandlerError { retryable: e.is_retryable(), message: e.to_string() })?;
        tracing::info!(purged = purged.len(), "unsubscribed sellers purged");
        return Ok(json!({"purged": purged.len()}));
    }
    tracing::info!(source = %source(&event.payload), "scheduled cycle");
    let out = marketbill_app::schedule::schedule(s.ledger.as_ref(), s.queue.as_ref()).await?;
    // On the 1st of a month, Marketbill's own invoices of the month before (once-only).
    let fees = marketbill_app::fee_billing::on_schedule(s, &marketbill_domain::FeePlans::bundled()).await?;
    Ok(json!({"queued": out.queued, "feeInvoices": fees.map(|f| f.issued.len())}))
}

/// The client of the sellers' approved platforms, made once per instance.
static PLATFORM: std::sync::LazyLock<Result<marketbill_afnor::AfnorPlatform, marketbill_app::platform::PlatformError>> =
    std::sync::LazyLock::new(|| marketbill_afnor::AfnorPlatform::new(marketbill_afnor::AfnorConfig::default()));

/// Hands a seller's new e-invoices and closed periods to its platform and reads back statuses;
/// a failure is logged and left for the next pass (the hourly tracker tries again).
async fn transmit_logged(s: &Services, seller: &marketbill_app::model::SellerId) {
    let platform = match &*PLATFORM {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "no platform client");
            return;
        }
    };
    match marketbill_app::transmission::transmit(s, platform, seller).await {
        Ok(None) => {}
        Ok(Some(o)) => log_pass(seller, &o),
        Err(e) => tracing::warn!(seller = %seller, error = %e, "platform pass left for the next one"),
    }
}

fn log_pass(seller: &marketbill_app::model::SellerId, o: &marketbill_app::transmission::TransmitOutcome) {
    tracing::info!(
        seller = %seller, submitted = o.submitted.len(), found = o.found.len(), failed = o.failed.len(),
        updated = o.updated, "platform pass"
    );
}

/// When the Lambda will be stopped, as an `Instant`.
fn deadline(ctx: &lambda_runtime::Context) -> Option<Instant> {
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let left = i128::from(ctx.deadline).checked_sub(now_ms)?;
    (left > 0).then(|| Instant::now() + Duration::from_millis(left as u64))
}

/// Seller run: an SQS batch (size 1 in the template) → one run per message; retryable
/// failures are reported per message (partial batch response) so only they come back.
pub async fn seller_run(s: &Services, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, HandlerError> {
    let deadline = deadline(&event.context);
    let mut failures = Vec::new();
    for record in event.payload.records {
        let id = record.message_id.clone().unwrap_or_default();
        let message: SellerRunMessage = match record.body.as_deref().map(serde_json::from_str) {
            Some(Ok(m)) => m,
            other => {
                // A message we cannot read will never succeed: drop it (logged), do not loop.
                tracing::error!(message_id = %id, error = ?other.map(|r| r.err()), "unreadable seller-run message dropped");
                continue;
            }
        };
        match marketbill_app::seller_run::run_message(s, &message, deadline).await {
            Ok(out) => match out.not_run {
                Some(why) => {
                    tracing::info!(seller = %message.seller_id, reason = why.code(), "seller not ready; run skipped")
                }
                None => {
                    tracing::info!(seller = %message.seller_id, issued = out.issued, complete = out.complete, "run done");
                    transmit_logged(s, &message.seller_id).await;
                }
            },
            Err(e) if e.is_retryable() => {
                tracing::warn!(seller = %message.seller_id, error = %e, error_type = "Retryable", "run failed; SQS will retry");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
            Err(e) => {
                tracing::error!(seller = %message.seller_id, error = %e, error_type = "NonRetryable", "run failed")
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    Ok(response)
}

/// Import tracker: EventBridge (hourly) → every pending import polled once.
pub async fn import_tracker(s: &Services, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
    tracing::info!(source = %source(&event.payload), "import tracking");
    let out = marketbill_app::import_tracker::track_imports(s).await?;
    // The platforms' acknowledgements and statuses, and any flow a run left behind (each
    // seller on its own; a failure is logged and left for the next hour).
    match &*PLATFORM {
        Ok(platform) => {
            for (seller, outcome) in marketbill_app::transmission::transmit_all(s, platform).await? {
                if let Ok(o) = outcome {
                    log_pass(&seller, &o);
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "no platform client"),
    }
    Ok(json!({
        "polled": out.polled, "accepted": out.accepted, "retried": out.retried,
        "rejected": out.rejected, "stillRunning": out.still_running, "failed": out.failed.len()
    }))
}
