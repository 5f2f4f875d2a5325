//! The contract suite on the embedded adapters (SQLite, folders, outbox, channel, key file).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use marketbill_app::contract::{Probe, Subject};
use marketbill_local::{ChannelQueue, FolderStore, KeyFileSecretBox, OutboxMailer, SqliteLedger};

struct Local {
    subject: Subject,
    store: Arc<FolderStore>,
    outbox: Arc<OutboxMailer>,
    ledger: Arc<SqliteLedger>,
    db: PathBuf,
}

async fn local(name: &str) -> Local {
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

marketbill_app::contract_suite!(local, "factures@marketbill.example");
