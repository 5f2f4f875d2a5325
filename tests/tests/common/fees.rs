//! Marketbill's own monthly fee invoices, the same on both adapter sets: on the 1st of a month
//! each seller with usage gets one invoice of its fee, in the operator's gapless series,
//! mailed once, even when the scheduler runs twice at the same time or a pass crashed.

use marketbill_domain::calendar::YearMonth;
use std::sync::Arc;

use marketbill_app::fee_billing::{OPERATOR_ACCOUNT, bill_month, fee_invoice, fee_invoices, on_schedule};
use marketbill_app::mail::parse_mail;
use marketbill_app::model::{InvoiceQuery, SellerId};
use marketbill_app::ports::ManualClock;
use marketbill_domain::FeePlans;
use marketbill_domain::calendar::paris_date;
use marketbill_domain::fee_invoice::{FeeInvoiceRequest, bundled_operator, draft_fee_invoice, fee_reference};
use time::{Date, Month, OffsetDateTime, Time};

use super::{World, cycle};

/// 06:00 UTC on the 1st of the month after `now`'s.
fn first_of_next_month(now: OffsetDateTime) -> OffsetDateTime {
    let today = paris_date(now);
    let (y, m) = if today.month() == Month::December {
        (today.year() + 1, Month::January)
    } else {
        (today.year(), today.month().next())
    };
    Date::from_calendar_date(y, m, 1).unwrap().with_time(Time::from_hms(6, 0, 0).unwrap()).assume_utc()
}

async fn fee_mails(w: &World) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for raw in w.outbox.sent().await {
        let (headers, _) = parse_mail(&raw);
        let get = |k: &str| {
            headers.iter().find(|(h, _)| h.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone()).unwrap_or_default()
        };
        let subject = get("Subject");
        if subject.contains("Marketbill SAS") {
            out.push((get("To"), subject));
        }
    }
    out
}

pub async fn fee_invoices_are_issued_once(w: &World) {
    cycle(w).await;
    let plans = FeePlans::bundled();
    let operator = bundled_operator().unwrap();
    let usage_month = YearMonth::in_paris(w.services.clock.now());
    let billed = YearMonth::of(paris_date(w.services.clock.now()));
    // The scheduler on the 1st of next month, twice at the same time.
    let mut s = w.services.clone();
    let clock = Arc::new(ManualClock::new(first_of_next_month(w.services.clock.now())));
    s.clock = clock.clone();
    s.settings.operator = Some(operator.clone());
    let (a, b) = tokio::join!(on_schedule(&s, &plans), on_schedule(&s, &plans));
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    assert_eq!(a.issued.len() + b.issued.len(), w.sellers.len(), "{a:?} {b:?}");
    assert_eq!(a.already_issued + b.already_issued, w.sellers.len() as u64, "each seller seen twice");
    assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");

    // The operator's series: one document per seller, numbered 1..n without a gap.
    let account: SellerId = OPERATOR_ACCOUNT.parse().unwrap();
    let all = s.ledger.list_invoices(&account, &InvoiceQuery { limit: 100, ..Default::default() }).await.unwrap().items;
    assert_eq!(all.len(), w.sellers.len());
    let mut counters: Vec<u64> =
        all.iter().map(|r| r.invoice.number.as_str().rsplit('-').next().unwrap().parse().unwrap()).collect();
    counters.sort_unstable();
    assert_eq!(counters, (1..=w.sellers.len() as u64).collect::<Vec<_>>());

    // Each seller's invoice: its fee under its plan, listed for it and for no one else.
    for (id, _, _) in &w.sellers {
        let record = s.ledger.get_seller(id).await.unwrap().unwrap();
        let used = s.ledger.usage(id, usage_month).await.unwrap();
        assert!(used > 0);
        let fee = plans.monthly_fee(record.profile.plan, used, 0);
        let mine = fee_invoices(s.ledger.as_ref(), s.clock.as_ref(), id, 3).await.unwrap();
        assert_eq!(mine.len(), 1, "{id}");
        let inv = &mine[0].invoice;
        assert_eq!(inv.body.totals.tax_exclusive, fee.amount_excl_vat, "{id}: {used} invoices");
        assert_eq!(inv.body.totals.payable, inv.body.totals.tax_inclusive, "due in full");
        assert_eq!(inv.body.order_id, fee_reference(id.as_str(), billed).unwrap());
        assert!(mine[0].pdf.is_some() && mine[0].xml.is_some(), "stored");
        assert!(fee_invoice(s.ledger.as_ref(), id, inv.number.as_str()).await.unwrap().is_some());
        for (other, _, _) in w.sellers.iter().filter(|(o, _, _)| o != id) {
            assert!(
                fee_invoice(s.ledger.as_ref(), other, inv.number.as_str()).await.unwrap().is_none(),
                "not {other}'s"
            );
        }
    }
    // One mail per fee invoice, to the seller's address.
    let mails = fee_mails(w).await;
    assert_eq!(mails.len(), w.sellers.len(), "{mails:?}");

    // The second cycle of the day issues nothing more.
    let again = on_schedule(&s, &plans).await.unwrap().unwrap();
    assert!(again.issued.is_empty() && again.already_issued == w.sellers.len() as u64, "{again:?}");
    // Not the 1st: nothing happens.
    clock.advance(time::Duration::days(1));
    assert!(on_schedule(&s, &plans).await.unwrap().is_none());

    // A pass that crashed right after the atomic issue: the next pass, later, finishes it and
    // mails it once.
    let (id, _, _) = &w.sellers[0];
    let record = s.ledger.get_seller(id).await.unwrap().unwrap();
    let fee = plans.monthly_fee(record.profile.plan, 5, 0);
    let month = YearMonth::new(billed.year() - 1, billed.month());
    let draft = draft_fee_invoice(&FeeInvoiceRequest {
        operator: &operator,
        customer: &record.profile,
        customer_id: id.as_str(),
        month,
        fee: &fee,
        issued_at: s.clock.now(),
    })
    .unwrap();
    let reference = draft.body.order_id.clone();
    s.ledger.issue(&account, &reference, draft, None, s.clock.now()).await.unwrap();
    let soon = bill_month(&s, &operator, &plans, month).await.unwrap();
    assert_eq!((soon.issued.len(), soon.already_issued), (0, 1));
    assert_eq!(fee_mails(w).await.len(), w.sellers.len(), "left to the pass at work");
    clock.advance(time::Duration::hours(1));
    let later = bill_month(&s, &operator, &plans, month).await.unwrap();
    assert_eq!((later.issued.len(), later.already_issued), (0, 1), "{later:?}");
    assert_eq!(fee_mails(w).await.len(), w.sellers.len() + 1, "finished and mailed once");
}
