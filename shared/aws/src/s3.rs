//! Documents in S3: server-side encryption, SHA-256 recorded by the caller, presigned GETs.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier, ServerSideEncryption};
use marketbill_app::model::StoredObject;
use marketbill_app::ports::{DocumentStore, PresignedLink, StoreError, check_key};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

impl S3Store {
    pub fn new(client: Client, bucket: impl Into<String>) -> S3Store {
        S3Store { client, bucket: bucket.into() }
    }
}

#[async_trait]
impl DocumentStore for S3Store {
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<StoredObject, StoreError> {
        check_key(key)?;
        let sha = Sha256::digest(bytes);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes.to_vec()))
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .metadata("sha256", hex::encode(sha))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(StoredObject { key: key.to_owned(), sha256: hex::encode(sha), size: bytes.len() as u64 })
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let bytes = out.body.collect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(unavailable)?;
            keys.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
            match out.next_continuation_token() {
                Some(t) if out.is_truncated().unwrap_or(false) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let keys = self.list(prefix).await?;
        for chunk in keys.chunks(1000) {
            let ids: Vec<ObjectIdentifier> = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build().map_err(unavailable))
                .collect::<Result<_, _>>()?;
            let delete = Delete::builder().set_objects(Some(ids)).quiet(true).build().map_err(unavailable)?;
            self.client.delete_objects().bucket(&self.bucket).delete(delete).send().await.map_err(unavailable)?;
        }
        Ok(keys.len() as u64)
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<PresignedLink, StoreError> {
        check_key(key)?;
        let config = PresigningConfig::expires_in(expires_in).map_err(unavailable)?;
        let req =
            self.client.get_object().bucket(&self.bucket).key(key).presigned(config).await.map_err(unavailable)?;
        Ok(PresignedLink { url: req.uri().to_owned(), expires_at: OffsetDateTime::now_utc() + expires_in })
    }
}
