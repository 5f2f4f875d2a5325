//! # marketbill-aws
//!
//! The AWS adapters of the ports: [`DynamoLedger`] (one table, transactions with conditions),
//! [`S3Store`] (server-side encryption, presigned GETs), [`SesMailer`] (SES v2 raw MIME with a
//! configuration set), [`SqsQueue`] and [`KmsSecretBox`] (envelope encryption). SDK errors are
//! converted at this edge, keeping the service's code and message.

mod dynamo;
mod kms;
pub mod provision;
mod s3;
mod ses;
mod sqs;

pub use dynamo::DynamoLedger;
pub use kms::KmsSecretBox;
pub use s3::S3Store;
pub use ses::SesMailer;
pub use sqs::SqsQueue;

use aws_config::{BehaviorVersion, Region};

/// Where the AWS services are: the real ones (no endpoint) or an emulator.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    /// An emulator's URL (moto in tests); path-style S3 and static credentials go with it.
    pub endpoint_url: Option<String>,
}

/// The SDK clients, built once at start-up.
#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sesv2: aws_sdk_sesv2::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub kms: aws_sdk_kms::Client,
}

impl AwsClients {
    pub async fn new(settings: &AwsSettings) -> AwsClients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &settings.endpoint_url {
            loader = loader.endpoint_url(endpoint).credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "emulator",
            ));
        }
        let conf = loader.load().await;
        let s3_conf =
            aws_sdk_s3::config::Builder::from(&conf).force_path_style(settings.endpoint_url.is_some()).build();
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(&conf),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            sesv2: aws_sdk_sesv2::Client::new(&conf),
            sqs: aws_sdk_sqs::Client::new(&conf),
            kms: aws_sdk_kms::Client::new(&conf),
        }
    }
}
