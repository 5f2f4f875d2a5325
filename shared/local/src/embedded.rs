//! The whole embedded adapter set in one data folder, as the local command and the tests open it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use marketbill_app::marketplace::Marketplace;
use marketbill_app::ports::{LedgerError, MailError, SecretError, StoreError, SystemClock};
use marketbill_app::services::{Services, Settings};

use crate::{ChannelQueue, FolderStore, KeyFileSecretBox, OutboxMailer, SqliteLedger};

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data folder {0}: {1}")]
    Folder(PathBuf, String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Secrets(#[from] SecretError),
}

/// `ledger.sqlite`, `documents/`, `outbox/` and `master.key` under one folder, plus a queue.
pub struct Embedded {
    pub root: PathBuf,
    pub ledger: Arc<SqliteLedger>,
    pub store: Arc<FolderStore>,
    pub outbox: Arc<OutboxMailer>,
    pub queue: Arc<ChannelQueue>,
    pub secrets: Arc<KeyFileSecretBox>,
}

impl Embedded {
    pub fn open(dir: &Path) -> Result<Embedded, OpenError> {
        crate::private::create_dir(dir).map_err(|e| OpenError::Folder(dir.to_owned(), e.to_string()))?;
        let root = dir.canonicalize().map_err(|e| OpenError::Folder(dir.to_owned(), e.to_string()))?;
        let secrets = KeyFileSecretBox::open(&root.join("master.key"))?;
        Ok(Embedded {
            ledger: Arc::new(SqliteLedger::open(&root.join("ledger.sqlite"))?),
            store: Arc::new(FolderStore::new(&root.join("documents"), &secrets.derive_key("download-links"))?),
            outbox: Arc::new(OutboxMailer::new(&root.join("outbox"))?),
            queue: Arc::new(ChannelQueue::new(Duration::from_secs(900))),
            secrets: Arc::new(secrets),
            root,
        })
    }

    /// The use cases' services over these adapters, with the system clock. The buyer e-mail
    /// hash key is the data folder's own (derived from its master key).
    pub fn services(
        &self,
        marketplace: Arc<dyn Marketplace>,
        platform: Arc<dyn marketbill_app::platform::Platform>,
        mut settings: Settings,
    ) -> Services {
        settings.buyer_email_key = self.secrets.derive_key("buyer-email-hash");
        Services {
            ledger: self.ledger.clone(),
            store: self.store.clone(),
            mailer: self.outbox.clone(),
            queue: self.queue.clone(),
            secrets: self.secrets.clone(),
            marketplace,
            platform,
            clock: Arc::new(SystemClock),
            settings,
        }
    }
}
