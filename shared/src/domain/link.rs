//! Link tokens and form tokens. A company's Link token is a random per-company nonce (stored with
//! the company) and an HMAC of the company id and that nonce under the deployment's link key:
//! unguessable without the key, recomputable for `redirect`, looked up by the nonce's SHA-256
//! (so a key rotation leaves every lookup in place) and checked against every key still
//! accepted ([`LinkKeys`]: the current one, and the previous one during a rotation). A new nonce
//! (a rotated Link URL) stops the old token at once. Form tokens (anti-CSRF) are HMACs of the
//! lookup hash and an issue time.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The deployment's link key (`LINK_SIGNING_KEY`).
#[derive(Clone)]
pub struct LinkKey(Arc<SecretBox<Vec<u8>>>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// Why a key was refused.
#[derive(Debug, thiserror::Error)]
#[error("LINK_SIGNING_KEY must be at least {MIN_KEY_BYTES} bytes, hex or base64 encoded")]
pub struct BadLinkKey;

impl LinkKey {
    /// From raw bytes (at least 32).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, BadLinkKey> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(BadLinkKey);
        }
        Ok(Self(Arc::new(SecretBox::new(Box::new(bytes)))))
    }

    /// From configuration text: hex, or base64 (standard or URL-safe).
    pub fn parse(text: &str) -> Result<Self, BadLinkKey> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
            .ok_or(BadLinkKey)?;
        Self::from_bytes(bytes)
    }

    /// A fresh random key (local stacks and tests).
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; MIN_KEY_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        Self(Arc::new(SecretBox::new(Box::new(bytes))))
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of any length.
        let mut mac =
            HmacSha256::new_from_slice(self.0.expose_secret()).unwrap_or_else(|_| unreachable!("any key length"));
        for part in parts {
            mac.update(part);
            mac.update(b"\x1f");
        }
        mac.finalize().into_bytes().into()
    }

    /// A MAC of `parts` under this key for the purpose `label` (sessions, CSRF tokens, ids).
    pub fn sign(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut all: Vec<&[u8]> = vec![label.as_bytes()];
        all.extend_from_slice(parts);
        self.mac(&all)
    }

    /// This deployment's Codat `clientId`: stable for as long as the key is.
    pub fn client_id(&self) -> Uuid {
        let mac = self.sign("client-id/v1", &[]);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&mac[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// The Link token of a company whose nonce is `nonce`.
    pub fn token_for(&self, company: Uuid, nonce: &LinkNonce) -> LinkToken {
        let mac = self.mac(&[b"link-token/v2", company.as_bytes(), &nonce.0]);
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(&nonce.0);
        bytes[16..].copy_from_slice(&mac[..16]);
        LinkToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A form token for the Link page of `token_hash`, issued at `issued` (Unix seconds).
    pub fn form_token(&self, token_hash: &str, issued: i64) -> String {
        let mac = self.mac(&[b"form-token/v1", token_hash.as_bytes(), &issued.to_be_bytes()]);
        format!("{issued}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// Whether `value` is a form token of `token_hash` issued within `max_age_secs` of `now`.
    pub fn check_form_token(&self, token_hash: &str, value: &str, now: i64, max_age_secs: i64) -> bool {
        let Some((issued, _)) = value.split_once('.') else { return false };
        let Ok(issued) = issued.parse::<i64>() else { return false };
        if !fresh(issued, now, max_age_secs) {
            return false;
        }
        let expected = self.form_token(token_hash, issued);
        expected.as_bytes().ct_eq(value.as_bytes()).into()
    }
}

/// Whether a time `issued` (Unix seconds, from a token a client sent back) is at most
/// `max_age_secs` old at `now`, and not more than a minute ahead (clock skew). Checked
/// arithmetic: the value is the client's to choose.
pub fn fresh(issued: i64, now: i64, max_age_secs: i64) -> bool {
    issued <= now.saturating_add(60) && now.checked_sub(issued).is_some_and(|age| age <= max_age_secs)
}

/// A company's Link nonce: 16 random bytes, the half of its Link token that is not a MAC.
/// Replaced when the company's Link URL is rotated.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkNonce([u8; 16]);

impl std::fmt::Debug for LinkNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkNonce(..)")
    }
}

impl LinkNonce {
    /// A fresh random nonce.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        Self(bytes)
    }

    /// From its stored text (base64url); `None` when malformed.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// Its stored text (base64url).
    pub fn as_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// SHA-256 (hex) of the nonce: the lookup key of its Link pages (`LINK#<hash>`), the same
    /// under every key.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }
}

/// The secret part of a company's Link URL: its nonce and a MAC.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken(..)")
    }
}

impl LinkToken {
    /// Accepts a token read from a URL if it has the issued shape (43 base64url characters).
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 43 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| Self(raw.to_string()))
    }

    /// The token text, for URLs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nonce it carries.
    pub fn nonce(&self) -> Option<LinkNonce> {
        let bytes = URL_SAFE_NO_PAD.decode(&self.0).ok()?;
        Some(LinkNonce(bytes.get(..16)?.try_into().ok()?))
    }

    /// SHA-256 (hex) of its nonce: what storage keeps and looks it up by.
    pub fn hash(&self) -> String {
        self.nonce().map(|n| n.hash()).unwrap_or_default()
    }
}

/// The link keys a deployment accepts: the current one (which signs), and the previous one
/// while a rotation's window lasts (which still verifies).
#[derive(Debug, Clone)]
pub struct LinkKeys {
    current: LinkKey,
    previous: Option<LinkKey>,
    client_id: Uuid,
    /// Until then the previous key still signs (every function instance reads the new keys
    /// before the new key's tokens appear); the current one signs afterwards.
    sign_from: Option<chrono::DateTime<chrono::Utc>>,
}

impl LinkKeys {
    /// Only `key` (its Codat `clientId` derived from it).
    pub fn single(key: LinkKey) -> Self {
        let client_id = key.client_id();
        Self { current: key, previous: None, client_id, sign_from: None }
    }

    /// `current`, with `previous` still accepted, and the deployment's stable `clientId`.
    pub fn new(current: LinkKey, previous: Option<LinkKey>, client_id: Uuid) -> Self {
        Self { current, previous, client_id, sign_from: None }
    }

    /// The same keys, with the previous one signing until `sign_from`.
    pub fn signing_previous_until(mut self, sign_from: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        self.sign_from = sign_from;
        self
    }

    /// The key that signs now: the previous one until `sign_from`, then the current one.
    fn signer(&self) -> &LinkKey {
        match (&self.previous, self.sign_from) {
            (Some(previous), Some(from)) if chrono::Utc::now() < from => previous,
            _ => &self.current,
        }
    }

    /// A fresh random key (local stacks and tests).
    pub fn generate() -> Self {
        Self::single(LinkKey::generate())
    }

    /// Every key that verifies: the current one first.
    pub fn accepted(&self) -> impl Iterator<Item = &LinkKey> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }

    /// This deployment's Codat `clientId` (unchanged by rotations).
    pub fn client_id(&self) -> Uuid {
        self.client_id
    }

    /// The Link token of a company, under the key that signs now.
    pub fn token_for(&self, company: Uuid, nonce: &LinkNonce) -> LinkToken {
        self.signer().token_for(company, nonce)
    }

    /// Whether `token` is the Link token of `company` with `nonce` under an accepted key.
    pub fn check_token(&self, company: Uuid, nonce: &LinkNonce, token: &LinkToken) -> bool {
        self.accepted().any(|key| key.token_for(company, nonce).0.as_bytes().ct_eq(token.0.as_bytes()).into())
    }

    /// A MAC of `parts` for `label` under the key that signs now (see [`LinkKey::sign`]).
    pub fn sign(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        self.signer().sign(label, parts)
    }

    /// Whether `mac` is the MAC of `parts` for `label` under an accepted key.
    pub fn verify(&self, label: &str, parts: &[&[u8]], mac: &[u8]) -> bool {
        self.accepted().any(|key| key.sign(label, parts)[..].ct_eq(mac).into())
    }

    /// A form token under the key that signs now (see [`LinkKey::form_token`]).
    pub fn form_token(&self, token_hash: &str, issued: i64) -> String {
        self.signer().form_token(token_hash, issued)
    }

    /// Whether `value` is a fresh form token of `token_hash` under an accepted key.
    pub fn check_form_token(&self, token_hash: &str, value: &str, now: i64, max_age_secs: i64) -> bool {
        self.accepted().any(|key| key.check_form_token(token_hash, value, now, max_age_secs))
    }
}

/// The stored form of the link keys (the Secrets Manager secret's JSON): `current`, and during a
/// rotation `previous` with `previousUntil` (RFC 3339), after which the previous key stops, and
/// `signFrom`, before which the previous key still signs (so no instance that has not yet read
/// the new key meets a token it cannot check).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredLinkKeys {
    /// The signing key (hex or base64, at least 32 bytes).
    pub current: String,
    /// The key before the last rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Until when the previous key is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until: Option<chrono::DateTime<chrono::Utc>>,
    /// From when the current key signs (the previous one does before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_from: Option<chrono::DateTime<chrono::Utc>>,
}

impl StoredLinkKeys {
    /// The keys accepted at `now`, with `client_id` (stable across rotations).
    pub fn keys(&self, now: chrono::DateTime<chrono::Utc>, client_id: Uuid) -> Result<LinkKeys, BadLinkKey> {
        let current = LinkKey::parse(&self.current)?;
        let previous = match (&self.previous, self.previous_until) {
            (Some(previous), Some(until)) if until > now => Some(LinkKey::parse(previous)?),
            _ => None,
        };
        Ok(LinkKeys::new(current, previous, client_id).signing_previous_until(self.sign_from))
    }

    /// A rotation: `new` is accepted at once and signs from `now + sign_after` (once every
    /// instance has read it); the current key is accepted until `now + window`.
    pub fn rotated(
        &self,
        new: String,
        now: chrono::DateTime<chrono::Utc>,
        window: chrono::Duration,
        sign_after: chrono::Duration,
    ) -> Self {
        Self {
            current: new,
            previous: Some(self.current.clone()),
            previous_until: Some(now + window),
            sign_from: Some(now + sign_after),
        }
    }
}

/// A new random key's text (hex of 32 bytes), for a rotation.
pub fn new_key_text() -> String {
    let mut bytes = [0u8; MIN_KEY_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ages_from_the_client_cannot_overflow() {
        let now = 1_800_000_000;
        assert!(fresh(now - 10, now, 60) && fresh(now + 30, now, 60));
        assert!(!fresh(now - 61, now, 60) && !fresh(now + 61, now, 60));
        for hostile in [i64::MIN, i64::MIN + 1, i64::MAX, -1] {
            assert!(!fresh(hostile, now, 60), "{hostile}");
        }
        let keys = LinkKey::generate();
        for issued in ["-9223372036854775808", "9223372036854775807"] {
            assert!(!keys.check_form_token("hash", &format!("{issued}.AAAA"), now, 900), "{issued}");
        }
    }

    #[test]
    fn tokens_are_keyed_per_company_nonce_and_deployment() {
        let key = LinkKey::generate();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let nonce = LinkNonce::generate();
        assert_eq!(key.token_for(a, &nonce), key.token_for(a, &nonce));
        assert_ne!(key.token_for(a, &nonce), key.token_for(b, &nonce));
        assert_ne!(key.token_for(a, &nonce), key.token_for(a, &LinkNonce::generate()), "a new nonce, a new token");
        assert_ne!(key.token_for(a, &nonce), LinkKey::generate().token_for(a, &nonce));
        let token = key.token_for(a, &nonce);
        assert_eq!(LinkToken::parse(token.as_str()), Some(token.clone()));
        assert!(!token.as_str().contains(&a.to_string()));
        assert_eq!(token.hash(), nonce.hash(), "looked up by the nonce");
        assert_eq!(token.hash().len(), 64);
        assert_eq!(LinkNonce::parse(&nonce.as_text()), Some(nonce.clone()));
        assert!(!format!("{token:?}{key:?}{nonce:?}").contains(token.as_str()));
        assert!(LinkToken::parse("short").is_none() && LinkToken::parse(&"a".repeat(42)).is_none());
    }

    #[test]
    fn a_rotation_keeps_the_old_key_for_its_window_and_lookups_in_place() {
        let (company, nonce) = (Uuid::new_v4(), LinkNonce::generate());
        let now = chrono::Utc::now();
        let stored = StoredLinkKeys { current: new_key_text(), previous: None, previous_until: None, sign_from: None };
        let client = Uuid::new_v4();
        let before = stored.keys(now, client).expect("keys");
        let old_token = before.token_for(company, &nonce);
        let rotated = stored.rotated(new_key_text(), now, chrono::Duration::hours(24), chrono::Duration::zero());
        let during = rotated.keys(now + chrono::Duration::hours(1), client).expect("keys");
        let new_token = during.token_for(company, &nonce);
        assert_ne!(old_token, new_token, "URLs are rendered with the new key");
        assert_eq!(old_token.hash(), new_token.hash(), "both are found by the same stored hash");
        assert!(during.check_token(company, &nonce, &old_token) && during.check_token(company, &nonce, &new_token));
        let form = before.form_token("hash", now.timestamp());
        assert!(during.check_form_token("hash", &form, now.timestamp() + 60, 3600), "forms in flight still pass");
        let mac = before.sign("session/v1", &[b"x"]);
        assert!(during.verify("session/v1", &[b"x"], &mac));
        let after = rotated.keys(now + chrono::Duration::hours(25), client).expect("keys");
        assert!(!after.check_token(company, &nonce, &old_token), "the window ended");
        assert!(after.check_token(company, &nonce, &new_token));
        assert!(!after.verify("session/v1", &[b"x"], &mac));
        assert_eq!((before.client_id(), after.client_id()), (client, client), "clientId survives rotations");
        assert!(!during.check_token(company, &LinkNonce::generate(), &new_token), "a rotated nonce fails");
    }

    #[test]
    fn form_tokens_expire_and_bind_to_the_link() {
        let key = LinkKey::generate();
        let value = key.form_token("hash-a", 1_000);
        assert!(key.check_form_token("hash-a", &value, 1_500, 3600));
        assert!(!key.check_form_token("hash-b", &value, 1_500, 3600), "bound to one link");
        assert!(!key.check_form_token("hash-a", &value, 10_000, 3600), "expired");
        assert!(!key.check_form_token("hash-a", "1000.forged", 1_500, 3600));
        assert!(!key.check_form_token("hash-a", "", 1_500, 3600));
        assert!(!LinkKey::generate().check_form_token("hash-a", &value, 1_500, 3600), "bound to the key");
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_must_be_long() {
        assert!(LinkKey::parse(&"ab".repeat(32)).is_ok());
        assert!(LinkKey::parse(&base64::engine::general_purpose::STANDARD.encode([7u8; 32])).is_ok());
        assert!(LinkKey::parse("abcd").is_err());
        assert!(LinkKey::parse("not a key").is_err());
    }
}
