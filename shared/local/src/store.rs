//! Documents in a folder: the key is the relative path. Links are `file://` URLs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use marketbill_app::model::StoredObject;
use marketbill_app::ports::{DocumentStore, PresignedLink, StoreError, check_key};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct FolderStore {
    root: PathBuf,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl FolderStore {
    pub fn new(root: &Path) -> Result<FolderStore, StoreError> {
        crate::private::create_dir(root).map_err(io)?;
        Ok(FolderStore { root: root.canonicalize().map_err(io)? })
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
        if let Some(parent) = path.parent() {
            crate::private::create_dir(parent).map_err(io)?;
        }
        // Write then rename: a reader never sees half a document.
        let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
        crate::private::write_file(&tmp, bytes).map_err(io)?;
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
        let path = self.path_of(key)?;
        let url = url::Url::from_file_path(&path).map_err(|_| StoreError::InvalidKey(key.to_owned()))?;
        Ok(PresignedLink { url: url.to_string(), expires_at: OffsetDateTime::now_utc() + expires_in })
    }
}
