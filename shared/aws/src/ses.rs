//! Mail through SES v2: the raw MIME message, with a configuration set for bounces.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::DisplayErrorContext;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use marketbill_app::mail::mask_email;
use marketbill_app::ports::{MailError, Mailer, OutgoingMail};

#[derive(Clone)]
pub struct SesMailer {
    client: Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, configuration_set: Option<String>) -> SesMailer {
        SesMailer { client, configuration_set }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        let raw = RawMessage::builder()
            .data(Blob::new(mail.mime.clone()))
            .build()
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        let result = self
            .client
            .send_email()
            .from_email_address(&mail.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(out) => {
                let id = out.message_id().unwrap_or_default().to_owned();
                tracing::debug!(to = %mask_email(&mail.to), message_id = %id, "mail sent through SES");
                Ok(id)
            }
            Err(e) => {
                let text = DisplayErrorContext(&e).to_string();
                let rejected = e.as_service_error().is_some_and(|se| {
                    se.is_message_rejected()
                        || se.is_mail_from_domain_not_verified_exception()
                        || se.is_account_suspended_exception()
                });
                if rejected { Err(MailError::Rejected(text)) } else { Err(MailError::Unavailable(text)) }
            }
        }
    }
}
