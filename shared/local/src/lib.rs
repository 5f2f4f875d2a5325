//! # marketbill-local
//!
//! The embedded adapters that let the whole job run on one machine with no cloud account:
//! a SQLite ledger laid out like the DynamoDB table, a folder for documents, an outbox folder
//! of `.eml` files, an in-process queue and a key file for envelope encryption.

mod embedded;
mod ledger;
mod mailer;
pub mod private;
mod queue;
mod secrets;
mod store;

pub use embedded::{Embedded, OpenError};
pub use ledger::SqliteLedger;
pub use mailer::OutboxMailer;
pub use queue::ChannelQueue;
pub use secrets::KeyFileSecretBox;
pub use store::{FolderStore, LinkError};
