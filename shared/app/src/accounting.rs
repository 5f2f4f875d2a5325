//! The sales journal for the seller's accountant: the FEC file of the French tax procedure
//! book (article A47 A-1: 18 tab-separated columns, dates `AAAAMMJJ`, decimal comma) and a
//! CSV for spreadsheets. One balanced entry per invoice and credit note: the customer account
//! (the marketplace as auxiliary account) against sales and VAT collected per rate; credit
//! notes the other way round. The accounts are settings ([`Accounts`]).

use std::collections::BTreeSet;

use marketbill_domain::money::VatRate;
use marketbill_domain::{DocumentKind, Invoice};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::model::InvoiceRecord;

/// The accounts the journal uses (French chart of accounts by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Accounts {
    pub journal_code: String,
    pub journal_label: String,
    /// Customers (the debit of a sale).
    pub customer: String,
    /// The auxiliary account of the customers: the marketplace that collected the payment.
    pub customer_aux: String,
    pub customer_aux_label: String,
    /// Sales of goods (shipping included), one line per rate.
    pub sales: String,
    /// VAT collected, one line per rate.
    pub vat: String,
}

impl Default for Accounts {
    fn default() -> Accounts {
        Accounts {
            journal_code: "VT".into(),
            journal_label: "Ventes".into(),
            customer: "411".into(),
            customer_aux: "CDISCOUNT".into(),
            customer_aux_label: "Cdiscount (place de marché)".into(),
            sales: "7071".into(),
            vat: "44571".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountsError {
    #[error(
        "the accounts are not valid JSON (keys: journalCode, journalLabel, customer, customerAux, customerAuxLabel, sales, vat): {0}"
    )]
    Json(String),
    #[error("account {0} must be 1 to 20 letters or digits")]
    Account(&'static str),
}

impl Accounts {
    /// Reads accounts from JSON; a key left out keeps its default.
    pub fn from_json(text: &str) -> Result<Accounts, AccountsError> {
        let a: Accounts = serde_json::from_str(text).map_err(|e| AccountsError::Json(e.to_string()))?;
        let ok = |v: &str| (1..=20).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric());
        for (name, value) in [
            ("journalCode", &a.journal_code),
            ("customer", &a.customer),
            ("customerAux", &a.customer_aux),
            ("sales", &a.sales),
            ("vat", &a.vat),
        ] {
            if !ok(value) {
                return Err(AccountsError::Account(name));
            }
        }
        Ok(a)
    }
}

/// The FEC's columns, in the order the format fixes.
const FEC_COLUMNS: [&str; 18] = [
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
];

/// A French decimal with two places and no grouping (`1234,50`).
fn fec_amount(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2)).replace('.', ",")
}

fn compact(d: time::Date) -> String {
    marketbill_domain::calendar::compact_date(d)
}

/// A text field as the FEC may carry it: no tab, no line break, and never read as a formula
/// by the spreadsheet that opens it (see [`inert`]).
fn field(s: &str) -> String {
    inert(&s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>())
}

/// Text that a spreadsheet shows as text: a cell starting with `=`, `+`, `-`, `@` (or a tab or
/// carriage return, which some programs strip before looking) is a formula to Excel,
/// LibreOffice and Google Sheets — `=HYPERLINK(…)` from a buyer's name would be a live link in
/// the seller's journal. Such a cell gets a leading apostrophe (OWASP's advice), which the
/// spreadsheet shows as text. Amounts are written by us and never pass here.
pub fn inert(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// One line of an entry: account, label, auxiliary account, debit, credit.
struct Line<'a> {
    account: &'a str,
    account_label: String,
    aux: Option<(&'a str, &'a str)>,
    debit: Decimal,
    credit: Decimal,
}

/// The lines of one document's entry: the customer for the total, sales and VAT per rate;
/// a credit note the other way round. They balance by construction (the document's totals
/// are the sums of its VAT summary).
fn entry_lines<'a>(inv: &Invoice, a: &'a Accounts) -> Vec<Line<'a>> {
    let credit_note = inv.kind.is_credit_note();
    let side = |amount: Decimal, on_debit: bool| {
        if on_debit != credit_note { (amount, Decimal::ZERO) } else { (Decimal::ZERO, amount) }
    };
    let mut lines = Vec::with_capacity(1 + 2 * inv.body.vat_breakdown.len());
    let (debit, credit) = side(inv.body.totals.tax_inclusive, true);
    lines.push(Line {
        account: &a.customer,
        account_label: "Clients".into(),
        aux: Some((&a.customer_aux, &a.customer_aux_label)),
        debit,
        credit,
    });
    for v in &inv.body.vat_breakdown {
        let (debit, credit) = side(v.taxable_amount, false);
        lines.push(Line {
            account: &a.sales,
            account_label: format!("Ventes de marchandises {} %", v.rate),
            aux: None,
            debit,
            credit,
        });
    }
    for v in inv.body.vat_breakdown.iter().filter(|v| !v.vat_amount.is_zero()) {
        let (debit, credit) = side(v.vat_amount, false);
        lines.push(Line {
            account: &a.vat,
            account_label: format!("TVA collectée {} %", v.rate),
            aux: None,
            debit,
            credit,
        });
    }
    lines
}

/// The FEC file name: SIREN (or the seller's identifier), `FEC`, the closing date.
pub fn fec_file_name(siren_or_id: &str, closing: time::Date) -> String {
    let id: String = siren_or_id.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("{id}FEC{}.txt", compact(closing))
}

/// The FEC of documents (invoices and credit notes, in number order within each series).
pub fn fec(records: &[InvoiceRecord], accounts: &Accounts) -> String {
    let mut out = FEC_COLUMNS.join("\t");
    out.push_str("\r\n");
    for (n, rec) in records.iter().enumerate() {
        let inv = &rec.invoice;
        let date = compact(inv.issue_date);
        let kind = match &inv.kind {
            DocumentKind::Invoice => "Facture".to_owned(),
            DocumentKind::CreditNote { corrects } => format!("Avoir sur {}", corrects.number),
        };
        let label = field(&format!("{kind} commande {}", inv.body.order_id));
        for l in entry_lines(inv, accounts) {
            let (aux, aux_label) = l.aux.unwrap_or(("", ""));
            let row = [
                field(&accounts.journal_code),
                field(&accounts.journal_label),
                (n + 1).to_string(),
                date.clone(),
                field(l.account),
                field(&l.account_label),
                field(aux),
                field(aux_label),
                field(inv.number.as_str()),
                date.clone(),
                label.clone(),
                fec_amount(l.debit),
                fec_amount(l.credit),
                String::new(),
                String::new(),
                date.clone(),
                String::new(),
                String::new(),
            ];
            out.push_str(&row.join("\t"));
            out.push_str("\r\n");
        }
    }
    out
}

/// A CSV text cell: inert (see [`inert`]), then quoted when it holds the separator, a quote or
/// a line break. Every text of the CSV is written through here; amounts are ours.
fn csv_field(s: &str) -> String {
    let s = inert(s);
    if s.contains([';', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// The sales journal as CSV for spreadsheets: UTF-8 with a byte-order mark, `;`, one row per
/// document, base and VAT per rate (credit notes negative), decimal comma.
pub fn csv(records: &[InvoiceRecord]) -> String {
    let rates: BTreeSet<VatRate> =
        records.iter().flat_map(|r| r.invoice.body.vat_breakdown.iter().map(|v| v.rate)).collect();
    let mut header: Vec<String> =
        ["numero", "type", "date", "commande", "acheteur", "regime"].iter().map(|s| (*s).to_owned()).collect();
    for r in &rates {
        header.push(format!("base_ht_{r}"));
        header.push(format!("tva_{r}"));
    }
    header.extend(["total_ht", "total_tva", "total_ttc", "facture_corrigee"].map(str::to_owned));
    let mut out = String::from("\u{feff}");
    out.push_str(&header.join(";"));
    out.push_str("\r\n");
    for rec in records {
        let inv = &rec.invoice;
        let sign = if inv.kind.is_credit_note() { -Decimal::ONE } else { Decimal::ONE };
        let amount = |d: Decimal| fec_amount(d * sign);
        let mut row = vec![
            csv_field(inv.number.as_str()),
            if inv.kind.is_credit_note() { "avoir" } else { "facture" }.to_owned(),
            marketbill_domain::calendar::iso_date(inv.issue_date),
            csv_field(inv.body.order_id.as_str()),
            csv_field(&inv.body.buyer.name),
            format!("{:?}", inv.body.regime),
        ];
        for r in &rates {
            let v = inv.body.vat_breakdown.iter().find(|v| v.rate == *r);
            row.push(amount(v.map(|v| v.taxable_amount).unwrap_or_default()));
            row.push(amount(v.map(|v| v.vat_amount).unwrap_or_default()));
        }
        let t = &inv.body.totals;
        row.push(amount(t.tax_exclusive));
        row.push(amount(t.vat_total));
        row.push(amount(t.tax_inclusive));
        row.push(match &inv.kind {
            DocumentKind::CreditNote { corrects } => csv_field(corrects.number.as_str()),
            DocumentKind::Invoice => String::new(),
        });
        out.push_str(&row.join(";"));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<InvoiceRecord> {
        let seller: crate::model::SellerId = "acc".parse().unwrap();
        let profile = marketbill_testkit::sellers::sample_seller(0, "10000").unwrap();
        let inv = marketbill_testkit::invoices::sample_invoice(3).unwrap();
        let at = time::macros::datetime!(2026-11-25 10:00 UTC);
        let cn = marketbill_testkit::invoices::sample_credit_note(&inv, &profile, at).unwrap();
        let order = inv.body.order_id.clone();
        vec![InvoiceRecord::new(&seller, &order, inv, at), InvoiceRecord::new(&seller, &order, cn, at)]
    }

    fn num(s: &str) -> Decimal {
        if s.is_empty() { Decimal::ZERO } else { s.replace(',', ".").parse().unwrap() }
    }

    #[test]
    fn every_fec_entry_balances_and_the_totals_per_rate_are_the_documents() {
        let recs = records();
        let text = fec(&recs, &Accounts::default());
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows[0], FEC_COLUMNS);
        assert!(rows.iter().all(|r| r.len() == 18));
        let mut by_entry: std::collections::BTreeMap<&str, (Decimal, Decimal)> = Default::default();
        for r in &rows[1..] {
            let e = by_entry.entry(r[2]).or_default();
            e.0 += num(r[11]);
            e.1 += num(r[12]);
            assert_eq!(r[3].len(), 8, "AAAAMMJJ");
        }
        assert_eq!(by_entry.len(), 2);
        for (n, (d, c)) in &by_entry {
            assert_eq!(d, c, "entry {n} balances");
        }
        // Sales per rate: invoices less credit notes, as the documents say.
        let sales: Decimal = rows[1..].iter().filter(|r| r[4] == "7071").map(|r| num(r[12]) - num(r[11])).sum();
        let expected = recs[0].invoice.body.totals.tax_exclusive - recs[1].invoice.body.totals.tax_exclusive;
        assert_eq!(sales, expected);
        assert_eq!(fec_file_name("732 829 320", time::macros::date!(2026 - 11 - 30)), "732829320FEC20261130.txt");
    }

    #[test]
    fn accounts_are_read_from_json_and_checked() {
        let a = Accounts::from_json(r#"{"sales": "707100", "customerAux": "CDISC"}"#).unwrap();
        assert_eq!((a.sales.as_str(), a.customer_aux.as_str(), a.vat.as_str()), ("707100", "CDISC", "44571"));
        let text = fec(&records(), &a);
        assert!(text.lines().any(|l| l.split('\t').nth(4) == Some("707100")));
        assert!(matches!(Accounts::from_json(r#"{"sale": "7"}"#), Err(AccountsError::Json(_))));
        assert_eq!(Accounts::from_json(r#"{"vat": "445 71"}"#), Err(AccountsError::Account("vat")));
        assert_eq!(Accounts::from_json(r#"{"customer": ""}"#), Err(AccountsError::Account("customer")));
    }

    #[test]
    fn no_text_cell_of_the_journal_is_a_formula() {
        let mut recs = records();
        for (rec, name) in recs.iter_mut().zip(["=HYPERLINK(\"http://x.example\",\"x\")", "@SUM(A1)"]) {
            rec.invoice.body.buyer.name = name.into();
        }
        let text = csv(&recs);
        let buyers: Vec<&str> = text.lines().skip(1).map(|l| l.split(';').nth(4).unwrap()).collect();
        assert_eq!(buyers, ["\"'=HYPERLINK(\"\"http://x.example\"\",\"\"x\"\")\"", "'@SUM(A1)"]);
        for cell in text.lines().skip(1).flat_map(|l| l.split(';')) {
            let unquoted = cell.trim_start_matches('"');
            assert!(!unquoted.starts_with(['=', '+', '@']), "{cell}");
        }
        for name in ["+1", "-2", "\tx", "plain", ""] {
            let out = inert(name);
            assert!(!out.starts_with(['=', '+', '-', '@', '\t']) || name.is_empty(), "{out}");
        }
        let accounts = Accounts { journal_label: "=1+1".into(), ..Accounts::default() };
        let fec_text = fec(&recs, &accounts);
        assert!(fec_text.lines().skip(1).all(|l| l.split('\t').nth(1) == Some("'=1+1")));
    }

    #[test]
    fn the_csv_has_a_column_pair_per_rate_and_credit_notes_count_negative() {
        let recs = records();
        let text = csv(&recs);
        assert!(text.starts_with('\u{feff}'));
        let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(lines.len(), 3);
        let header: Vec<&str> = lines[0].split(';').collect();
        assert!(header.contains(&"base_ht_20") && header.contains(&"tva_5.5"), "{header:?}");
        let total_col = header.iter().position(|h| *h == "total_ttc").unwrap();
        let invoice_total = num(lines[1].split(';').nth(total_col).unwrap());
        let credit_total = num(lines[2].split(';').nth(total_col).unwrap());
        assert_eq!(invoice_total, recs[0].invoice.body.totals.tax_inclusive);
        assert_eq!(credit_total, -recs[1].invoice.body.totals.tax_inclusive);
    }
}
