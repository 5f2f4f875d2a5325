//! # marketbill-octopia
//!
//! Client of the Octopia (Cdiscount) Seller API v2, as described in the team's reference:
//! client-credentials tokens cached per client id (one refresh and one retry on a 401),
//! order listing with filters and paging (`Link: rel="next"` when sent, else `pageIndex`),
//! one order, counts, invoice uploads (one document or a bulk import) and import reports.
//! 429 honours `Retry-After`; 5xx, timeouts and garbled answers are retried with exponential
//! back-off and jitter a bounded number of times; every request has a timeout. Errors are a
//! typed enum carrying the problem+json `title`, `detail` and `traceId`. Secrets and tokens
//! never appear in logs or `Debug` output.

mod client;
mod error;
mod marketplace;
mod model;

pub use client::{NextPage, OctopiaClient, OctopiaConfig, OrdersPage, PageRef, TOKEN_PATH};
pub use error::{OctopiaError, Problem};
pub use marketplace::OctopiaMarketplace;
pub use model::{
    Credentials, ImportError, ImportFile, ImportPage, ImportReport, ImportStatus, OrderQuery, Secret, SortField,
    UploadFile,
};
