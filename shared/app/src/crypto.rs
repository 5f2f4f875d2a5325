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

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn mac_of(key: &[u8], data: &[u8]) -> Option<HmacSha256> {
    use hmac::Mac;
    // HMAC takes keys of any length, so this never fails; kept total all the same.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).ok()?;
    mac.update(data);
    Some(mac)
}

/// HMAC-SHA256 of `data` under `key`: keyed hashes and sub-keys.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    mac_of(key, data).map(|m| m.finalize().into_bytes().to_vec()).unwrap_or_default()
}

/// Whether `expected_hex` is the HMAC-SHA256 of `data` under `key`, compared in constant time
/// (hmac's own verification).
pub fn hmac_matches(key: &[u8], data: &[u8], expected_hex: &str) -> bool {
    use hmac::Mac;
    match (mac_of(key, data), hex::decode(expected_hex)) {
        (Some(mac), Ok(expected)) => mac.verify_slice(&expected).is_ok(),
        _ => false,
    }
}

/// How a buyer e-mail is hashed: case and surrounding blanks do not count.
fn normalized_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The keyed hash (HMAC-SHA256, hex) of a buyer e-mail, kept instead of the address.
pub fn buyer_email_hash(key: &[u8], email: &str) -> String {
    hex::encode(hmac_sha256(key, normalized_email(email).as_bytes()))
}

/// Whether an e-mail is the one a recorded [`buyer_email_hash`] was made from.
pub fn buyer_email_matches(key: &[u8], email: &str, recorded: &str) -> bool {
    hmac_matches(key, normalized_email(email).as_bytes(), recorded)
}

/// What a buyer link's key is made of: the order, under a purpose of its own.
fn buyer_link_data(order_id: &str) -> Vec<u8> {
    format!("buyer-link\0{order_id}").into_bytes()
}

/// The key of an order's buyer link (in the invoice mail, 128 bits, hex): who holds it may ask
/// for that order's invoice in another name without typing anything else to prove the order.
pub fn buyer_link_key(key: &[u8], order_id: &str) -> String {
    hex::encode(&hmac_sha256(key, &buyer_link_data(order_id))[..16])
}

/// Whether `given` is the buyer link key of this order (constant time).
pub fn buyer_link_matches(key: &[u8], order_id: &str, given: &str) -> bool {
    use hmac::Mac;
    match (mac_of(key, &buyer_link_data(order_id)), hex::decode(given.trim())) {
        (Some(mac), Ok(tag)) if tag.len() == 16 => mac.verify_truncated_left(&tag).is_ok(),
        _ => false,
    }
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

    #[test]
    fn a_buyer_link_key_opens_its_order_only() {
        let key = random_key();
        let k = buyer_link_key(&key, "2611210001");
        assert_eq!(k.len(), 32);
        assert!(buyer_link_matches(&key, "2611210001", &k));
        assert!(!buyer_link_matches(&key, "2611210002", &k));
        assert!(!buyer_link_matches(&random_key(), "2611210001", &k));
        assert!(!buyer_link_matches(&key, "2611210001", &k[..30]));
        assert!(!buyer_link_matches(&key, "2611210001", "not hex at all, not hex at all!!"));
    }
}
