//! The contract suite on the AWS adapters, against moto in server mode (the real SDK crates,
//! pointed at the emulator's endpoint with dummy credentials and path-style S3).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::sync::Arc;

use async_trait::async_trait;
use marketbill_app::contract::{Probe, Subject};
use marketbill_aws::provision::provision;
use marketbill_aws::{AwsClients, AwsSettings, DynamoLedger};
use marketbill_harness::moto::Moto;

const SENDER: &str = "factures@marketbill.example";

struct Aws {
    subject: Subject,
    moto: &'static Moto,
    ledger: Arc<DynamoLedger>,
}

fn unique(tag: &str) -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("mb-{tag}-{:x}", n % 0xFFFF_FFFF_FFFF)
}

/// Fresh resources for one test: table, bucket, queue, key, sender identity, configuration set.
async fn aws(tag: &str) -> Aws {
    let moto = Moto::shared().expect("moto");
    let clients =
        AwsClients::new(&AwsSettings { region: Some("eu-west-3".into()), endpoint_url: Some(moto.endpoint.clone()) })
            .await;
    let name = unique(tag);
    let p = provision(&clients, "eu-west-3", &name, SENDER, Some(&name)).await.unwrap();
    let ledger = Arc::new(p.ledger);
    let subject = Subject {
        ledger: ledger.clone(),
        store: Arc::new(p.store),
        mailer: Arc::new(p.mailer),
        queue: Arc::new(p.queue),
        secrets: Arc::new(p.secrets),
    };
    Aws { subject, moto, ledger }
}

#[async_trait]
impl Probe for Aws {
    async fn sent_mails(&self) -> Vec<Vec<u8>> {
        self.moto.sent_raw_mails().await.unwrap()
    }

    async fn raw_ledger(&self) -> Vec<u8> {
        self.ledger.raw_dump().await.unwrap()
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        // The presigned link must say minutes, not days.
        let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
        let expires = parsed.query_pairs().find(|(k, _)| k == "X-Amz-Expires").map(|(_, v)| v.into_owned());
        assert_eq!(expires.as_deref(), Some("300"), "{url}");
        let r = reqwest::get(url).await.map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("HTTP {}", r.status()));
        }
        r.bytes().await.map(|b| b.to_vec()).map_err(|e| e.to_string())
    }
}

marketbill_app::contract_suite!(aws, SENDER);
