//! # marketbill-app
//!
//! The use cases of Marketbill, written against ports ([`ports`]): small async traits for the
//! ledger, the document store, the mailer, the queue and the secret box. Adapters live in
//! `marketbill-aws` (DynamoDB, S3, SES v2, SQS, KMS) and `marketbill-local` (SQLite, folders,
//! an outbox, a channel, a key file); one contract suite ([`contract`], feature `contract`)
//! runs on both.

pub mod account;
pub mod accounting;
pub mod buyer_requests;
#[cfg(feature = "contract")]
pub mod contract;
pub mod correction;
pub mod credit_notes;
pub mod crypto;
pub mod delivery;
pub mod documents;
pub mod ereporting;
pub mod exports;
pub mod fee_billing;
pub mod import_tracker;
pub mod journals;
pub mod layer;
pub mod mail;
pub mod marketplace;
pub mod metrics;
pub mod model;
pub mod once;
pub mod platform;
pub mod portal;
pub mod ports;
pub mod problems;
pub mod refunds;
pub mod retention;
pub mod retry;
pub mod schedule;
pub mod seller_run;
pub mod services;
pub mod table;
pub mod transmission;
pub mod usage;
