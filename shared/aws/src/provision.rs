//! Creating the resources the adapters use, for tests against an emulator and for trying the
//! AWS adapters without the SAM template (which declares the same resources for production).

use std::sync::Arc;

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use marketbill_app::marketplace::Marketplace;
use marketbill_app::ports::SystemClock;
use marketbill_app::services::{Services, Settings};

use crate::{AwsClients, DynamoLedger, KmsSecretBox, S3Store, SesMailer, SqsQueue};

#[derive(Debug, thiserror::Error)]
#[error("cannot create {what}: {reason}")]
pub struct ProvisionError {
    pub what: &'static str,
    pub reason: String,
}

fn failed<E: std::error::Error + 'static>(what: &'static str) -> impl FnOnce(E) -> ProvisionError {
    move |e| ProvisionError { what, reason: aws_sdk_s3::error::DisplayErrorContext(&e).to_string() }
}

/// The five adapters over freshly created resources named `name`.
pub struct Provisioned {
    pub queue_url: String,
    pub key_id: String,
    pub ledger: DynamoLedger,
    pub store: S3Store,
    pub mailer: SesMailer,
    pub queue: SqsQueue,
    pub secrets: KmsSecretBox,
}

impl Provisioned {
    /// The use cases' services over these adapters, with the system clock.
    pub fn services(
        self,
        marketplace: Arc<dyn Marketplace>,
        platform: Arc<dyn marketbill_app::platform::Platform>,
        settings: Settings,
    ) -> Services {
        Services {
            ledger: Arc::new(self.ledger),
            store: Arc::new(self.store),
            mailer: Arc::new(self.mailer),
            queue: Arc::new(self.queue),
            secrets: Arc::new(self.secrets),
            marketplace,
            platform,
            clock: Arc::new(SystemClock),
            settings,
        }
    }
}

/// Creates a table, a bucket, a queue, a key, the sender identity and (when named) an SES
/// configuration set, all under `name`.
pub async fn provision(
    clients: &AwsClients,
    region: &str,
    name: &str,
    sender: &str,
    configuration_set: Option<&str>,
) -> Result<Provisioned, ProvisionError> {
    DynamoLedger::create_table(&clients.dynamodb, name)
        .await
        .map_err(|e| ProvisionError { what: "the table", reason: e.to_string() })?;
    let mut bucket = clients.s3.create_bucket().bucket(name);
    if region != "us-east-1" {
        bucket = bucket.create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(region)).build(),
        );
    }
    bucket.send().await.map_err(failed("the bucket"))?;
    let queue_url = clients
        .sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(failed("the queue"))?
        .queue_url
        .unwrap_or_default();
    let key_id = clients
        .kms
        .create_key()
        .description(format!("Marketbill credentials ({name})"))
        .send()
        .await
        .map_err(failed("the key"))?
        .key_metadata
        .map(|m| m.key_id)
        .unwrap_or_default();
    // SES refuses to send until the sender identity exists; it may exist already.
    let _ = clients.sesv2.create_email_identity().email_identity(sender).send().await;
    if let Some(set) = configuration_set {
        clients
            .sesv2
            .create_configuration_set()
            .configuration_set_name(set)
            .send()
            .await
            .map_err(failed("the configuration set"))?;
    }
    Ok(Provisioned {
        ledger: DynamoLedger::new(clients.dynamodb.clone(), name),
        store: S3Store::new(clients.s3.clone(), name),
        mailer: SesMailer::new(clients.sesv2.clone(), configuration_set.map(str::to_owned)),
        queue: SqsQueue::new(clients.sqs.clone(), queue_url.clone()),
        secrets: KmsSecretBox::new(clients.kms.clone(), key_id.clone()),
        queue_url,
        key_id,
    })
}
