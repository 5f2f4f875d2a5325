//! Mail into an outbox folder: one `.eml` file per message, readable by any mail client.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use marketbill_app::mail::mask_email;
use marketbill_app::ports::{MailError, Mailer, OutgoingMail};

#[derive(Debug)]
pub struct OutboxMailer {
    dir: PathBuf,
    seq: AtomicU64,
    /// This process's id, in message ids.
    pid: u32,
}

impl OutboxMailer {
    pub fn new(dir: &Path) -> Result<OutboxMailer, MailError> {
        crate::private::create_dir(dir).map_err(|e| MailError::Unavailable(e.to_string()))?;
        Ok(OutboxMailer { dir: dir.to_owned(), seq: AtomicU64::new(0), pid: std::process::id() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every message in the outbox, oldest first.
    pub fn messages(&self) -> std::io::Result<Vec<Vec<u8>>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files.iter().map(std::fs::read).collect()
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        if !mail.to.contains('@') {
            return Err(MailError::Rejected(format!("{} is not an address", mask_email(&mail.to))));
        }
        // Unique without hashing the message (a digest of every attachment cost more than the
        // file write): the time orders the files, the process and its counter tell apart two
        // messages of one instant, from this process or another on the same outbox.
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let id = format!("{stamp:020}-{n:04}-{}", self.pid);
        let path = self.dir.join(format!("{id}.eml"));
        // Inline, like the folder store: one small file into the page cache.
        // A new file (the id is unique): created owner-only, nothing to narrow afterwards.
        crate::private::write_new_file(&path, &mail.mime).map_err(|e| MailError::Unavailable(e.to_string()))?;
        tracing::debug!(to = %mask_email(&mail.to), message_id = %id, "mail written to the outbox");
        Ok(id)
    }
}
