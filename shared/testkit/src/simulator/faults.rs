//! Fault injection: per route, by count or by probability.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// The routes of the simulated API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Route {
    Token,
    ListOrders,
    GetOrder,
    CountOrders,
    UploadInvoice,
    BulkUpload,
    ListImports,
    GetImport,
    /// Matches every route but the admin ones.
    Any,
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum FaultKind {
    /// 429, with a `Retry-After` in seconds when given.
    TooManyRequests {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    /// 500.
    ServerError,
    /// 503.
    Unavailable,
    /// The response is held back this long (then served normally).
    Delay { ms: u64 },
    /// A 200 whose JSON body is cut in the middle.
    TruncatedJson,
    /// A 200 whose body is not JSON at all.
    MalformedJson,
    /// 401 as if the token had expired (and every token of that client is expired).
    ExpiredToken,
}

/// One fault rule: `times` firings, or each request with `probability` (0–1), or always.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub route: Route,
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl Fault {
    /// A fault that fires the next `times` requests to `route`.
    pub fn times(route: Route, kind: FaultKind, times: u32) -> Fault {
        Fault { route, kind, times: Some(times), probability: None }
    }

    /// A fault that fires on every request to `route` until cleared.
    pub fn always(route: Route, kind: FaultKind) -> Fault {
        Fault { route, kind, times: None, probability: None }
    }

    /// A fault that fires on each request to `route` with this probability.
    pub fn sometimes(route: Route, kind: FaultKind, probability: f64) -> Fault {
        Fault { route, kind, times: None, probability: Some(probability) }
    }
}

/// The active rules and the generator that draws the probabilistic ones.
#[derive(Debug)]
pub struct FaultPlan {
    rules: Vec<Fault>,
    rng: SplitMix64,
}

impl FaultPlan {
    pub fn new(seed: u64) -> Self {
        FaultPlan { rules: Vec::new(), rng: SplitMix64::new(seed ^ 0xFA17) }
    }

    pub fn add(&mut self, fault: Fault) {
        self.rules.push(fault);
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The fault that fires for this request, if any (consuming one firing of a counted rule).
    pub fn draw(&mut self, route: Route) -> Option<FaultKind> {
        let mut fired = None;
        for rule in self.rules.iter_mut() {
            if rule.route != route && rule.route != Route::Any {
                continue;
            }
            let fires = match (rule.times, rule.probability) {
                (Some(0), _) => false,
                (Some(n), _) => {
                    rule.times = Some(n - 1);
                    true
                }
                (None, Some(p)) => (self.rng.next_u64() % 1_000_000) < (p.clamp(0.0, 1.0) * 1_000_000.0) as u64,
                (None, None) => true,
            };
            if fires {
                fired = Some(rule.kind.clone());
                break;
            }
        }
        self.rules.retain(|r| r.times != Some(0));
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_fire_exactly_their_count() {
        let mut plan = FaultPlan::new(1);
        plan.add(Fault::times(Route::ListOrders, FaultKind::ServerError, 2));
        assert_eq!(plan.draw(Route::GetOrder), None);
        assert_eq!(plan.draw(Route::ListOrders), Some(FaultKind::ServerError));
        assert_eq!(plan.draw(Route::ListOrders), Some(FaultKind::ServerError));
        assert_eq!(plan.draw(Route::ListOrders), None);
    }

    #[test]
    fn probabilistic_faults_fire_about_that_often() {
        let mut plan = FaultPlan::new(7);
        plan.add(Fault::sometimes(Route::Any, FaultKind::Unavailable, 0.25));
        let fired = (0..4000).filter(|_| plan.draw(Route::GetImport).is_some()).count();
        assert!((800..1200).contains(&fired), "{fired}");
    }
}
