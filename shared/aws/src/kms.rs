//! Envelope encryption with a KMS key: a data key per secret from `GenerateDataKey`, the secret
//! encrypted locally with AES-256-GCM, only the KMS-encrypted data key stored beside it.

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use marketbill_app::crypto;
use marketbill_app::model::SealedSecret;
use marketbill_app::ports::{SecretBox, SecretError};

#[derive(Clone)]
pub struct KmsSecretBox {
    client: Client,
    key_id: String,
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> SecretError {
    SecretError::Unavailable(DisplayErrorContext(&e).to_string())
}

impl KmsSecretBox {
    pub fn new(client: Client, key_id: impl Into<String>) -> KmsSecretBox {
        KmsSecretBox { client, key_id: key_id.into() }
    }
}

#[async_trait]
impl SecretBox for KmsSecretBox {
    async fn seal(&self, plaintext: &[u8]) -> Result<SealedSecret, SecretError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await
            .map_err(unavailable)?;
        let key = out.plaintext().ok_or_else(|| SecretError::Unavailable("KMS returned no data key".into()))?;
        let encrypted_key =
            out.ciphertext_blob().ok_or_else(|| SecretError::Unavailable("KMS returned no encrypted key".into()))?;
        let (nonce, ciphertext) = crypto::encrypt(key.as_ref(), plaintext)?;
        Ok(SealedSecret {
            key_id: self.key_id.clone(),
            encrypted_key: encrypted_key.as_ref().to_vec(),
            nonce,
            ciphertext,
        })
    }

    async fn open(&self, sealed: &SealedSecret) -> Result<Vec<u8>, SecretError> {
        let out = self
            .client
            .decrypt()
            .key_id(&sealed.key_id)
            .ciphertext_blob(Blob::new(sealed.encrypted_key.clone()))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_invalid_ciphertext_exception() || se.is_incorrect_key_exception() => {
                    SecretError::Invalid(DisplayErrorContext(&e).to_string())
                }
                _ => unavailable(e),
            })?;
        let key = out.plaintext().ok_or_else(|| SecretError::Unavailable("KMS returned no key".into()))?;
        crypto::decrypt(key.as_ref(), &sealed.nonce, &sealed.ciphertext)
    }
}
