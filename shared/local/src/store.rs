//! Documents in a folder: the key is the relative path. Download links are signed, expiring
//! URLs (HMAC-SHA256 over the key and the expiry, like an S3 presigned URL) that
//! `marketbill serve` answers under `/files/…`: no `file://` path, nothing of the server's
//! folders, and useless once expired or for any other document.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use marketbill_app::model::StoredObject;
use marketbill_app::ports::{DocumentStore, PresignedLink, StoreError, check_key};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

#[derive(Debug)]
pub struct FolderStore {
    root: PathBuf,
    /// The key that signs download links.
    link_key: Vec<u8>,
    /// Where links point (`http://127.0.0.1:8080/files`), set by the server that answers them.
    link_base: OnceLock<String>,
    /// This process's id, in temporary files' names.
    pid: u32,
}

/// Why a download link was refused. One answer to the outside for all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link has expired")]
    Expired,
    #[error("the link is not valid")]
    Invalid,
    #[error("the document no longer exists")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl FolderStore {
    /// A store in `root`, signing its links with `link_key`.
    pub fn new(root: &Path, link_key: &[u8]) -> Result<FolderStore, StoreError> {
        crate::private::create_dir(root).map_err(io)?;
        Ok(FolderStore {
            root: root.canonicalize().map_err(io)?,
            link_key: link_key.to_vec(),
            link_base: OnceLock::new(),
            pid: std::process::id(),
        })
    }

    /// Says where links are answered (once; later calls keep the first base).
    pub fn serve_links_at(&self, base: &str) {
        let _ = self.link_base.set(base.trim_end_matches('/').to_owned());
    }

    /// What a link's signature covers: the document and the expiry.
    fn signed(key: &str, expires: i64) -> String {
        format!("{key}\n{expires}")
    }

    fn link_signature(&self, key: &str, expires: i64) -> String {
        hex::encode(marketbill_app::crypto::hmac_sha256(&self.link_key, Self::signed(key, expires).as_bytes()))
    }

    /// The document a link names, if its signature holds and it has not expired.
    pub fn open_link(
        &self,
        key: &str,
        expires: i64,
        signature: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, LinkError> {
        check_key(key).map_err(|_| LinkError::Invalid)?;
        if !marketbill_app::crypto::hmac_matches(&self.link_key, Self::signed(key, expires).as_bytes(), signature) {
            return Err(LinkError::Invalid);
        }
        if expires <= now.unix_timestamp() {
            return Err(LinkError::Expired);
        }
        let path = self.path_of(key)?;
        match std::fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LinkError::Gone),
            Err(e) => Err(io(e).into()),
        }
    }

    /// A link URL as [`DocumentStore::presign_get`] makes it, read back: `(key, expires, sig)`.
    pub fn parse_link(url: &str) -> Option<(String, i64, String)> {
        let parsed = url::Url::parse(url).ok()?;
        let key = parsed.path().split_once("/files/")?.1.to_owned();
        let mut expires = None;
        let mut sig = None;
        for (k, v) in parsed.query_pairs() {
            match k.as_ref() {
                "expires" => expires = v.parse().ok(),
                "sig" => sig = Some(v.into_owned()),
                _ => {}
            }
        }
        Some((key, expires?, sig?))
    }

    pub fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if !dir.exists() {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir)? {
            let p = entry?.path();
            if p.is_dir() {
                Self::walk(&p, out)?;
            } else if p.extension().is_none_or(|e| e != "tmp") {
                out.push(p);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl DocumentStore for FolderStore {
    // put and get do their file I/O inline: a document is a few tens of KB written to or read
    // from the page cache, and a hand-off to tokio's blocking pool cost more CPU than that.
    async fn put(&self, key: &str, bytes: &[u8], _content_type: &str) -> Result<StoredObject, StoreError> {
        let path = self.path_of(key)?;
        // Write then rename: a reader never sees half a document. The temporary name is unique
        // to this write, so simultaneous writes of one key never collide.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let unique = format!(
            "{}.{}-{}.tmp",
            path.extension().and_then(|e| e.to_str()).unwrap_or(""),
            self.pid,
            WRITES.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = path.with_extension(unique);
        // The folder is made when the first write into it finds it missing, not checked before
        // every write (two system calls a document, for a folder that is there but once).
        match crate::private::write_new_file(&tmp, bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    crate::private::create_dir(parent).map_err(io)?;
                }
                crate::private::write_new_file(&tmp, bytes)
            }
            // Left by a crashed process that had this process's id.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => crate::private::write_file(&tmp, bytes),
            done => done,
        }
        .map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(StoredObject { key: key.to_owned(), sha256: hex::encode(Sha256::digest(bytes)), size: bytes.len() as u64 })
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path_of(key)?;
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            // Walk the deepest folder the prefix names, then filter by the full prefix.
            let dir = match prefix.rfind('/') {
                Some(i) => root.join(&prefix[..i]),
                None => root.clone(),
            };
            let mut files = Vec::new();
            Self::walk(&dir, &mut files).map_err(io)?;
            let mut keys: Vec<String> = files
                .iter()
                .filter_map(|p| p.strip_prefix(&root).ok())
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .filter(|k| k.starts_with(&prefix))
                .collect();
            keys.sort();
            Ok(keys)
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let keys = self.list(prefix).await?;
        for k in &keys {
            tokio::fs::remove_file(self.path_of(k)?).await.map_err(io)?;
        }
        Ok(keys.len() as u64)
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<PresignedLink, StoreError> {
        check_key(key)?;
        let base = self
            .link_base
            .get()
            .ok_or_else(|| StoreError::Unavailable("download links are served by `marketbill serve`".into()))?;
        let expires_at = OffsetDateTime::now_utc() + expires_in;
        let expires = expires_at.unix_timestamp();
        let sig = self.link_signature(key, expires);
        Ok(PresignedLink { url: format!("{base}/{key}?expires={expires}&sig={sig}"), expires_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> FolderStore {
        let dir = std::env::temp_dir().join(format!("marketbill-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = FolderStore::new(&dir, b"link-key").unwrap();
        s.serve_links_at("http://127.0.0.1:8080/files/");
        s
    }

    #[tokio::test]
    async fn links_are_signed_expiring_urls_without_server_paths() {
        let s = store("links");
        s.put("sellers/a/invoices/2026/F2026-000001.pdf", b"%PDF a", "application/pdf").await.unwrap();
        s.put("sellers/b/invoices/2026/F2026-000001.pdf", b"%PDF b", "application/pdf").await.unwrap();
        let link = s.presign_get("sellers/a/invoices/2026/F2026-000001.pdf", Duration::from_secs(300)).await.unwrap();
        assert!(link.url.starts_with("http://127.0.0.1:8080/files/sellers/a/"), "{}", link.url);
        assert!(!link.url.contains(s.root.to_str().unwrap()) && !link.url.starts_with("file:"));
        let (key, expires, sig) = FolderStore::parse_link(&link.url).unwrap();
        let now = OffsetDateTime::now_utc();
        assert_eq!(s.open_link(&key, expires, &sig, now).unwrap(), b"%PDF a");
        // After expiry, for another seller's document, with another expiry or another key: refused.
        assert_eq!(s.open_link(&key, expires, &sig, now + time::Duration::minutes(6)), Err(LinkError::Expired));
        assert_eq!(
            s.open_link("sellers/b/invoices/2026/F2026-000001.pdf", expires, &sig, now),
            Err(LinkError::Invalid)
        );
        assert_eq!(s.open_link(&key, expires + 3600, &sig, now), Err(LinkError::Invalid));
        assert_eq!(s.open_link("../../etc/passwd", expires, &sig, now), Err(LinkError::Invalid));
        let other = FolderStore::new(&s.root, b"another key").unwrap();
        assert_eq!(other.open_link(&key, expires, &sig, now), Err(LinkError::Invalid));
    }

    #[tokio::test]
    async fn without_a_link_server_there_is_no_link() {
        let dir = std::env::temp_dir().join(format!("marketbill-store-nolinks-{}", std::process::id()));
        let s = FolderStore::new(&dir, b"k").unwrap();
        assert!(s.presign_get("sellers/a/x.pdf", Duration::from_secs(60)).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn simultaneous_writes_of_one_key_never_collide() {
        let s = std::sync::Arc::new(store("same-key"));
        let writes: Vec<_> = (0..40)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.put("exports/a/same.zip", format!("zip {i}").as_bytes(), "application/zip").await
                })
            })
            .collect();
        for w in writes {
            assert!(w.await.unwrap().is_ok());
        }
        assert_eq!(s.list("exports/").await.unwrap(), ["exports/a/same.zip"]);
    }
}
