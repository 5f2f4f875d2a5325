//! Who is calling. On AWS the HTTP API's JWT authorizer (Cognito) has verified the token and
//! the function trusts only its claims (`requestContext.authorizer.jwt.claims.sub`); locally
//! `marketbill serve` verifies tokens it signed itself (HMAC-SHA256 with a key in its data
//! folder), minted by `marketbill token`.

use axum::http::request::Parts;
use marketbill_app::crypto::{hmac_matches, hmac_sha256};
use marketbill_app::model::SellerId;
use time::OffsetDateTime;

/// Finds the verified seller id of a request, or none.
pub trait Authenticator: Send + Sync {
    fn seller(&self, parts: &Parts) -> Option<SellerId>;

    /// The web pages: the seller of a session cookie's value, if it is valid now.
    fn session(&self, _cookie: &str) -> Option<SellerId> {
        None
    }
    /// The web pages: a new session for a seller who proved their address (`None` where
    /// sessions are made elsewhere — on AWS, Cognito's managed login, not built yet).
    fn open_session(&self, _seller: &SellerId) -> Option<String> {
        None
    }
    /// The local sign-in by e-mail: a one-time link token for a seller.
    fn sign_in_token(&self, _seller: &SellerId) -> Option<String> {
        None
    }
    /// Redeems a one-time link token: its seller the first time, `None` ever after.
    fn redeem(&self, _token: &str) -> Option<SellerId> {
        None
    }
}

/// Tokens `mbt.<seller>.<expiry unix seconds>.<hex HMAC>` signed with a local key; page
/// sessions (`mbs.…`) and one-time sign-in links (`mbl.…`) are signed the same way over their
/// kind as well, so one kind never passes for another.
pub struct LocalTokens {
    key: Vec<u8>,
    /// Sign-in links already used (until they expire; the set is pruned as links are redeemed).
    redeemed: std::sync::Mutex<std::collections::BTreeMap<String, i64>>,
}

/// How long a page session lasts.
pub const SESSION_LIFETIME: time::Duration = time::Duration::hours(12);
/// How long a sign-in link may be used.
pub const LINK_LIFETIME: time::Duration = time::Duration::minutes(15);

impl LocalTokens {
    pub fn new(key: &[u8]) -> LocalTokens {
        LocalTokens { key: key.to_vec(), redeemed: Default::default() }
    }

    /// A token of `kind` for a seller, valid until `expires`.
    fn mint_kind(&self, kind: &str, seller: &SellerId, expires: OffsetDateTime) -> String {
        let payload = format!("{seller}.{}", expires.unix_timestamp());
        let sig = hex::encode(hmac_sha256(&self.key, signed(kind, &payload).as_bytes()));
        format!("{kind}.{payload}.{sig}")
    }

    /// The seller and expiry of a valid token of `kind`: our signature (compared in constant
    /// time), not expired, and not claiming to live longer than `lifetime`.
    fn verify_kind(
        &self,
        kind: &str,
        token: &str,
        now: OffsetDateTime,
        lifetime: time::Duration,
    ) -> Option<(SellerId, i64)> {
        let rest = token.strip_prefix(kind)?.strip_prefix('.')?;
        let (payload, sig) = rest.rsplit_once('.')?;
        let (seller, expiry) = payload.rsplit_once('.')?;
        let expiry: i64 = expiry.parse().ok()?;
        let cap = now.unix_timestamp().saturating_add(lifetime.whole_seconds());
        if expiry <= now.unix_timestamp() || expiry > cap {
            return None;
        }
        if !hmac_matches(&self.key, signed(kind, payload).as_bytes(), sig) {
            return None;
        }
        Some((seller.parse().ok()?, expiry))
    }

    /// The longest a local token may live (`marketbill token --hours` is capped to it, and a
    /// token claiming a later expiry is refused even with a good signature).
    pub const MAX_LIFETIME: time::Duration = time::Duration::days(30);

    /// A token for a seller, valid until `expires` (at most [`Self::MAX_LIFETIME`] from now,
    /// which callers check; `verify` refuses anything longer).
    pub fn mint(&self, seller: &SellerId, expires: OffsetDateTime) -> String {
        self.mint_kind(API, seller, expires)
    }

    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Option<SellerId> {
        self.verify_kind(API, token, now, Self::MAX_LIFETIME).map(|(seller, _)| seller)
    }
}

/// The kinds of token: API bearer tokens, page sessions, one-time sign-in links.
const API: &str = "mbt";
const SESSION: &str = "mbs";
const LINK: &str = "mbl";

/// What a token of `kind` signs: an API token its payload alone (as API tokens always did),
/// the other kinds their kind as well.
fn signed(kind: &str, payload: &str) -> String {
    if kind == API { payload.to_owned() } else { format!("{kind}.{payload}") }
}

impl Authenticator for LocalTokens {
    fn seller(&self, parts: &Parts) -> Option<SellerId> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
        let token = header.strip_prefix("Bearer ")?.trim();
        self.verify(token, OffsetDateTime::now_utc())
    }

    fn session(&self, cookie: &str) -> Option<SellerId> {
        self.verify_kind(SESSION, cookie, OffsetDateTime::now_utc(), SESSION_LIFETIME).map(|(s, _)| s)
    }

    fn open_session(&self, seller: &SellerId) -> Option<String> {
        Some(self.mint_kind(SESSION, seller, OffsetDateTime::now_utc() + SESSION_LIFETIME))
    }

    fn sign_in_token(&self, seller: &SellerId) -> Option<String> {
        Some(self.mint_kind(LINK, seller, OffsetDateTime::now_utc() + LINK_LIFETIME))
    }

    fn redeem(&self, token: &str) -> Option<SellerId> {
        let now = OffsetDateTime::now_utc();
        let (seller, expiry) = self.verify_kind(LINK, token, now, LINK_LIFETIME)?;
        let mut used = self.redeemed.lock().unwrap_or_else(|p| p.into_inner());
        used.retain(|_, exp| *exp > now.unix_timestamp());
        if used.insert(token.to_owned(), expiry).is_some() {
            return None;
        }
        Some(seller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_tampering_or_expiry_fails() {
        let t = LocalTokens::new(b"0123456789abcdef0123456789abcdef");
        let now = OffsetDateTime::now_utc();
        let id: SellerId = "shop-1".parse().unwrap();
        let token = t.mint(&id, now + time::Duration::hours(1));
        assert_eq!(t.verify(&token, now), Some(id.clone()));
        assert_eq!(t.verify(&token.replace("shop-1", "shop-2"), now), None);
        assert_eq!(t.verify(&token, now + time::Duration::hours(2)), None);
        assert_eq!(LocalTokens::new(b"another key").verify(&token, now), None);
        assert_eq!(t.verify("garbage", now), None);
        let forever = t.mint(&id, now + time::Duration::days(365));
        assert_eq!(t.verify(&forever, now), None, "a token past the lifetime cap is refused");
        assert_eq!(t.verify("mbt.shop-1.99999999999999999999.00", now), None);
    }

    #[test]
    fn sessions_and_links_are_their_own_kinds_and_links_work_once() {
        let t = LocalTokens::new(b"0123456789abcdef0123456789abcdef");
        let id: SellerId = "shop-1".parse().unwrap();
        let session = t.open_session(&id).unwrap();
        assert_eq!(t.session(&session), Some(id.clone()));
        assert_eq!(t.verify(&session, OffsetDateTime::now_utc()), None, "a session is no API token");
        assert_eq!(t.redeem(&session), None, "nor a sign-in link");
        let link = t.sign_in_token(&id).unwrap();
        assert_eq!(t.session(&link), None, "a link is no session");
        assert_eq!(t.redeem(&link.replace("shop-1", "shop-2")), None);
        assert_eq!(t.redeem(&link), Some(id));
        assert_eq!(t.redeem(&link), None, "a link works once");
        let api = t.mint(&"shop-1".parse().unwrap(), OffsetDateTime::now_utc() + time::Duration::hours(1));
        assert_eq!(t.session(&api), None, "an API token is no session");
    }
}
