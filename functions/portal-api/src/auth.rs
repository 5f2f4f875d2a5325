//! Who is calling. On AWS the HTTP API's JWT authorizer (Cognito) has verified the token and
//! the function trusts only its claims (`requestContext.authorizer.jwt.claims.sub`); locally
//! `marketbill serve` verifies tokens it signed itself (HMAC-SHA256 with a key in its data
//! folder), minted by `marketbill token`.

use axum::http::request::Parts;
use marketbill_app::crypto::{hmac_matches, hmac_sha256};
use marketbill_app::model::SellerId;
use time::OffsetDateTime;

/// Where a page sends the browser to sign in or up elsewhere (Cognito's managed login), and
/// what to keep in a short-lived cookie until the browser comes back (state and PKCE verifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedLogin {
    pub url: String,
    pub kept: String,
}

/// A future of the sign-in callback.
pub type LoginFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>>;

/// Who is calling: the API's caller, and what of the pages' sign-in this deployment does.
/// Three capabilities, each its own trait, so an authenticator implements only what it does
/// (the Lambda API alone: none of them; locally: sessions and e-mailed links; on AWS:
/// sessions and the hosted page).
pub trait Authenticator: Send + Sync {
    /// The verified seller id of an API request, or none.
    fn seller(&self, parts: &Parts) -> Option<SellerId>;
    /// The web pages' sessions; `None`: the pages cannot sign anyone in.
    fn sessions(&self) -> Option<&dyn Sessions> {
        None
    }
    /// Sign-in and sign-up by e-mailed links (locally).
    fn links(&self) -> Option<&dyn EmailLinks> {
        None
    }
    /// Sign-in and sign-up on a hosted page (AWS: Cognito's managed login).
    fn hosted(&self) -> Option<&dyn HostedSignIn> {
        None
    }
}

/// The pages' sessions.
pub trait Sessions: Send + Sync {
    /// The seller of a session cookie's value, if it is valid now.
    fn session(&self, cookie: &str) -> Option<SellerId>;
    /// Ends a session: its cookie no longer signs in, even if replayed before its expiry.
    fn end_session(&self, cookie: &str);
    /// The address a token proves (a sign-up's proof, or a verified session token).
    fn proven_email(&self, token: &str) -> Option<String>;
    /// How long a session cookie lasts.
    fn session_lifetime(&self) -> time::Duration {
        SESSION_LIFETIME
    }
}

/// The local sign-in and sign-up by e-mailed one-time links.
pub trait EmailLinks: Send + Sync {
    /// A one-time sign-in link token for a seller.
    fn sign_in_token(&self, seller: &SellerId) -> Option<String>;
    /// Redeems a sign-in link token: its seller the first time, `None` ever after.
    fn redeem(&self, token: &str) -> Option<SellerId>;
    /// A one-time link token proving an address that has no account yet.
    fn sign_up_token(&self, email: &str) -> Option<String>;
    /// Redeems a sign-up link once: the new account's seller id and the proven address.
    fn redeem_sign_up(&self, token: &str) -> Option<(SellerId, String)>;
    /// A token that carries an address proven by a sign-up link, for the onboarding form.
    fn email_proof(&self, email: &str) -> Option<String>;
    /// A new session for a seller who proved their address.
    fn open_session(&self, seller: &SellerId) -> Option<String>;
}

/// Sign-in and sign-up on a hosted page.
pub trait HostedSignIn: Send + Sync {
    /// Where to send the browser, and what to keep until it comes back.
    fn login(&self, sign_up: bool) -> Option<HostedLogin>;
    /// The hosted page's callback: a session for its code, if `state` is the one `kept`.
    fn finish_login<'a>(&'a self, code: &'a str, state: &'a str, kept: &'a str) -> LoginFuture<'a>;
    /// Where the browser goes after signing out (the hosted page's logout ends its session).
    fn logout_url(&self) -> Option<String>;
}

/// Tokens `mbt.<seller>.<expiry unix seconds>.<hex HMAC>` signed with a local key; page
/// sessions (`mbs.…`) and one-time sign-in links (`mbl.…`) are signed the same way over their
/// kind as well, so one kind never passes for another.
pub struct LocalTokens {
    key: Vec<u8>,
    /// Sign-in links already used and sessions ended, until they expire (pruned as they are
    /// added). Kept in memory: a restart of `marketbill serve` forgets ended sessions, which
    /// the browser has dropped anyway.
    spent: std::sync::Mutex<std::collections::BTreeMap<String, i64>>,
}

/// How long a page session lasts.
pub const SESSION_LIFETIME: time::Duration = time::Duration::hours(12);
/// How long a sign-in link may be used.
pub const LINK_LIFETIME: time::Duration = time::Duration::minutes(15);

impl LocalTokens {
    pub fn new(key: &[u8]) -> LocalTokens {
        LocalTokens { key: key.to_vec(), spent: Default::default() }
    }

    /// A token of `kind` for a subject (a seller id, a hex address: no `.`), valid until
    /// `expires`.
    fn mint_kind(&self, kind: &str, subject: &str, expires: OffsetDateTime) -> String {
        let payload = format!("{subject}.{}", expires.unix_timestamp());
        let sig = hex::encode(hmac_sha256(&self.key, signed(kind, &payload).as_bytes()));
        format!("{kind}.{payload}.{sig}")
    }

    /// The subject and expiry of a valid token of `kind`: our signature (compared in constant
    /// time), not expired, and not claiming to live longer than `lifetime`.
    fn verify_subject(
        &self,
        kind: &str,
        token: &str,
        now: OffsetDateTime,
        lifetime: time::Duration,
    ) -> Option<(String, i64)> {
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
        Some((seller.to_owned(), expiry))
    }

    /// The seller and expiry of a valid token of `kind` whose subject is a seller id.
    fn verify_kind(
        &self,
        kind: &str,
        token: &str,
        now: OffsetDateTime,
        lifetime: time::Duration,
    ) -> Option<(SellerId, i64)> {
        let (subject, expiry) = self.verify_subject(kind, token, now, lifetime)?;
        Some((subject.parse().ok()?, expiry))
    }

    /// Marks a token used until its expiry; false if it already was.
    fn spend(&self, token: &str, expiry: i64, now: OffsetDateTime) -> bool {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        spent.retain(|_, exp| *exp > now.unix_timestamp());
        spent.insert(token.to_owned(), expiry).is_none()
    }

    fn is_spent(&self, token: &str) -> bool {
        self.spent.lock().unwrap_or_else(|p| p.into_inner()).contains_key(token)
    }

    /// The seller id of a new local account: derived from its address with the key, so the
    /// same address always gets the same account and ids tell nothing of the address.
    fn seller_for_new_address(&self, email: &str) -> Option<SellerId> {
        let mac = hmac_sha256(&self.key, format!("seller-id:{}", email.to_ascii_lowercase()).as_bytes());
        format!("u{}", &hex::encode(mac)[..24]).parse().ok()
    }

    /// The longest a local token may live (`marketbill token --hours` is capped to it, and a
    /// token claiming a later expiry is refused even with a good signature).
    pub const MAX_LIFETIME: time::Duration = time::Duration::days(30);

    /// A token for a seller, valid until `expires` (at most [`Self::MAX_LIFETIME`] from now,
    /// which callers check; `verify` refuses anything longer).
    pub fn mint(&self, seller: &SellerId, expires: OffsetDateTime) -> String {
        self.mint_kind(API, seller.as_str(), expires)
    }

    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Option<SellerId> {
        self.verify_kind(API, token, now, Self::MAX_LIFETIME).map(|(seller, _)| seller)
    }
}

/// The kinds of token: API bearer tokens, page sessions, one-time sign-in links.
const API: &str = "mbt";
const SESSION: &str = "mbs";
const LINK: &str = "mbl";
const SIGN_UP: &str = "mbn";
const EMAIL: &str = "mbe";

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

    fn sessions(&self) -> Option<&dyn Sessions> {
        Some(self)
    }

    fn links(&self) -> Option<&dyn EmailLinks> {
        Some(self)
    }
}

impl Sessions for LocalTokens {
    fn session(&self, cookie: &str) -> Option<SellerId> {
        let (seller, _) = self.verify_kind(SESSION, cookie, OffsetDateTime::now_utc(), SESSION_LIFETIME)?;
        (!self.is_spent(cookie)).then_some(seller)
    }

    fn end_session(&self, cookie: &str) {
        let now = OffsetDateTime::now_utc();
        if let Some((_, expiry)) = self.verify_kind(SESSION, cookie, now, SESSION_LIFETIME) {
            self.spend(cookie, expiry, now);
        }
    }

    fn proven_email(&self, token: &str) -> Option<String> {
        let (subject, _) = self.verify_subject(EMAIL, token, OffsetDateTime::now_utc(), SESSION_LIFETIME)?;
        String::from_utf8(hex::decode(subject).ok()?).ok()
    }
}

impl EmailLinks for LocalTokens {
    fn sign_in_token(&self, seller: &SellerId) -> Option<String> {
        Some(self.mint_kind(LINK, seller.as_str(), OffsetDateTime::now_utc() + LINK_LIFETIME))
    }

    fn redeem(&self, token: &str) -> Option<SellerId> {
        let now = OffsetDateTime::now_utc();
        let (seller, expiry) = self.verify_kind(LINK, token, now, LINK_LIFETIME)?;
        self.spend(token, expiry, now).then_some(seller)
    }

    fn sign_up_token(&self, email: &str) -> Option<String> {
        Some(self.mint_kind(SIGN_UP, &hex::encode(email), OffsetDateTime::now_utc() + LINK_LIFETIME))
    }

    fn redeem_sign_up(&self, token: &str) -> Option<(SellerId, String)> {
        let now = OffsetDateTime::now_utc();
        let (subject, expiry) = self.verify_subject(SIGN_UP, token, now, LINK_LIFETIME)?;
        let email = String::from_utf8(hex::decode(subject).ok()?).ok()?;
        let seller = self.seller_for_new_address(&email)?;
        self.spend(token, expiry, now).then_some((seller, email))
    }

    fn email_proof(&self, email: &str) -> Option<String> {
        Some(self.mint_kind(EMAIL, &hex::encode(email), OffsetDateTime::now_utc() + SESSION_LIFETIME))
    }

    fn open_session(&self, seller: &SellerId) -> Option<String> {
        Some(self.mint_kind(SESSION, seller.as_str(), OffsetDateTime::now_utc() + SESSION_LIFETIME))
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
        t.end_session(&session);
        assert_eq!(t.session(&session), None, "an ended session no longer signs in");
    }

    #[test]
    fn sign_up_links_prove_an_address_once_and_name_the_same_account_each_time() {
        let t = LocalTokens::new(b"0123456789abcdef0123456789abcdef");
        let link = t.sign_up_token("new@example.com").unwrap();
        assert_eq!(t.redeem(&link), None, "a sign-up link is no sign-in link");
        let (seller, email) = t.redeem_sign_up(&link).unwrap();
        assert_eq!(email, "new@example.com");
        assert_eq!(t.redeem_sign_up(&link), None, "once");
        let again = t.redeem_sign_up(&t.sign_up_token("NEW@example.com").unwrap()).unwrap();
        assert_eq!(again.0, seller, "the same address, the same account");
        let other = t.redeem_sign_up(&t.sign_up_token("other@example.com").unwrap()).unwrap();
        assert_ne!(other.0, seller);
        let proof = t.email_proof("new@example.com").unwrap();
        assert_eq!(t.proven_email(&proof).as_deref(), Some("new@example.com"));
        assert_eq!(t.proven_email(&link), None, "a link is no proof");
        assert_eq!(t.session(&proof), None);
    }
}
