//! Usage and fees: this month's invoices and fee, the history by month, the dashboard.

use crate::problems::problem_orders;
use std::collections::BTreeMap;

use marketbill_domain::calendar::YearMonth;
use marketbill_domain::fees::{FeePlans, MonthlyFee};
use serde::Serialize;

use crate::model::{InvoiceQuery, SellerId, SellerRecord};
use crate::portal::{PortalError, all_invoices, seller};
use crate::ports::{Clock, InvoiceLedger, OrderLedger, RunLedger, SellerLedger, UsageLedger};
use crate::services::Services;

/// What reading usage and the dashboard uses: the sellers, the usage counters the issue keeps,
/// the documents (credit notes, invoices per day), the orders (open problems), the runs and the
/// time. Nothing here writes.
#[derive(Clone, Copy)]
pub struct Metering<'a> {
    pub sellers: &'a dyn SellerLedger,
    pub counters: &'a dyn UsageLedger,
    pub invoices: &'a dyn InvoiceLedger,
    pub orders: &'a dyn OrderLedger,
    pub runs: &'a dyn RunLedger,
    pub clock: &'a dyn Clock,
}

impl Services {
    /// Usage, fees and the dashboard, on this deployment's ports.
    pub fn metering(&self) -> Metering<'_> {
        let ledger = self.ledger.as_ref();
        Metering {
            sellers: ledger,
            counters: ledger,
            invoices: ledger,
            orders: ledger,
            runs: ledger,
            clock: self.clock.as_ref(),
        }
    }
}

/// Usage this month and last month, and the fee under the seller's plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub month: String,
    pub invoices_this_month: u64,
    pub previous_month: String,
    pub invoices_previous_month: u64,
    pub fee: MonthlyFee,
}

/// One month of the usage history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthUsage {
    pub month: String,
    pub invoices: u64,
    /// Credit notes issued that month (not billed).
    pub credit_notes: u64,
    pub fee: MonthlyFee,
}

/// What the seller's dashboard shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub seller_name: String,
    pub usage: Usage,
    pub last_run: Option<crate::model::RunRecord>,
    pub problems: usize,
    /// Invoices (not credit notes) issued on each day of the month so far, day 1 first.
    pub per_day: Vec<u64>,
    /// The next scheduled run (RFC 3339).
    pub next_run: String,
    /// Where the seller stands in getting started: credentials saved, a platform chosen, an
    /// invoice issued.
    pub has_credentials: bool,
    pub has_platform: bool,
    pub has_invoices: bool,
}

impl Metering<'_> {
    /// This month's and last month's invoices, and the fee they make under the seller's plan.
    pub async fn usage(&self, id: &SellerId, plans: &FeePlans) -> Result<Usage, PortalError> {
        let record = seller(self.sellers, id).await?;
        self.usage_of(&record, plans).await
    }

    /// [`Metering::usage`] for a seller already read.
    async fn usage_of(&self, record: &SellerRecord, plans: &FeePlans) -> Result<Usage, PortalError> {
        let id = &record.seller_id;
        // Both in Paris time (the first hours of a month in Paris are still the month before in UTC).
        let month = YearMonth::in_paris(self.clock.now());
        let this = self.counters.usage(id, month).await?;
        let prev = self.counters.usage(id, month.previous()).await?;
        Ok(Usage {
            month: month.to_string(),
            invoices_this_month: this,
            previous_month: month.previous().to_string(),
            invoices_previous_month: prev,
            fee: plans.monthly_fee(record.profile.plan, this, prev),
        })
    }

    /// Invoices and fee per month, this month first, back to the month of registration (at most
    /// `months`).
    pub async fn usage_history(
        &self,
        id: &SellerId,
        plans: &FeePlans,
        months: usize,
    ) -> Result<Vec<MonthUsage>, PortalError> {
        let record = seller(self.sellers, id).await?;
        let first = YearMonth::in_paris(record.registered_at);
        let mut month = YearMonth::in_paris(self.clock.now());
        // The credit notes of every month shown, in one listing.
        let oldest = (0..months.saturating_sub(1)).fold(month, |m, _| m.previous()).max(first);
        let query =
            InvoiceQuery { from: Some(oldest.first_day()), credit_notes: Some(true), limit: 500, ..Default::default() };
        let mut credit_notes: BTreeMap<YearMonth, u64> = BTreeMap::new();
        for cn in all_invoices(self.invoices, id, query).await? {
            *credit_notes.entry(YearMonth::of(cn.invoice.issue_date)).or_default() += 1;
        }
        let mut out: Vec<MonthUsage> = Vec::new();
        let mut count = self.counters.usage(id, month).await?;
        while out.len() < months && month >= first {
            let before = month.previous();
            let count_before = self.counters.usage(id, before).await?;
            out.push(MonthUsage {
                month: month.to_string(),
                invoices: count,
                credit_notes: credit_notes.get(&month).copied().unwrap_or(0),
                fee: plans.monthly_fee(record.profile.plan, count, count_before),
            });
            month = before;
            count = count_before;
        }
        Ok(out)
    }

    /// The dashboard: this month's invoices and fee, the last run, the problems, invoices per day.
    pub async fn dashboard(&self, id: &SellerId, plans: &FeePlans) -> Result<Dashboard, PortalError> {
        let record = seller(self.sellers, id).await?;
        let usage = self.usage_of(&record, plans).await?;
        let last_run = self.runs.runs(id, 1).await?.into_iter().next();
        let problems = problem_orders(self.orders, &record).await?.len();
        // The Paris day, as invoice dates and the usage months are.
        let today = marketbill_domain::calendar::paris_date(self.clock.now());
        let first = YearMonth::of(today).first_day();
        let mut per_day = vec![0u64; usize::from(today.day())];
        let query = InvoiceQuery {
            from: Some(first),
            to: Some(today),
            credit_notes: Some(false),
            limit: 500,
            ..Default::default()
        };
        for rec in all_invoices(self.invoices, id, query).await? {
            if let Some(n) = per_day.get_mut(usize::from(rec.invoice.issue_date.day()).saturating_sub(1)) {
                *n += 1;
            }
        }
        let any = InvoiceQuery { limit: 1, ..Default::default() };
        let has_invoices = !self.invoices.list_invoices(id, &any).await?.items.is_empty();
        let next_run = crate::schedule::next_cycle(self.clock.now())
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Ok(Dashboard {
            seller_name: record.profile.legal_name,
            usage,
            last_run,
            problems,
            per_day,
            next_run,
            has_credentials: record.credentials.is_some(),
            has_platform: record.platform.is_some(),
            has_invoices,
        })
    }
}
