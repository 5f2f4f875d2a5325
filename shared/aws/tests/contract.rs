//! The contract suite on the AWS adapters, against moto in server mode (the real SDK crates,
//! pointed at the emulator's endpoint with dummy credentials and path-style S3).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::sync::Arc;

use async_trait::async_trait;
use marketbill_app::contract::{self, Probe, Subject};
use marketbill_aws::provision::provision;
use marketbill_aws::{AwsClients, AwsSettings, DynamoLedger};
use marketbill_testkit::moto::Moto;

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

#[tokio::test]
async fn sellers_are_stored_listed_unsubscribed_and_purged() {
    let a = aws("sellers").await;
    contract::sellers_are_stored_listed_unsubscribed_and_purged(&a.subject).await;
}

#[tokio::test]
async fn issuing_numbers_records_and_meters_in_one_write() {
    let a = aws("issue").await;
    contract::issuing_numbers_records_and_meters_in_one_write(&a.subject).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_issues_never_skip_or_reuse_a_number() {
    let a = aws("concurrency").await;
    contract::concurrent_issues_never_skip_or_reuse_a_number(&a.subject, 200, 8).await;
}

#[tokio::test]
async fn watermarks_runs_imports_and_requests_are_kept() {
    let a = aws("misc").await;
    contract::watermarks_runs_imports_and_requests_are_kept(&a.subject).await;
}

#[tokio::test]
async fn documents_are_stored_hashed_listed_linked_and_purged() {
    let a = aws("documents").await;
    contract::documents_are_stored_hashed_listed_linked_and_purged(&a.subject, &a).await;
}

#[tokio::test]
async fn a_sent_mail_carries_the_pdf_byte_for_byte() {
    let a = aws("mail").await;
    contract::a_sent_mail_carries_the_pdf_byte_for_byte(&a.subject, &a, SENDER).await;
}

#[tokio::test]
async fn queued_runs_are_received_and_acknowledged() {
    let a = aws("queue").await;
    contract::queued_runs_are_received_and_acknowledged(&a.subject).await;
}

#[tokio::test]
async fn secrets_are_sealed_and_never_stored_in_clear() {
    let a = aws("secrets").await;
    contract::secrets_are_sealed_and_never_stored_in_clear(&a.subject, &a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limited_attempts_take_one_slot_and_all_count() {
    let a = aws("slots").await;
    contract::limited_attempts_take_one_slot_and_all_count(&a.subject).await;
}
