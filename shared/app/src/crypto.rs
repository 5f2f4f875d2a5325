//! The symmetric half of envelope encryption: AES-256-GCM under a data key. The data key
//! itself is protected by KMS or by a local master key (the adapters' business).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};

use crate::ports::SecretError;

/// A fresh random 256-bit key.
pub fn random_key() -> [u8; 32] {
    Aes256Gcm::generate_key(OsRng).into()
}

/// Encrypts with a 256-bit key; returns (nonce, ciphertext with tag).
pub fn encrypt(key: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SecretError> {
    if key.len() != 32 {
        return Err(SecretError::Invalid(format!("a data key is 32 bytes, got {}", key.len())));
    }
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let nonce = Aes256Gcm::generate_nonce(OsRng);
    let ciphertext = cipher.encrypt(&nonce, plaintext).map_err(|_| SecretError::Invalid("encryption failed".into()))?;
    Ok((nonce.to_vec(), ciphertext))
}

pub fn decrypt(key: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, SecretError> {
    if key.len() != 32 || nonce.len() != 12 {
        return Err(SecretError::Invalid("bad key or nonce length".into()));
    }
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    cipher
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .map_err(|_| SecretError::Invalid("the secret does not decrypt with this key (tampered or wrong key)".into()))
}

/// The keyed hash (HMAC-SHA256, hex) of a buyer e-mail, compared instead of the address:
/// case and surrounding blanks do not count.
pub fn buyer_email_hash(key: &[u8], email: &str) -> String {
    use hmac::{Hmac, Mac};
    let normalized = email.trim().to_lowercase();
    match <Hmac<sha2::Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(normalized.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; kept total all the same.
        Err(_) => String::new(),
    }
}

/// Compares two hashes in time independent of where they differ.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && !a.is_empty() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let key = random_key();
        let (nonce, mut ct) = encrypt(&key, b"client secret").unwrap();
        assert_eq!(decrypt(&key, &nonce, &ct).unwrap(), b"client secret");
        ct[0] ^= 1;
        assert!(decrypt(&key, &nonce, &ct).is_err());
        assert!(decrypt(&random_key(), &nonce, &ct).is_err());
    }
}
