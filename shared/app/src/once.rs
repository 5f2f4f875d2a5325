//! Requests that issue a document or send a mail are safe to repeat: a retry after a timeout,
//! a reload, a double click, two at once. The API takes an `Idempotency-Key` header (IETF
//! draft "The Idempotency-Key HTTP Header Field"), the pages a one-time value in each form;
//! both become a [`Once`], and [`once`] claims it in the ledger before any work (one
//! conditional write: of simultaneous repeats exactly one does the work), keeps the outcome,
//! and gives that outcome again to every repeat — nothing new is issued, mailed or billed.
//! The same key with another request is refused ([`PortalError::KeyReused`]); a repeat while
//! the first is still at work is told so ([`PortalError::InProgress`]). A failure lets the key
//! go, so a repeat may succeed.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::model::SellerId;
use crate::portal::PortalError;
use crate::ports::{Clock, KeyClaim, KeyLedger};
use crate::services::PipelineError;

/// How long a request holds its key before a repeat may take over (a process that died).
pub const LEASE: time::Duration = time::Duration::minutes(2);

/// A request that must happen once: its key (a digest of where it was sent and the caller's
/// key) and its fingerprint (a digest of what it asks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Once {
    key: String,
    fingerprint: String,
}

impl Once {
    /// `scope`: where the request went (`POST /v1/invoices/F1/credit-notes`); `key`: the
    /// caller's (1 to 255 visible ASCII characters, as the draft allows); `request`: what it
    /// asks (the body). `None` for a key that is not one.
    pub fn new(scope: &str, key: &str, request: &[u8]) -> Option<Once> {
        let valid = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if !valid {
            return None;
        }
        let digest = |parts: &[&[u8]]| {
            let mut h = Sha256::new();
            for p in parts {
                h.update((p.len() as u64).to_be_bytes());
                h.update(p);
            }
            hex::encode(h.finalize())
        };
        Some(Once {
            key: digest(&[scope.as_bytes(), key.as_bytes()]),
            fingerprint: digest(&[scope.as_bytes(), request]),
        })
    }

    /// The key's digest: what marks a document issued under it (a credit note's once-only key).
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Runs `work` once for `once` (every time when there is none): the first request does the
/// work and its outcome is kept; repeats get that outcome without the work.
pub async fn once<T, F, Fut>(
    keys: &(impl KeyLedger + ?Sized),
    clock: &dyn Clock,
    seller: &SellerId,
    once: Option<&Once>,
    work: F,
) -> Result<T, PortalError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, PortalError>>,
{
    let Some(o) = once else { return work().await };
    let now = clock.now();
    match keys.claim_key(seller, &o.key, &o.fingerprint, now, now + LEASE).await? {
        KeyClaim::Claimed => {}
        KeyClaim::Done(answer) => {
            return serde_json::from_str(&answer).map_err(|e| {
                PortalError::Pipeline(PipelineError::Defect(format!("a kept answer is unreadable: {e}")))
            });
        }
        KeyClaim::InProgress => return Err(PortalError::InProgress),
        KeyClaim::Mismatch => return Err(PortalError::KeyReused),
    }
    let outcome = work().await;
    let kept = match &outcome {
        Ok(value) => match serde_json::to_string(value) {
            Ok(answer) => keys.finish_key(seller, &o.key, &answer).await,
            Err(e) => Err(crate::ports::LedgerError::Corrupt { what: "answer".into(), reason: e.to_string() }),
        },
        Err(_) => keys.release_key(seller, &o.key).await,
    };
    if let Err(e) = kept {
        // The outcome stands; a repeat within the lease is told to wait, after it redoes the
        // work — which the documents' own once-only keys make harmless.
        tracing::warn!(seller = %seller, error = %e, "an idempotency key was not updated");
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_and_checked() {
        let a = Once::new("POST /a", "k-1", b"{}").unwrap();
        let b = Once::new("POST /b", "k-1", b"{}").unwrap();
        assert_ne!(a.key(), b.key(), "one key on two routes is two keys");
        assert_eq!(a.key().len(), 64);
        assert_ne!(a.fingerprint, Once::new("POST /a", "k-1", b"{\"x\":1}").unwrap().fingerprint);
        assert!(Once::new("POST /a", "", b"").is_none());
        assert!(Once::new("POST /a", "bad\nkey", b"").is_none());
        assert!(Once::new("POST /a", &"k".repeat(256), b"").is_none());
    }
}
