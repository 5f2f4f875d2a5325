//! The run's promises about order: numbers follow the listing, whatever runs concurrently.

use std::collections::BTreeMap;

use marketbill_app::model::InvoiceQuery;
use marketbill_domain::Order;
use marketbill_octopia::{OctopiaClient, OctopiaConfig, OctopiaMarketplace};
use std::sync::Arc;
use std::time::Duration;

use super::{World, cycle};

/// The world's marketplace client with small pages, so a run streams many of them.
pub fn small_pages(w: &mut World, page_size: u32) {
    let mut c = OctopiaConfig::new(&w.sim.api_base(), &w.sim.auth_base());
    c.base_backoff = Duration::from_millis(5);
    c.max_backoff = Duration::from_millis(50);
    c.page_size = page_size;
    w.services.marketplace = Arc::new(OctopiaMarketplace::new(Arc::new(OctopiaClient::new(c).unwrap())));
}

/// After a cycle with the pipeline at depth > 1 over many pages, each seller's numbers run
/// 1, 2, 3… in the order the listing gave the orders (oldest update first): chronological,
/// although delivery ran concurrently.
pub async fn numbers_follow_the_listing(w: &World) {
    assert!(w.services.settings.runs.delivery_depth > 1);
    for o in cycle(w).await {
        assert!(o.unwrap().complete);
    }
    for (seller, mid, _) in &w.sellers {
        let updated: BTreeMap<String, time::OffsetDateTime> = w
            .sim
            .orders(mid)
            .into_iter()
            .filter_map(|v| Order::from_value(v).ok())
            .filter_map(|o| Some((o.order_id.to_string(), o.updated_at?)))
            .collect();
        let page = w.services.ledger.list_invoices(seller, &InvoiceQuery { limit: 500, ..Default::default() }).await;
        let mut invoices: Vec<(u64, String)> = page
            .unwrap()
            .items
            .iter()
            .filter(|r| !r.invoice.kind.is_credit_note())
            .map(|r| (r.invoice.number.counter().unwrap(), r.order_id.to_string()))
            .collect();
        invoices.sort();
        assert!(invoices.len() > 20, "{}", invoices.len());
        let counters: Vec<u64> = invoices.iter().map(|(n, _)| *n).collect();
        assert_eq!(counters, (1..=invoices.len() as u64).collect::<Vec<_>>(), "gapless");
        let times: Vec<time::OffsetDateTime> = invoices.iter().map(|(_, o)| updated[o]).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "numbers follow the listing's order");
    }
}
