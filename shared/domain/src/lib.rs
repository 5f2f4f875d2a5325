//! # marketbill-domain
//!
//! The pure core of Marketbill: marketplace orders in, legally complete invoices out.
//! No I/O, no async, no clock: callers pass the instant of issue.
//!
//! - [`order`]: Octopia orders, parsed tolerantly with exact decimal amounts;
//! - [`seller`]: the seller profile and its validation (SIREN, SIRET, VAT numbers, schemes);
//! - [`regime`]: the VAT regime of an order and the named reasons to refuse one;
//! - [`invoice`]: drafts, invoices and credit notes whose amounts add up to the cent;
//! - [`ids`]: identifiers with check digits and the invoice-number format;
//! - [`fees`]: fee plans as data and the fee of a month;
//! - [`reporting`]: where each document goes under the French e-invoicing reform, and the
//!   reporting periods of a VAT regime.

pub mod buyer;
pub mod calendar;
pub mod country;
pub mod credit;
pub mod email;
pub mod fee_invoice;
pub mod fees;
pub mod ids;
pub mod invoice;
pub mod mentions;
pub mod money;
pub mod order;
pub mod regime;
pub mod reporting;
pub mod seller;

pub use buyer::{BuyerBillingData, BuyerKind, TaxNumber};
pub use country::CountryCode;
pub use fees::{FeePlans, MonthlyFee, PlanKind};
pub use ids::{InvoiceNumber, OrderId, Series, SeriesPrefix, Siren, Siret, VatNumber};
pub use invoice::{DocumentKind, Draft, Invoice, InvoiceLine, IssueRequest, VatBreakdown, draft_invoice};
pub use money::VatRate;
pub use order::{Order, OrderParseError, OrderStatus};
pub use regime::{Refusal, VatCategory, VatRegime};
pub use seller::{SellerProfile, SellerProfileInput, VatScheme};
