//! A cycle over sellers in every onboarding state: the ready one is invoiced, the others are
//! reported with their reason and recorded in their run history; nothing stops the cycle.

use marketbill_app::marketplace::MarketplaceCredentials;
use marketbill_app::model::NotRun;
use marketbill_app::pipeline::seal_credentials;

use super::{World, check_invariants_of, cycle};

/// `w` has four sellers: 0 stays healthy; 1 keeps its company data but loses its credentials
/// (saved the profile, not yet the credentials); 2 gets credentials the marketplace refuses;
/// 3 unsubscribes.
pub async fn a_cycle_invoices_the_ready_sellers_and_reports_the_others(w: &World) {
    assert_eq!(w.sellers.len(), 4);
    let s = &w.services;
    let record = |k: usize| async move { s.ledger.get_seller(&w.sellers[k].0).await.unwrap().unwrap() };
    let mut profile_only = record(1).await;
    profile_only.credentials = None;
    s.ledger.put_seller(&profile_only).await.unwrap();
    let mut refused = record(2).await;
    let wrong = MarketplaceCredentials {
        client_id: "not-a-client".into(),
        client_secret: "wrong".into(),
        seller_id: w.sellers[2].1.clone(),
    };
    refused.credentials = Some(seal_credentials(s.secrets.as_ref(), &wrong).await.unwrap());
    s.ledger.put_seller(&refused).await.unwrap();
    marketbill_app::portal::unsubscribe(s, &w.sellers[3].0).await.unwrap();

    let outcomes = cycle(w).await;
    // Queued: the three active sellers, each run on its own.
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    let healthy = outcomes.iter().filter_map(|o| o.as_ref().ok()).find(|o| o.issued > 0).expect("a run issued");
    assert!(healthy.complete && healthy.not_run.is_none(), "{healthy:?}");
    let reasons: Vec<Option<NotRun>> = outcomes.iter().map(|o| o.as_ref().unwrap().not_run).collect();
    assert!(reasons.contains(&Some(NotRun::NoCredentials)), "{reasons:?}");
    assert!(reasons.contains(&Some(NotRun::CredentialsRefused)), "{reasons:?}");
    // The space shows why: the run history of each says it.
    for (k, why) in [(1, NotRun::NoCredentials), (2, NotRun::CredentialsRefused)] {
        let last = s.ledger.runs(&w.sellers[k].0, 1).await.unwrap();
        assert_eq!(last.first().and_then(|r| r.not_run), Some(why), "seller {k}");
        let page = s.ledger.list_invoices(&w.sellers[k].0, &Default::default()).await.unwrap();
        assert!(page.items.is_empty(), "seller {k} has no invoice");
    }
    // An unsubscribed seller is not even queued; its run, asked for, says why.
    let direct = marketbill_app::pipeline::run_seller(s, &w.sellers[3].0, None).await.unwrap();
    assert_eq!(direct.not_run, Some(NotRun::Unsubscribed));
    // The healthy seller's orders: every invariant of a normal run.
    assert!(check_invariants_of(w, 0, &[0]).await > 0);
}
