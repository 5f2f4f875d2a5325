//! # marketbill-testkit
//!
//! What tests and the demo need to stand in for the outside world: a deterministic generator
//! of marketplace orders in Octopia's JSON (every status, B2C and B2B, mixed VAT rates, long
//! and accented titles, relay e-mails, some orders shipped outside France) and sample seller
//! profiles, and the Octopia Seller API simulator ([`simulator`]).

pub mod buyers;
pub mod invoices;
pub mod orders;
pub mod platform;
pub mod rng;
pub mod sellers;
pub mod simulator;

pub use orders::{OrderGenerator, OrderMix};
pub use rng::SplitMix64;
