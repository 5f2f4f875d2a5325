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
}

/// Tokens `mbt.<seller>.<expiry unix seconds>.<hex HMAC>` signed with a local key.
pub struct LocalTokens {
    key: Vec<u8>,
}

impl LocalTokens {
    pub fn new(key: &[u8]) -> LocalTokens {
        LocalTokens { key: key.to_vec() }
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
}
