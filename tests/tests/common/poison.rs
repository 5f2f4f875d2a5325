//! Poison orders: marketplace data built to break a run. None may stop anything.

use std::collections::BTreeSet;

use marketbill_app::model::OrderStage;
use marketbill_domain::{IssueRequest, Order, draft_invoice};
use marketbill_testkit::OrderGenerator;
use serde_json::json;
use time::OffsetDateTime;

use super::{World, cycle};

/// Orders of the first seller that once aborted the process or would mail the wrong people:
/// a date at the end of the calendar, amounts that overflow, thousands of lines, hostile
/// buyer e-mails. Returns their ids: (refused ones, invoiced but not mailed ones).
pub fn put_poison_orders(w: &World) -> (Vec<String>, Vec<String>) {
    let (_, mid, _) = &w.sellers[0];
    let now = OffsetDateTime::now_utc();
    let mut g = OrderGenerator::new(4242, mid);
    g.max_lines = 2;
    let mut refused = Vec::new();
    let mut unmailed = Vec::new();
    let mut orders = Vec::new();
    let mut next = |tag: &str| {
        let mut o = g.shipped(now, 24);
        let id = format!("POISON{tag}");
        o["orderId"] = id.clone().into();
        (id, o)
    };
    let (id, mut o) = next("DATE1");
    o["updatedAt"] = "9999-12-31T23:30:00Z".into();
    o["purchasedAt"] = "9999-12-31T23:30:00Z".into();
    refused.push(id);
    orders.push(o);
    let (id, mut o) = next("DATE2");
    o["purchasedAt"] = "9999-12-31T23:30:00-05:00".into();
    refused.push(id);
    orders.push(o);
    let (id, mut o) = next("AMOUNT");
    o["lines"][0]["sellingPrice"]["unitSalesPrice"] = serde_json::from_str("1e27").unwrap();
    o["lines"][0]["quantity"] = json!(100000);
    refused.push(id);
    orders.push(o);
    let (id, mut o) = next("LINES");
    let line = o["lines"][0].clone();
    o["lines"] = json!(
        (0..3000)
            .map(|i| {
                let mut l = line.clone();
                l["orderLineId"] = json!(i.to_string());
                l
            })
            .collect::<Vec<_>>()
    );
    refused.push(id);
    orders.push(o);
    // An id that cannot be an order id (a path and a header in it): recorded under a derived
    // id and shown in the problems list, not dropped.
    let (_, mut o) = next("BADID");
    let raw = "../../etc/passwd\r\nX-Evil: 1";
    o["orderId"] = raw.into();
    refused.push(marketbill_app::seller_run::unreadable_id(raw).to_string());
    orders.push(o);
    for (tag, email) in
        [("MAIL1", "a@x.fr\r\nBcc: evil@y.fr"), ("MAIL2", "a@x.fr>, <b@evil.fr"), ("MAIL3", "a@x.fr\nCc: e@v.fr")]
    {
        let (id, mut o) = next(tag);
        for l in o["lines"].as_array_mut().unwrap() {
            l["shippingAddress"]["email"] = email.into();
        }
        unmailed.push(id);
        orders.push(o);
    }
    w.sim.put_orders(mid, orders);
    (refused, unmailed)
}

/// One cycle with the poison orders in the first seller's listing: every run completes, every
/// other order of every seller is invoiced and accepted, the poison orders are in the problems
/// list with their reasons, and nothing went to a hostile address.
pub async fn poison_orders_never_block_anyone(w: &World) {
    let (refused, unmailed) = put_poison_orders(w);
    let outcomes = cycle(w).await;
    assert_eq!(outcomes.len(), w.sellers.len(), "{outcomes:?}");
    for o in &outcomes {
        let o = o.as_ref().unwrap();
        assert!(o.complete && o.failed.is_empty(), "{o:?}");
    }
    let poison: BTreeSet<&String> = refused.iter().chain(&unmailed).collect();
    for (k, (seller, mid, _)) in w.sellers.iter().enumerate() {
        let record = w.services.ledger.get_seller(seller).await.unwrap().unwrap();
        for v in w.sim.orders(mid) {
            let Ok(order) = Order::from_value(v) else { continue };
            if poison.contains(&order.order_id.to_string()) {
                continue;
            }
            let eligible = draft_invoice(&IssueRequest {
                order: &order,
                seller: &record.profile,
                buyer_data: None,
                issued_at: OffsetDateTime::now_utc(),
            })
            .is_ok();
            if eligible {
                let rec = w.services.ledger.get_order(seller, &order.order_id).await.unwrap();
                let rec = rec.unwrap_or_else(|| panic!("seller {k}: order {} left behind", order.order_id));
                assert_eq!(rec.stage, OrderStage::Accepted, "seller {k}: {rec:?}");
            }
        }
    }
    let problems = marketbill_app::problems::problems(w.services.ledger.as_ref(), &w.sellers[0].0).await.unwrap();
    for id in &refused {
        let p = problems.iter().find(|p| &p.order_id == id).unwrap_or_else(|| panic!("{id} not in the problems list"));
        let reason = p.refusal.as_ref().unwrap_or_else(|| panic!("{id}: {p:?}"));
        assert!(["unreadableOrder", "invalidLine", "tooManyLines"].contains(&reason.code()), "{id}: {reason}");
    }
    for id in &unmailed {
        let p = problems.iter().find(|p| &p.order_id == id).unwrap_or_else(|| panic!("{id} not in the problems list"));
        assert!(p.number.is_some(), "{id} is invoiced");
        assert!(p.mail_refused.as_deref().is_some_and(|m| m.contains("refused")), "{id}: {p:?}");
    }
    // No mail went to a hostile address (recipients as the message states them).
    for raw in w.outbox.sent().await {
        let (headers, _) = marketbill_app::mail::parse_mail(&raw);
        for (name, value) in headers.iter().filter(|(n, _)| ["to", "cc", "bcc"].contains(&n.to_lowercase().as_str())) {
            assert!(!value.contains("evil") && !value.contains("e@v.fr") && !value.contains(','), "{name}: {value}");
        }
    }
}
