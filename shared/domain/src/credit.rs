//! Credit notes for part of an invoice: returned units, part of the shipping, a commercial
//! gesture, or what remains of the whole. French law allows no edit of an issued invoice; a
//! refund after invoicing is a credit note referring to it.
//!
//! Amounts work as invoices do: the buyer's money, VAT included, per line; per rate one base
//! and one VAT amount, spread over the lines, so every EN 16931 equation holds to the cent.
//! What every credit note of an invoice took is kept ([`Credited`]): the credited total can
//! never exceed the invoice, line by line and rate by rate.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::calendar::paris_date;
use crate::invoice::{
    DocumentKind, Draft, Invoice, InvoiceLine, InvoiceRef, LineKind, LineToPrice, Note, Totals, price_lines,
    refund_terms,
};
use crate::money::{VatRate, round_cents};
use crate::seller::SellerProfile;

/// One thing a credit note gives back.
// Read through [`CreditItemWire`], which refuses unknown fields (the API's schema says so): a
// typo such as `"quantiy"` must not pass unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", from = "CreditItemWire")]
pub enum CreditItem {
    /// Units of a goods line (returned, missing).
    Units { line: u32, quantity: Decimal },
    /// Part of a shipping line, VAT included.
    Shipping { line: u32, amount: Decimal },
    /// A fixed amount, VAT included, at one of the invoice's rates (a commercial gesture).
    Gesture { rate: VatRate, amount: Decimal },
    /// Everything of the invoice not credited yet.
    Remainder,
}

/// [`CreditItem`] as JSON brings it: every variant a struct, so that `deny_unknown_fields`
/// holds for all of them (serde lets a unit variant of a tagged enum take any field).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", deny_unknown_fields)]
enum CreditItemWire {
    Units { line: u32, quantity: Decimal },
    Shipping { line: u32, amount: Decimal },
    Gesture { rate: VatRate, amount: Decimal },
    Remainder {},
}

impl From<CreditItemWire> for CreditItem {
    fn from(w: CreditItemWire) -> CreditItem {
        match w {
            CreditItemWire::Units { line, quantity } => CreditItem::Units { line, quantity },
            CreditItemWire::Shipping { line, amount } => CreditItem::Shipping { line, amount },
            CreditItemWire::Gesture { rate, amount } => CreditItem::Gesture { rate, amount },
            CreditItemWire::Remainder {} => CreditItem::Remainder,
        }
    }
}

/// What every credit note of an invoice took so far, VAT included; `seq` counts them (a
/// ledger writes the next state only over the one it was computed from).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credited {
    pub seq: u64,
    /// By line id of the invoice.
    pub lines: BTreeMap<u32, Decimal>,
    /// Gestures, by rate.
    pub gestures: BTreeMap<VatRate, Decimal>,
    /// The marketplace refunds already credited (`order-cancelled`, `line-<id>`,
    /// `refund-<id>`): each gives one credit note, once.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub applied: BTreeSet<String>,
}

impl Credited {
    /// The state after a credit note cancelling the whole invoice (one that had none).
    pub fn whole(invoice: &Invoice) -> Credited {
        Credited {
            seq: 1,
            lines: invoice.body.lines.iter().map(|l| (l.id, l.gross_amount)).collect(),
            gestures: BTreeMap::new(),
            applied: BTreeSet::new(),
        }
    }

    /// What is still creditable on the invoice, VAT included.
    pub fn left_on(&self, invoice: &Invoice) -> Decimal {
        invoice.body.totals.tax_inclusive - self.total()
    }

    pub fn total(&self) -> Decimal {
        self.lines.values().chain(self.gestures.values()).copied().sum()
    }
}

/// Why a credit note cannot be made as asked; nothing is issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    #[error("{0} is a credit note; credit notes are made against invoices")]
    NotAnInvoice(String),
    #[error("the invoice has no line {0}")]
    NoSuchLine(u32),
    #[error("line {line} is {kind}; use {instead}")]
    WrongKind { line: u32, kind: &'static str, instead: &'static str },
    #[error("{what} must be more than zero")]
    NotPositive { what: String },
    #[error("line {line} has {remaining} left to credit (VAT included); {asked} was asked")]
    LineExceeded { line: u32, remaining: Decimal, asked: Decimal },
    #[error("{quantity} units asked on line {line}, which has {invoiced}")]
    TooManyUnits { line: u32, quantity: Decimal, invoiced: Decimal },
    #[error("the invoice has no amount at {0}")]
    NoSuchRate(String),
    #[error("at {rate}, {remaining} is left to credit (VAT included); {asked} was asked")]
    RateExceeded { rate: String, remaining: Decimal, asked: Decimal },
    #[error("nothing is left to credit on this invoice")]
    NothingLeft,
    #[error("a credit note needs at least one item")]
    Empty,
}

fn goods_or_shipping(kind: LineKind) -> &'static str {
    match kind {
        LineKind::Goods => "goods",
        LineKind::Shipping => "shipping",
        LineKind::Service => "service",
    }
}

impl Invoice {
    /// A credit note for the items asked, against what is left of this invoice after the
    /// credit notes already issued (`credited`); returns it with the credited state after it.
    pub fn credit(
        &self,
        seller: &SellerProfile,
        issued_at: OffsetDateTime,
        items: &[CreditItem],
        reason: &str,
        credited: &Credited,
    ) -> Result<(Draft, Credited), CreditError> {
        if self.kind.is_credit_note() {
            return Err(CreditError::NotAnInvoice(self.number.to_string()));
        }
        if items.is_empty() {
            return Err(CreditError::Empty);
        }
        let b = &self.body;
        let mut c = Crediting { invoice: self, after: credited.clone(), pending: Vec::new() };
        c.after.seq += 1;
        for item in items {
            match item {
                CreditItem::Units { line, quantity } => c.units(*line, *quantity)?,
                CreditItem::Shipping { line, amount } => c.shipping(*line, *amount)?,
                CreditItem::Gesture { rate, amount } => c.gesture(*rate, *amount)?,
                CreditItem::Remainder => c.remainder(),
            }
        }
        let Crediting { after, pending, .. } = c;
        if pending.is_empty() {
            return Err(CreditError::NothingLeft);
        }

        // Priced as invoices are: per rate one base for the group, spread over its lines.
        let (lines, breakdown) = price_lines(pending, b.regime);
        let line_net_total: Decimal = lines.iter().map(|l| l.net_amount).sum();
        let vat_total: Decimal = breakdown.iter().map(|v| v.vat_amount).sum();
        let issue_date = paris_date(issued_at).max(self.issue_date);
        let mut body = b.clone();
        body.lines = lines;
        body.vat_breakdown = breakdown;
        body.totals = Totals::paid(line_net_total, vat_total);
        body.payment.terms = refund_terms(body.language, issue_date);
        let whole = after.total() == b.totals.tax_inclusive && credited.total().is_zero();
        let reason: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect();
        body.notes.insert(
            0,
            Note {
                subject: Some("AAI".into()),
                text: crate::mentions::credit_note_of(
                    body.language,
                    whole,
                    self.number.as_str(),
                    self.issue_date,
                    &reason,
                ),
            },
        );
        let draft = Draft {
            kind: DocumentKind::CreditNote {
                corrects: InvoiceRef { number: self.number.clone(), issue_date: self.issue_date, partial: !whole },
            },
            issue_date,
            series: crate::ids::Series::new(seller.credit_note_prefix.clone(), issue_date.year()),
            body,
        };
        Ok((draft, after))
    }
}

/// How much of a line's remainder the gestures at its rate have already used: gestures take
/// from the rate's lines in order, so the remainders add up to what is left at the rate.
fn absorbed_by_gestures(b: &crate::invoice::InvoiceBody, after: &Credited, line: &InvoiceLine) -> Decimal {
    let mut left_to_absorb = after.gestures.get(&line.vat_rate).copied().unwrap_or_default();
    for l in b.lines.iter().filter(|l| l.vat_rate == line.vat_rate) {
        let remaining = l.gross_amount - after.lines.get(&l.id).copied().unwrap_or_default();
        let absorbed = remaining.min(left_to_absorb).max(Decimal::ZERO);
        if l.id == line.id {
            return absorbed;
        }
        left_to_absorb -= absorbed;
    }
    Decimal::ZERO
}

/// What an invoice's credit note takes, item by item: the lines it will carry and the
/// invoice's credited state after it.
struct Crediting<'a> {
    invoice: &'a Invoice,
    after: Credited,
    pending: Vec<LineToPrice>,
}

/// What a line has left, given a credited state.
fn left_on_line(credited: &Credited, l: &InvoiceLine) -> Decimal {
    l.gross_amount - credited.lines.get(&l.id).copied().unwrap_or_default()
}

impl<'a> Crediting<'a> {
    fn line(&self, id: u32) -> Result<&'a InvoiceLine, CreditError> {
        let invoice: &'a Invoice = self.invoice;
        invoice.body.lines.iter().find(|l| l.id == id).ok_or(CreditError::NoSuchLine(id))
    }

    fn remaining(&self, l: &InvoiceLine) -> Decimal {
        left_on_line(&self.after, l)
    }

    /// Takes `gross` off a line, never beyond what it has left.
    fn take(&mut self, l: &InvoiceLine, gross: Decimal) -> Result<(), CreditError> {
        let left = self.remaining(l);
        if gross > left {
            return Err(CreditError::LineExceeded { line: l.id, remaining: left, asked: gross });
        }
        *self.after.lines.entry(l.id).or_default() += gross;
        Ok(())
    }

    /// Units of a goods line, pro rata.
    fn units(&mut self, id: u32, quantity: Decimal) -> Result<(), CreditError> {
        let l = self.line(id)?;
        if l.kind != LineKind::Goods {
            return Err(CreditError::WrongKind { line: id, kind: "shipping", instead: "a shipping amount" });
        }
        if quantity <= Decimal::ZERO {
            return Err(CreditError::NotPositive { what: format!("the quantity of line {id}") });
        }
        if quantity > l.quantity {
            return Err(CreditError::TooManyUnits { line: id, quantity, invoiced: l.quantity });
        }
        // Pro rata of the units; the last units take what is left, so rounding
        // never leaves a cent behind nor goes over.
        let share = round_cents(l.gross_amount * quantity / l.quantity);
        let left = self.remaining(l);
        let gross = if quantity == l.quantity || share > left { left } else { share };
        if gross <= Decimal::ZERO {
            return Err(CreditError::LineExceeded { line: id, remaining: left, asked: share });
        }
        self.take(l, gross)?;
        self.pending.push(LineToPrice {
            kind: LineKind::Goods,
            order_line: l.order_line.clone(),
            description: l.description.clone(),
            sku: l.sku.clone(),
            gtin: l.gtin.clone(),
            quantity,
            gross,
            rate: l.vat_rate,
        });
        Ok(())
    }

    /// An amount of a shipping line.
    fn shipping(&mut self, id: u32, amount: Decimal) -> Result<(), CreditError> {
        let l = self.line(id)?;
        if l.kind != LineKind::Shipping {
            return Err(CreditError::WrongKind { line: id, kind: goods_or_shipping(l.kind), instead: "units" });
        }
        let amount = round_cents(amount);
        if amount <= Decimal::ZERO {
            return Err(CreditError::NotPositive { what: format!("the amount of line {id}") });
        }
        self.take(l, amount)?;
        self.pending.push(LineToPrice {
            kind: LineKind::Shipping,
            order_line: None,
            description: l.description.clone(),
            sku: None,
            gtin: None,
            quantity: Decimal::ONE,
            gross: amount,
            rate: l.vat_rate,
        });
        Ok(())
    }

    /// A commercial gesture at one of the invoice's rates, within what is left at that rate.
    fn gesture(&mut self, rate: VatRate, amount: Decimal) -> Result<(), CreditError> {
        let amount = round_cents(amount);
        if amount <= Decimal::ZERO {
            return Err(CreditError::NotPositive { what: "the amount of the gesture".into() });
        }
        let at_rate: Decimal =
            self.invoice.body.lines.iter().filter(|l| l.vat_rate == rate).map(|l| l.gross_amount).sum();
        if at_rate.is_zero() {
            return Err(CreditError::NoSuchRate(rate.to_french()));
        }
        let taken: Decimal = self
            .invoice
            .body
            .lines
            .iter()
            .filter(|l| l.vat_rate == rate)
            .map(|l| self.after.lines.get(&l.id).copied().unwrap_or_default())
            .sum::<Decimal>()
            + self.after.gestures.get(&rate).copied().unwrap_or_default();
        let left = at_rate - taken;
        if amount > left {
            return Err(CreditError::RateExceeded { rate: rate.to_french(), remaining: left, asked: amount });
        }
        *self.after.gestures.entry(rate).or_default() += amount;
        self.pending.push(LineToPrice {
            kind: LineKind::Goods,
            order_line: None,
            description: format!("Geste commercial (TVA {})", rate.to_french()),
            sku: None,
            gtin: None,
            quantity: Decimal::ONE,
            gross: amount,
            rate,
        });
        Ok(())
    }

    /// Whatever is left on every line.
    fn remainder(&mut self) {
        let b = &self.invoice.body;
        // What each line has left; gestures at a rate come off that rate's lines
        // in order, so the remainders add up to what is left at the rate.
        let before = self.after.clone();
        for l in &b.lines {
            let left = left_on_line(&before, l) - absorbed_by_gestures(b, &before, l);
            if left <= Decimal::ZERO {
                continue;
            }
            *self.after.lines.entry(l.id).or_default() += left;
            let quantity = if l.gross_amount == left { l.quantity } else { Decimal::ONE };
            self.pending.push(LineToPrice {
                kind: l.kind,
                order_line: l.order_line.clone(),
                description: l.description.clone(),
                sku: l.sku.clone(),
                gtin: l.gtin.clone(),
                quantity,
                gross: left,
                rate: l.vat_rate,
            });
        }
    }
}

/// A refund the marketplace reports on an invoiced order, not credited yet: its once-only key,
/// what it gives back, and the reason printed on the credit note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedRefund {
    pub key: String,
    pub items: Vec<CreditItem>,
    pub reason: String,
}

/// Whether a line status is one of those that mean refunded.
fn refunded(status: &str, refunded_statuses: &[String]) -> bool {
    refunded_statuses.iter().any(|s| s.eq_ignore_ascii_case(status))
}

/// Whether an order shows any refund at all (a cheap look before [`reported_refunds`], which
/// needs the invoice and what it has had credited).
pub fn shows_refunds(order: &crate::order::Order, refunded_statuses: &[String]) -> bool {
    order.status == crate::order::OrderStatus::Cancelled
        || !order.refunds.is_empty()
        || order.lines.iter().any(|l| l.status.as_ref().is_some_and(|st| refunded(st.as_str(), refunded_statuses)))
}

/// The refunds an order now shows that no credit note of its invoice has applied yet
/// (docs/reference/marketplace-refunds.md): the order cancelled after invoicing, lines whose
/// status is one of `refunded_statuses`, and the entries of its `refunds`.
pub fn reported_refunds(
    invoice: &Invoice,
    order: &crate::order::Order,
    refunded_statuses: &[String],
    credited: &Credited,
) -> Vec<ReportedRefund> {
    use crate::order::OrderStatus;
    let mut out = Vec::new();
    // A refund is credited once: not when an earlier credit note applied it, and not twice when
    // the marketplace lists the same entry (or line) twice in one order.
    let mut listed: BTreeSet<String> = BTreeSet::new();
    let mut fresh = |key: &str| !credited.applied.contains(key) && listed.insert(key.to_owned());
    if order.status == OrderStatus::Cancelled && fresh("order-cancelled") {
        out.push(ReportedRefund {
            key: "order-cancelled".into(),
            items: vec![CreditItem::Remainder],
            reason: "commande annulée après facturation".into(),
        });
        // The whole invoice goes: nothing else to read.
        return out;
    }
    let goods_line = |order_line: &str| {
        invoice.body.lines.iter().find(|l| l.kind == LineKind::Goods && l.order_line.as_deref() == Some(order_line))
    };
    for line in &order.lines {
        let (Some(id), Some(status)) = (&line.order_line_id, &line.status) else { continue };
        let status = status.as_str();
        let key = format!("line-{id}");
        if refunded(status, refunded_statuses)
            && fresh(&key)
            && let Some(l) = goods_line(id)
        {
            out.push(ReportedRefund {
                key,
                items: vec![CreditItem::Units { line: l.id, quantity: l.quantity }],
                reason: format!("article remboursé par la place de marché ({status})"),
            });
        }
    }
    for refund in &order.refunds {
        let key = format!("refund-{}", refund.refund_id);
        if !fresh(&key) {
            continue;
        }
        let mut items = Vec::new();
        for rl in &refund.lines {
            if let Some(l) = goods_line(&rl.order_line_id) {
                items.push(CreditItem::Units { line: l.id, quantity: rl.quantity.unwrap_or(l.quantity) });
            }
        }
        if let Some(amount) = refund.shipping_amount {
            items.extend(shipping_pro_rata(invoice, amount));
        }
        if let (Some(amount), Some(rate)) = (refund.amount, refund.rate.and_then(|r| VatRate::new(r).ok())) {
            items.push(CreditItem::Gesture { rate, amount });
        }
        if !items.is_empty() {
            let reason = refund.reason.clone().unwrap_or_else(|| "remboursement de la place de marché".into());
            out.push(ReportedRefund { key, items, reason });
        }
    }
    out
}

/// A shipping refund over the invoice's shipping lines (one per rate), pro rata of what each
/// was paid; the last takes what rounding left, so the parts add up to the amount.
pub fn shipping_pro_rata(invoice: &Invoice, amount: Decimal) -> Vec<CreditItem> {
    let lines: Vec<&InvoiceLine> = invoice.body.lines.iter().filter(|l| l.kind == LineKind::Shipping).collect();
    let paid: Decimal = lines.iter().map(|l| l.gross_amount).sum();
    if paid.is_zero() || amount <= Decimal::ZERO {
        return Vec::new();
    }
    let amount = round_cents(amount);
    let mut left = amount;
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let part = if i + 1 == lines.len() { left } else { round_cents(amount * l.gross_amount / paid) };
        left -= part;
        if part > Decimal::ZERO {
            out.push(CreditItem::Shipping { line: l.id, amount: part });
        }
    }
    out
}
