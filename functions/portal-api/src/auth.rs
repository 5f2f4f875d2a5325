//! Who is calling. On AWS the HTTP API's JWT authorizer (Cognito) has verified the token and
//! the function trusts only its claims (`requestContext.authorizer.jwt.claims.sub`); locally
//! `marketbill serve` verifies tokens it signed itself (HMAC-SHA256 with a key in its data
//! folder), minted by `marketbill token`.

use axum::http::request::Parts;
use hmac::{Hmac, Mac};
use marketbill_app::model::SellerId;
use sha2::Sha256;
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

    fn mint_kind(&self, kind: &str, seller: &SellerId, expires: OffsetDateTime) -> String {
        let payload = format!("{seller}.{}", expires.unix_timestamp());
        let sig =
            self.mac(&format!("{kind}.{payload}")).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default();
        format!("{kind}.{payload}.{sig}")
    }

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
        let sig = hex::decode(sig).ok()?;
        self.mac(&format!("{kind}.{payload}"))?.verify_slice(&sig).ok()?;
        Some((seller.parse().ok()?, expiry))
    }

    fn mac(&self, payload: &str) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()?;
        mac.update(payload.as_bytes());
        Some(mac)
    }

    /// The longest a local token may live (`marketbill token --hours` is capped to it, and a
    /// token claiming a later expiry is refused even with a good signature).
    pub const MAX_LIFETIME: time::Duration = time::Duration::days(30);

    /// A token for a seller, valid until `expires` (at most [`Self::MAX_LIFETIME`] from now,
    /// which callers check; `verify` refuses anything longer).
    pub fn mint(&self, seller: &SellerId, expires: OffsetDateTime) -> String {
        let payload = format!("{seller}.{}", expires.unix_timestamp());
        let sig = self.mac(&payload).map(|m| hex::encode(m.finalize().into_bytes())).unwrap_or_default();
        format!("mbt.{payload}.{sig}")
    }

    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Option<SellerId> {
        let rest = token.strip_prefix("mbt.")?;
        let (payload, sig) = rest.rsplit_once('.')?;
        let (seller, expiry) = payload.rsplit_once('.')?;
        let expiry: i64 = expiry.parse().ok()?;
        let cap = now.unix_timestamp().saturating_add(Self::MAX_LIFETIME.whole_seconds());
        if expiry <= now.unix_timestamp() || expiry > cap {
            return None;
        }
        let sig = hex::decode(sig).ok()?;
        // Constant-time comparison.
        self.mac(payload)?.verify_slice(&sig).ok()?;
        seller.parse().ok()
    }
}

impl Authenticator for LocalTokens {
    fn seller(&self, parts: &Parts) -> Option<SellerId> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
        let token = header.strip_prefix("Bearer ")?.trim();
        self.verify(token, OffsetDateTime::now_utc())
    }

    fn session(&self, cookie: &str) -> Option<SellerId> {
        self.verify_kind("mbs", cookie, OffsetDateTime::now_utc(), SESSION_LIFETIME).map(|(s, _)| s)
    }

    fn open_session(&self, seller: &SellerId) -> Option<String> {
        Some(self.mint_kind("mbs", seller, OffsetDateTime::now_utc() + SESSION_LIFETIME))
    }

    fn sign_in_token(&self, seller: &SellerId) -> Option<String> {
        Some(self.mint_kind("mbl", seller, OffsetDateTime::now_utc() + LINK_LIFETIME))
    }

    fn redeem(&self, token: &str) -> Option<SellerId> {
        let now = OffsetDateTime::now_utc();
        let (seller, expiry) = self.verify_kind("mbl", token, now, LINK_LIFETIME)?;
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
