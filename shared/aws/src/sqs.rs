//! Seller runs through SQS: one JSON message per seller, deleted once handled.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use marketbill_app::ports::{Queue, QueueError, Received, SellerRunMessage};

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> QueueError {
    QueueError::Unavailable(DisplayErrorContext(&e).to_string())
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> SqsQueue {
        SqsQueue { client, queue_url: queue_url.into() }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: &SellerRunMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        self.client.send_message().queue_url(&self.queue_url).message_body(body).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        let mut got = Vec::new();
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            let message: SellerRunMessage =
                serde_json::from_str(body).map_err(|e| QueueError::Corrupt(e.to_string()))?;
            got.push(Received { receipt: m.receipt_handle().unwrap_or_default().to_owned(), message });
        }
        Ok(got)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
