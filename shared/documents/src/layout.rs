//! Page layout of an invoice: A4 pages as lists of drawing commands (text, rules, fills),
//! with the lines table flowing over pages and its header repeated, and page numbers.

use marketbill_domain::calendar::local_date;
use marketbill_domain::invoice::{InvoiceAddress, LineKind};
use marketbill_domain::money::{format_decimal, format_euros_fr};
use marketbill_domain::seller::Language;
use marketbill_domain::{DocumentKind, Invoice};
use rust_decimal::Decimal;

use crate::font::{Face, FontFamily, printable};
use crate::labels::{Labels, for_language};

pub const PAGE_WIDTH: f32 = 595.28;
pub const PAGE_HEIGHT: f32 = 841.89;
const LEFT: f32 = 42.0;
const RIGHT: f32 = 553.0;
const TOP: f32 = 800.0;
/// Content stops here; the footer lives below.
const BOTTOM: f32 = 72.0;

/// The least space between two texts on one line.
pub const MIN_GAP: f32 = 6.0;

// Lines table columns: description on the left, numbers right-aligned at these x.
const DESC_WIDTH: f32 = 262.0;
const COL_QTY: f32 = 346.0;
const COL_UNIT: f32 = 420.0;
const COL_RATE: f32 = 468.0;
const COL_AMOUNT: f32 = RIGHT - 4.0;

/// One drawing command, in PDF points from the bottom-left corner.
#[derive(Debug, Clone, PartialEq)]
pub enum Draw {
    Text { face: Face, size: f32, x: f32, y: f32, text: String, gray: f32 },
    Rule { x1: f32, y1: f32, x2: f32, y2: f32, width: f32, gray: f32 },
    Fill { x: f32, y: f32, w: f32, h: f32, gray: f32 },
}

pub type Page = Vec<Draw>;

struct Layout<'a> {
    fonts: &'a FontFamily,
    labels: &'static Labels,
    pages: Vec<Page>,
    y: f32,
}

/// French number with a decimal comma and thousands grouped by a narrow no-break space, as
/// the amounts are (`1,5`, `12,50`, `3 744,67`).
fn fr_number(d: Decimal, min: u32, max: u32) -> String {
    let plain = format_decimal(d, min, max);
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (int_part, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut out = String::from(sign);
    for (i, ch) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push(',');
        out.push_str(f);
    }
    out
}

/// A unit price as printed: with the currency, and as many decimals (two to six) as it takes
/// for quantity × price to give the line's amount — the decimals that carry information, not
/// the six the XML keeps (`1,4433 €` for 3 × 1.443333… = 4.33, `12,50 €`).
fn unit_price(line: &marketbill_domain::InvoiceLine) -> String {
    let decimals = (2..=6)
        .find(|&dp| {
            let price = line.unit_price_net.round_dp(dp);
            (price * line.quantity).round_dp(2) == line.net_amount
        })
        .unwrap_or(6);
    format!("{}\u{a0}€", fr_number(line.unit_price_net, 2, decimals))
}

/// Words a line must not break after: an identifier's label stays with its number
/// (`SIRET 73282932000074`, `RCS Lyon 732829320`).
const KEEP_WITH_NEXT: [&str; 5] = ["SIREN", "SIRET", "RCS", "TVA", "N°"];

/// The units a line may break between: words separated by plain spaces (a no-break space
/// never breaks), with identifier labels kept with what follows.
fn break_units(text: &str) -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        match units.last_mut() {
            Some(unit) if glued(unit) => {
                unit.push(' ');
                unit.push_str(word);
            }
            _ => units.push(word.to_owned()),
        }
    }
    units
}

/// Whether the next word stays with this unit: it ends with an identifier's label, or it is
/// `RCS <city>` still waiting for its number.
fn glued(unit: &str) -> bool {
    let last = unit.rsplit(' ').next().unwrap_or_default();
    KEEP_WITH_NEXT.contains(&last) || (unit.starts_with("RCS ") && unit.split(' ').count() == 2)
}

impl<'a> Layout<'a> {
    fn page(&mut self) -> &mut Page {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn text(&mut self, face: Face, size: f32, x: f32, y: f32, text: &str) -> f32 {
        self.text_gray(face, size, x, y, text, 0.0)
    }

    /// Draws text left-aligned at x; returns its width.
    fn text_gray(&mut self, face: Face, size: f32, x: f32, y: f32, text: &str, gray: f32) -> f32 {
        let f = self.fonts.face(face);
        let shown = printable(f, text);
        let w = f.width(&shown, size);
        if !shown.is_empty() {
            self.page().push(Draw::Text { face, size, x, y, text: shown, gray });
        }
        w
    }

    fn text_right(&mut self, face: Face, size: f32, right: f32, y: f32, text: &str) {
        let f = self.fonts.face(face);
        let shown = printable(f, text);
        let w = f.width(&shown, size);
        self.page().push(Draw::Text { face, size, x: right - w, y, text: shown, gray: 0.0 });
    }

    fn rule(&mut self, y: f32, gray: f32, width: f32) {
        self.page().push(Draw::Rule { x1: LEFT, y1: y, x2: RIGHT, y2: y, width, gray });
    }

    /// Splits text into lines no wider than `max` (words first, then characters).
    fn wrap(&self, face: Face, size: f32, text: &str, max: f32) -> Vec<String> {
        let f = self.fonts.face(face);
        let text = printable(f, text);
        let mut lines = Vec::new();
        let mut current = String::new();
        for word in break_units(&text) {
            let word = word.as_str();
            let candidate = if current.is_empty() { word.to_owned() } else { format!("{current} {word}") };
            if f.width(&candidate, size) <= max {
                current = candidate;
                continue;
            }
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            if f.width(word, size) <= max {
                current = word.to_owned();
            } else {
                for ch in word.chars() {
                    let mut next = current.clone();
                    next.push(ch);
                    if f.width(&next, size) > max && !current.is_empty() {
                        lines.push(std::mem::replace(&mut current, ch.to_string()));
                    } else {
                        current = next;
                    }
                }
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
        if lines.is_empty() {
            lines.push(String::new());
        }
        lines
    }

    /// An address as printed: the country (outside France) in the document's language.
    fn address_lines(a: &InvoiceAddress, lang: Language) -> Vec<String> {
        let mut out: Vec<String> = a.lines.clone();
        out.push(format!("{} {}", a.postal_code, a.city));
        if !a.country.is_france() {
            let name = a.country.name(lang);
            out.push(if name.is_empty() { a.country.to_string() } else { name.to_uppercase() });
        }
        out
    }

    fn new_page(&mut self, inv: &Invoice) {
        self.pages.push(Vec::new());
        let title = self.title(inv);
        let label = format!("{title} {} {} — {}", self.labels.number, inv.number, self.labels.continued);
        self.text(Face::Bold, 10.0, LEFT, TOP, &label);
        self.y = TOP - 22.0;
    }

    fn title(&self, inv: &Invoice) -> &'static str {
        match inv.kind {
            DocumentKind::Invoice => self.labels.invoice,
            DocumentKind::CreditNote { .. } => self.labels.credit_note,
        }
    }

    fn header(&mut self, inv: &Invoice) {
        let b = &inv.body;
        let l = self.labels;
        let s = &b.seller;
        // Seller block, left.
        let mut y = TOP;
        for line in self.wrap(Face::Bold, 13.0, &s.legal_name, 280.0) {
            self.text(Face::Bold, 13.0, LEFT, y, &line);
            y -= 15.0;
        }
        y -= 1.0;
        for line in Self::address_lines(&s.address, b.language) {
            self.text(Face::Regular, 8.5, LEFT, y, &line);
            y -= 11.0;
        }
        // The identifiers the legal mentions (in the footer) do not already show, once each.
        let mut ids = Vec::new();
        if let Some(siren) = &s.siren
            && !s.legal_mentions.contains(siren.as_str())
        {
            ids.push(format!("SIREN {siren}"));
        }
        if let Some(siret) = &s.siret
            && !s.legal_mentions.contains(siret.as_str())
        {
            ids.push(format!("SIRET {siret}"));
        }
        if !ids.is_empty() {
            self.text(Face::Regular, 8.5, LEFT, y, &ids.join(" — "));
            y -= 11.0;
        }
        if let Some(vat) = &s.vat_number {
            self.text(Face::Regular, 8.5, LEFT, y, &format!("{} : {vat}", l.vat_number));
            y -= 11.0;
        }
        // The legal mentions (form, capital, RCS, SIRET) are in every page's footer: once per
        // page, never twice.
        self.text_gray(Face::Regular, 8.0, LEFT, y, &s.email, 0.25);
        y -= 10.0;

        // Document block, right.
        let x = 340.0;
        let mut ry = TOP;
        self.text_right(Face::Bold, 20.0, RIGHT, ry - 4.0, self.title(inv));
        ry -= 28.0;
        let date = |d| local_date(b.language, d);
        // A document of services only (Marketbill's fee invoice) has a date of service and a
        // reference where a sale has a delivery date and its marketplace order.
        let service = !b.lines.is_empty() && b.lines.iter().all(|line| line.kind == LineKind::Service);
        let (date_label, order_label) =
            if service { (l.service_date, l.reference) } else { (l.delivery_date, l.order) };
        let mut rows: Vec<(String, String)> = vec![
            (l.number.to_owned(), inv.number.to_string()),
            (l.issue_date.to_owned(), date(inv.issue_date)),
            (date_label.to_owned(), date(b.delivery_date)),
            (order_label.to_owned(), b.order_id.to_string()),
        ];
        // What a credit note corrects (in whole or in part), what a corrected invoice replaces.
        let preceding = match &inv.kind {
            DocumentKind::CreditNote { corrects } => {
                Some((if corrects.partial { l.corrects_part } else { l.corrects }, corrects))
            }
            DocumentKind::Invoice => b.replaces.as_ref().map(|r| (l.replaces, r)),
        };
        if let Some((label, r)) = preceding {
            rows.push((label.to_owned(), format!("{} {} {}", r.number, l.of_date, date(r.issue_date))));
        }
        if let Some(due) = b.payment.due_date {
            rows.push((l.due_date.to_owned(), date(due)));
        }
        if let Some(r) = &b.buyer.marketplace_reference {
            rows.push((l.customer_ref.to_owned(), r.clone()));
        }
        for (i, (k, v)) in rows.iter().enumerate() {
            let face = if i == 0 { Face::Bold } else { Face::Regular };
            let label = format!("{k} :");
            let label_w = self.text_gray(Face::Regular, 8.5, x, ry, &label, 0.3);
            // A value that would run into its label goes on the line below, right-aligned.
            let value_w = self.fonts.face(face).width(&printable(self.fonts.face(face), v), 8.5);
            if x + label_w + MIN_GAP > RIGHT - value_w {
                ry -= 11.0;
            }
            self.text_right(face, 8.5, RIGHT, ry, v);
            ry -= 12.0;
        }
        self.y = y.min(ry) - 14.0;

        // Buyer and delivery blocks.
        let top = self.y;
        let mut by = top;
        self.text_gray(Face::Bold, 7.5, LEFT, by, l.bill_to, 0.35);
        by -= 12.0;
        for line in self.wrap(Face::Bold, 10.0, &b.buyer.name, 250.0) {
            self.text(Face::Bold, 10.0, LEFT, by, &line);
            by -= 12.0;
        }
        for line in Self::address_lines(&b.buyer.address, b.language) {
            self.text(Face::Regular, 8.5, LEFT, by, &line);
            by -= 11.0;
        }
        if let Some(vat) = &b.buyer.vat_number {
            self.text(Face::Regular, 8.5, LEFT, by, &format!("{} : {vat}", l.vat_number));
            by -= 11.0;
        }
        if let Some(siren) = &b.buyer.siren {
            self.text(Face::Regular, 8.5, LEFT, by, &format!("SIREN : {siren}"));
            by -= 11.0;
        }
        let mut dy = top;
        if let Some(d) = &b.delivery {
            self.text_gray(Face::Bold, 7.5, x, dy, l.ship_to, 0.35);
            dy -= 12.0;
            for line in self.wrap(Face::Bold, 9.0, &d.name, RIGHT - x) {
                self.text(Face::Bold, 9.0, x, dy, &line);
                dy -= 11.0;
            }
            for line in Self::address_lines(&d.address, b.language) {
                self.text(Face::Regular, 8.5, x, dy, &line);
                dy -= 11.0;
            }
        }
        self.y = by.min(dy) - 12.0;
    }

    /// The lines table's header: each column's label within its column, over as many lines as
    /// the longest needs (labels are longer in some languages).
    fn table_header(&mut self) {
        let l = self.labels;
        let desc_right = LEFT + 4.0 + DESC_WIDTH;
        let columns = [
            (l.quantity, desc_right, COL_QTY),
            (l.unit_price, COL_QTY, COL_UNIT),
            (l.vat, COL_UNIT, COL_RATE),
            (l.amount, COL_RATE, COL_AMOUNT),
        ];
        let wrapped: Vec<(Vec<String>, f32)> = columns
            .iter()
            .map(|(label, left, right)| (self.wrap(Face::Bold, 8.0, label, right - left - MIN_GAP), *right))
            .collect();
        let rows = wrapped.iter().map(|(lines, _)| lines.len()).max().unwrap_or(1).max(1) as f32;
        let y = self.y;
        let extra = (rows - 1.0) * 9.0;
        self.page().push(Draw::Fill { x: LEFT, y: y - 5.0 - extra, w: RIGHT - LEFT, h: 16.0 + extra, gray: 0.9 });
        self.text(Face::Bold, 8.0, LEFT + 4.0, y, l.description);
        for (lines, right) in wrapped {
            for (i, line) in lines.iter().enumerate() {
                self.text_right(Face::Bold, 8.0, right, y - i as f32 * 9.0, line);
            }
        }
        self.y -= 18.0 + extra;
    }

    fn lines_table(&mut self, inv: &Invoice) {
        self.table_header();
        for line in &inv.body.lines {
            let mut desc = self.wrap(Face::Regular, 8.5, &line.description, DESC_WIDTH);
            let reference = match (&line.sku, line.kind) {
                (Some(sku), LineKind::Goods) => Some(format!("{} {sku}", self.labels.seller_ref)),
                _ => None,
            };
            let height = desc.len() as f32 * 10.5 + if reference.is_some() { 9.0 } else { 0.0 } + 5.0;
            if self.y - height < BOTTOM {
                self.new_page(inv);
                self.table_header();
            }
            let y = self.y;
            self.text_right(Face::Regular, 8.5, COL_QTY, y, &fr_number(line.quantity, 0, 4));
            self.text_right(Face::Regular, 8.5, COL_UNIT, y, &unit_price(line));
            self.text_right(Face::Regular, 8.5, COL_RATE, y, &line.vat_rate.to_french());
            self.text_right(Face::Regular, 8.5, COL_AMOUNT, y, &format_euros_fr(line.net_amount));
            let mut ly = y;
            for d in desc.drain(..) {
                self.text(Face::Regular, 8.5, LEFT + 4.0, ly, &d);
                ly -= 10.5;
            }
            if let Some(r) = reference {
                self.text_gray(Face::Regular, 7.0, LEFT + 4.0, ly + 1.5, &r, 0.4);
                ly -= 9.0;
            }
            self.y = ly - 5.0 + 10.5;
            self.rule(self.y + 2.5, 0.82, 0.4);
            self.y -= 8.0;
        }
    }

    fn summary(&mut self, inv: &Invoice) {
        let b = &inv.body;
        let l = self.labels;
        let rows = b.vat_breakdown.len() as f32;
        let needed = 30.0 + (rows + 1.0) * 12.0 + 60.0;
        if self.y - needed < BOTTOM {
            self.new_page(inv);
        }
        self.y -= 6.0;
        let top = self.y;
        // VAT summary, left.
        let mut y = top;
        self.text_gray(Face::Bold, 7.5, LEFT, y, &l.vat_summary.to_uppercase(), 0.35);
        y -= 13.0;
        self.text(Face::Bold, 8.0, LEFT, y, l.rate);
        self.text_right(Face::Bold, 8.0, 190.0, y, l.base);
        self.text_right(Face::Bold, 8.0, 270.0, y, l.vat_amount);
        y -= 4.0;
        self.page().push(Draw::Rule { x1: LEFT, y1: y, x2: 270.0, y2: y, width: 0.5, gray: 0.5 });
        y -= 11.0;
        for g in &b.vat_breakdown {
            let rate = if g.rate.is_zero() {
                format!("{} ({})", g.rate.to_french(), g.category.code())
            } else {
                g.rate.to_french()
            };
            self.text(Face::Regular, 8.5, LEFT, y, &rate);
            self.text_right(Face::Regular, 8.5, 190.0, y, &format_euros_fr(g.taxable_amount));
            self.text_right(Face::Regular, 8.5, 270.0, y, &format_euros_fr(g.vat_amount));
            y -= 12.0;
        }
        // Totals, right.
        let x = 340.0;
        let mut ty = top - 13.0;
        let t = &b.totals;
        for (label, value) in [(l.total_net, t.tax_exclusive), (l.total_vat, t.vat_total)] {
            self.text(Face::Regular, 9.0, x, ty, label);
            self.text_right(Face::Regular, 9.0, COL_AMOUNT, ty, &format_euros_fr(value));
            ty -= 13.0;
        }
        ty -= 2.0;
        self.page().push(Draw::Fill { x: x - 4.0, y: ty - 5.0, w: RIGHT - x + 4.0, h: 17.0, gray: 0.9 });
        self.text(Face::Bold, 10.5, x, ty, l.total_gross);
        self.text_right(Face::Bold, 10.5, COL_AMOUNT, ty, &format_euros_fr(t.tax_inclusive));
        ty -= 18.0;
        for line in self.wrap(Face::Bold, 8.5, &b.payment.terms, RIGHT - x) {
            self.text(Face::Bold, 8.5, x, ty, &line);
            ty -= 11.0;
        }
        self.text(Face::Regular, 9.0, x, ty, l.due);
        self.text_right(Face::Regular, 9.0, COL_AMOUNT, ty, &format_euros_fr(t.payable));
        ty -= 13.0;
        self.y = y.min(ty) - 8.0;
    }

    fn notes(&mut self, inv: &Invoice) {
        for note in &inv.body.notes {
            let face = if note.subject.as_deref() == Some("TXD") { Face::Bold } else { Face::Regular };
            let lines = self.wrap(face, 8.0, &note.text, RIGHT - LEFT);
            if self.y - lines.len() as f32 * 10.0 < BOTTOM {
                self.new_page(inv);
            }
            for line in lines {
                self.text(face, 8.0, LEFT, self.y, &line);
                self.y -= 10.0;
            }
        }
    }

    fn footers(&mut self, inv: &Invoice) {
        let count = self.pages.len();
        let s = &inv.body.seller;
        let legal = format!("{} — {}", s.legal_name, s.legal_mentions);
        let legal_lines = self.wrap(Face::Regular, 7.0, &legal, 400.0);
        for i in 0..count {
            let label = format!("{} {} / {count}", self.labels.page, i + 1);
            let mut footer = vec![Draw::Rule { x1: LEFT, y1: 52.0, x2: RIGHT, y2: 52.0, width: 0.5, gray: 0.6 }];
            let f = self.fonts.face(Face::Regular);
            let w = f.width(&label, 7.5);
            footer.push(Draw::Text { face: Face::Regular, size: 7.5, x: RIGHT - w, y: 42.0, text: label, gray: 0.3 });
            let mut y = 42.0;
            for line in legal_lines.iter().take(2) {
                footer.push(Draw::Text { face: Face::Regular, size: 7.0, x: LEFT, y, text: line.clone(), gray: 0.3 });
                y -= 9.0;
            }
            self.pages[i].extend(footer);
        }
    }
}

/// Lays out an invoice or credit note on A4 pages.
pub fn layout(inv: &Invoice, fonts: &FontFamily) -> Vec<Page> {
    let mut l = Layout { fonts, labels: for_language(inv.body.language), pages: vec![Vec::new()], y: TOP };
    l.header(inv);
    l.lines_table(inv);
    l.summary(inv);
    l.notes(inv);
    l.footers(inv);
    l.pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketbill_domain::{DocumentKind, IssueRequest, Order, draft_invoice};
    use marketbill_testkit::sellers::sample_seller;
    use marketbill_testkit::{OrderGenerator, OrderMix};

    const NOW: time::OffsetDateTime = time::macros::datetime!(2026-11-22 05:00 UTC);

    fn fonts() -> &'static FontFamily {
        crate::font::family().unwrap()
    }

    /// A few invoices and the credit note of each, for every sample seller (the German one
    /// numbers its credit notes `BW-AV…`) in every label language.
    fn documents() -> Vec<Invoice> {
        let mut out = Vec::new();
        for (k, lang) in (0..5).flat_map(|k| marketbill_domain::seller::Language::ALL.map(|l| (k, l))) {
            let id = format!("1000{k}");
            let mut seller = sample_seller(k, &id).unwrap();
            seller.language = lang;
            let mut g = OrderGenerator::new(40 + k as u64, &id);
            g.max_lines = 4;
            for (n, value) in g.batch(OrderMix { shipped: 3, not_shipped: 0, abroad: 0 }, NOW).into_iter().enumerate() {
                let order = Order::from_value(value).unwrap();
                let Ok(draft) =
                    draft_invoice(&IssueRequest { order: &order, seller: &seller, buyer_data: None, issued_at: NOW })
                else {
                    continue;
                };
                let number = draft.series.number(n as u64 + 1).unwrap();
                let inv = draft.finalize(number);
                let credit = inv.credit_note(&seller, NOW, "correction");
                let number = credit.series.number(n as u64 + 1).unwrap();
                out.push(credit.finalize(number));
                out.push(inv);
            }
        }
        out
    }

    /// Every text's box on a page: (x from, x to, baseline, size, text).
    fn boxes(page: &Page, fonts: &FontFamily) -> Vec<(f32, f32, f32, f32, String)> {
        page.iter()
            .filter_map(|d| match d {
                Draw::Text { face, size, x, y, text, .. } => {
                    Some((*x, x + fonts.face(*face).width(text, *size), *y, *size, text.clone()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn no_two_texts_on_a_line_touch_or_overlap() {
        let fonts = fonts();
        for inv in documents() {
            for (p, page) in layout(&inv, fonts).iter().enumerate() {
                let b = boxes(page, fonts);
                for (i, a) in b.iter().enumerate() {
                    for c in &b[i + 1..] {
                        let same_line = (a.2 - c.2).abs() < a.3.min(c.3) * 0.8;
                        let apart = a.1 + MIN_GAP / 2.0 <= c.0 || c.1 + MIN_GAP / 2.0 <= a.0;
                        assert!(
                            !same_line || apart,
                            "{} page {}: {:?} and {:?} touch ({:.1}–{:.1} and {:.1}–{:.1})",
                            inv.number,
                            p + 1,
                            a.4,
                            c.4,
                            a.0,
                            a.1,
                            c.0,
                            c.1
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn identifiers_are_printed_once_per_page_and_never_broken() {
        let fonts = fonts();
        let seller = sample_seller(0, "10000").unwrap();
        let inv = documents().into_iter().find(|d| d.body.seller.legal_name == seller.legal_name).unwrap();
        let pages = layout(&inv, fonts);
        let texts: Vec<String> = boxes(&pages[0], fonts).into_iter().map(|b| b.4).collect();
        for id in ["732829320", "73282932000074"] {
            // The number on its own (the VAT number and the SIRET contain the SIREN).
            let n: usize =
                texts.iter().map(|t| t.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| *w == id).count()).sum();
            assert_eq!(n, 1, "{id} on page 1: {texts:?}");
        }
        assert!(texts.iter().any(|t| t.contains("SIRET 73282932000074")), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("RCS Lyon 732829320")), "{texts:?}");
        assert_eq!(
            break_units("SAS au capital de 10 000 € — RCS Le Mans 732829320 — SIRET 73282932000074"),
            [
                "SAS",
                "au",
                "capital",
                "de",
                "10",
                "000",
                "€",
                "—",
                "RCS Le Mans",
                "732829320",
                "—",
                "SIRET 73282932000074"
            ]
        );
    }

    #[test]
    fn unit_prices_group_thousands_like_amounts() {
        assert_eq!(fr_number(Decimal::new(374467, 2), 2, 6), "3\u{202f}744,67");
        assert_eq!(fr_number(Decimal::new(-1234567891, 3), 2, 6), "-1\u{202f}234\u{202f}567,891");
        assert_eq!(fr_number(Decimal::new(5, 0), 0, 4), "5");
        assert_eq!(fr_number(Decimal::new(999, 0), 2, 6), "999,00");
    }

    #[test]
    fn credit_notes_say_refunded_and_labels_follow_the_language() {
        let fonts = fonts();
        for inv in documents() {
            let texts: Vec<String> = layout(&inv, fonts).iter().flat_map(|p| boxes(p, fonts)).map(|b| b.4).collect();
            let all = texts.join("\n");
            let labels = for_language(inv.body.language);
            match &inv.kind {
                DocumentKind::CreditNote { corrects } => {
                    assert!(all.contains(labels.credit_note), "{}", inv.number);
                    assert!(all.contains(&format!("{} {}", corrects.number, labels.of_date)), "{all}");
                    assert!(!all.contains("Payée") && !all.contains("Paid on"), "{}: {all}", inv.number);
                }
                DocumentKind::Invoice => assert!(all.contains(labels.invoice), "{}", inv.number),
            }
            assert!(!all.contains("(CB)") && !all.contains("(Card)"), "{all}");
        }
    }
}
