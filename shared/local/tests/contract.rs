//! The contract suite on the embedded adapters (SQLite, folders, outbox, channel, key file).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use marketbill_app::contract::{self, Probe, Subject};
use marketbill_local::{ChannelQueue, FolderStore, KeyFileSecretBox, OutboxMailer, SqliteLedger};

struct Local {
    subject: Subject,
    store: Arc<FolderStore>,
    outbox: Arc<OutboxMailer>,
    ledger: Arc<SqliteLedger>,
    db: PathBuf,
}

fn local(name: &str) -> Local {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("local-contract").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("ledger.sqlite");
    let ledger = Arc::new(SqliteLedger::open(&db).unwrap());
    let outbox = Arc::new(OutboxMailer::new(&dir.join("outbox")).unwrap());
    let store = Arc::new(FolderStore::new(&dir.join("documents"), b"contract-link-key").unwrap());
    store.serve_links_at("http://127.0.0.1:9/files");
    let subject = Subject {
        ledger: ledger.clone(),
        store: store.clone(),
        mailer: outbox.clone(),
        queue: Arc::new(ChannelQueue::new(Duration::from_secs(30))),
        secrets: Arc::new(KeyFileSecretBox::open(&dir.join("master.key")).unwrap()),
    };
    Local { subject, store, outbox, ledger, db }
}

#[async_trait]
impl Probe for Local {
    async fn sent_mails(&self) -> Vec<Vec<u8>> {
        self.outbox.messages().unwrap()
    }

    async fn raw_ledger(&self) -> Vec<u8> {
        // The records as SQLite returns them, and the file bytes themselves (with the WAL).
        let mut raw = self.ledger.raw_dump().await.unwrap();
        for path in [self.db.clone(), self.db.with_extension("sqlite-wal")] {
            if let Ok(bytes) = std::fs::read(&path) {
                raw.extend(bytes);
            }
        }
        raw
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        // What `marketbill serve` does with a `/files/…` request.
        let (key, expires, sig) = FolderStore::parse_link(url).ok_or("not a download link")?;
        self.store.open_link(&key, expires, &sig, time::OffsetDateTime::now_utc()).map_err(|e| e.to_string())
    }
}

#[tokio::test]
async fn sellers_are_stored_listed_unsubscribed_and_purged() {
    let l = local("sellers");
    contract::sellers_are_stored_listed_unsubscribed_and_purged(&l.subject).await;
}

#[tokio::test]
async fn issuing_numbers_records_and_meters_in_one_write() {
    let l = local("issue");
    contract::issuing_numbers_records_and_meters_in_one_write(&l.subject).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_issues_never_skip_or_reuse_a_number() {
    let l = local("concurrency");
    contract::concurrent_issues_never_skip_or_reuse_a_number(&l.subject, 200, 8).await;
}

#[tokio::test]
async fn watermarks_runs_imports_and_requests_are_kept() {
    let l = local("misc");
    contract::watermarks_runs_imports_and_requests_are_kept(&l.subject).await;
}

#[tokio::test]
async fn documents_are_stored_hashed_listed_linked_and_purged() {
    let l = local("documents");
    contract::documents_are_stored_hashed_listed_linked_and_purged(&l.subject, &l).await;
}

#[tokio::test]
async fn a_sent_mail_carries_the_pdf_byte_for_byte() {
    let l = local("mail");
    contract::a_sent_mail_carries_the_pdf_byte_for_byte(&l.subject, &l, "factures@marketbill.example").await;
}

#[tokio::test]
async fn queued_runs_are_received_and_acknowledged() {
    let l = local("queue");
    contract::queued_runs_are_received_and_acknowledged(&l.subject).await;
}

#[tokio::test]
async fn secrets_are_sealed_and_never_stored_in_clear() {
    let l = local("secrets");
    contract::secrets_are_sealed_and_never_stored_in_clear(&l.subject, &l).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limited_attempts_take_one_slot_and_all_count() {
    let a = local("slots");
    contract::limited_attempts_take_one_slot_and_all_count(&a.subject).await;
}
