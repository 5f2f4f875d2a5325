//! Envelope encryption with a master key kept in a local file (created on first use, mode 0600).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use marketbill_app::crypto;
use marketbill_app::model::SealedSecret;
use marketbill_app::ports::{SecretBox, SecretError};
use sha2::{Digest, Sha256};

pub struct KeyFileSecretBox {
    master: [u8; 32],
    key_id: String,
    path: PathBuf,
}

impl KeyFileSecretBox {
    /// Reads the master key, or creates it.
    pub fn open(path: &Path) -> Result<KeyFileSecretBox, SecretError> {
        let unavailable = |e: std::io::Error| SecretError::Unavailable(format!("{}: {e}", path.display()));
        let master: [u8; 32] = if path.exists() {
            let text = std::fs::read_to_string(path).map_err(unavailable)?;
            let bytes = hex::decode(text.trim())
                .map_err(|_| SecretError::Invalid(format!("{} is not a hex key", path.display())))?;
            bytes
                .try_into()
                .map_err(|_| SecretError::Invalid(format!("{} does not hold a 256-bit key", path.display())))?
        } else {
            if let Some(parent) = path.parent() {
                crate::private::create_dir(parent).map_err(unavailable)?;
            }
            let key = crypto::random_key();
            write_private(path, hex::encode(key).as_bytes()).map_err(unavailable)?;
            key
        };
        let key_id = format!("local:{}", hex::encode(&Sha256::digest(master)[..4]));
        Ok(KeyFileSecretBox { master, key_id, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A key for another purpose (`label`), derived from the master key (HMAC-SHA256), so the
    /// data folder needs no second secret file.
    pub fn derive_key(&self, label: &str) -> Vec<u8> {
        marketbill_app::crypto::hmac_sha256(&self.master, label.as_bytes())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[async_trait]
impl SecretBox for KeyFileSecretBox {
    async fn seal(&self, plaintext: &[u8]) -> Result<SealedSecret, SecretError> {
        let data_key = crypto::random_key();
        let (key_nonce, encrypted_key) = crypto::encrypt(&self.master, &data_key)?;
        let (nonce, ciphertext) = crypto::encrypt(&data_key, plaintext)?;
        // The encrypted data key carries its own nonce in front.
        Ok(SealedSecret {
            key_id: self.key_id.clone(),
            encrypted_key: [key_nonce, encrypted_key].concat(),
            nonce,
            ciphertext,
        })
    }

    async fn open(&self, sealed: &SealedSecret) -> Result<Vec<u8>, SecretError> {
        if sealed.key_id != self.key_id {
            return Err(SecretError::Invalid(format!(
                "sealed by {}, not by this key ({})",
                sealed.key_id, self.key_id
            )));
        }
        if sealed.encrypted_key.len() < 12 {
            return Err(SecretError::Invalid("truncated data key".into()));
        }
        let (key_nonce, encrypted_key) = sealed.encrypted_key.split_at(12);
        let data_key = crypto::decrypt(&self.master, key_nonce, encrypted_key)?;
        crypto::decrypt(&data_key, &sealed.nonce, &sealed.ciphertext)
    }
}
