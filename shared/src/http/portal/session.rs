//! Portal sessions: a signed cookie naming the API key that signed in (its id, never the key),
//! a random nonce the CSRF token derives from, and the time it was last used. Sessions end after
//! [`IDLE_SECS`] without use, and within a minute of their key's deletion (checked per request).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use uuid::Uuid;

use crate::domain::LinkKeys;

/// Name of the session cookie.
pub const COOKIE: &str = "cl_portal";
/// A session ends after this long without a request (12 h).
pub const IDLE_SECS: i64 = 12 * 3600;
/// A session's cookie is renewed when it was last renewed longer ago than this.
pub const RENEW_AFTER_SECS: i64 = 300;
/// Sign-in form tokens are valid this long.
pub const SIGN_IN_FORM_SECS: i64 = 2 * 3600;

/// A signed-in operator's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The id of the API key that signed in.
    pub key_id: Uuid,
    /// Random, per session: the CSRF token derives from it.
    pub nonce: String,
    /// When the cookie was last issued (Unix seconds).
    pub seen: i64,
}

impl Session {
    /// A new session for `key_id` at `now`.
    pub fn new(key_id: Uuid, now: i64) -> Self {
        let mut bytes = [0u8; 18];
        rand::rng().fill_bytes(&mut bytes);
        Self { key_id, nonce: URL_SAFE_NO_PAD.encode(bytes), seen: now }
    }

    /// The cookie value: `v1.<key id>.<nonce>.<seen>.<mac>`.
    pub fn encode(&self, keys: &LinkKeys) -> String {
        let body = format!("v1.{}.{}.{}", self.key_id.simple(), self.nonce, self.seen);
        let mac = keys.sign("portal-session/v1", &[body.as_bytes()]);
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// The session of a cookie value, if its signature holds and it has not been idle for
    /// [`IDLE_SECS`] at `now`.
    pub fn decode(value: &str, keys: &LinkKeys, now: i64) -> Option<Self> {
        if value.len() > 256 {
            return None;
        }
        let (body, mac) = value.rsplit_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        if !keys.verify("portal-session/v1", &[body.as_bytes()], &mac) {
            return None;
        }
        let mut parts = body.split('.');
        let (Some("v1"), Some(id), Some(nonce), Some(seen), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let seen: i64 = seen.parse().ok()?;
        if !crate::domain::link::fresh(seen, now, IDLE_SECS) {
            return None;
        }
        Some(Self { key_id: Uuid::parse_str(id).ok()?, nonce: nonce.to_string(), seen })
    }

    /// The CSRF token every form of this session carries.
    pub fn csrf(&self, keys: &LinkKeys) -> String {
        URL_SAFE_NO_PAD.encode(keys.sign("portal-csrf/v1", &[self.nonce.as_bytes()]))
    }

    /// Whether `token` is this session's CSRF token (under any accepted key).
    pub fn check_csrf(&self, keys: &LinkKeys, token: &str) -> bool {
        URL_SAFE_NO_PAD.decode(token).is_ok_and(|mac| keys.verify("portal-csrf/v1", &[self.nonce.as_bytes()], &mac))
    }
}

/// The sign-in form's token: issued at `now`, valid [`SIGN_IN_FORM_SECS`].
pub fn sign_in_token(keys: &LinkKeys, now: i64) -> String {
    let mac = keys.sign("portal-sign-in/v1", &[&now.to_be_bytes()]);
    format!("{now}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// Whether `token` is a sign-in form token still valid at `now`.
pub fn check_sign_in_token(keys: &LinkKeys, token: &str, now: i64) -> bool {
    let Some((issued, mac)) = token.split_once('.') else { return false };
    let Ok(issued) = issued.parse::<i64>() else { return false };
    if !crate::domain::link::fresh(issued, now, SIGN_IN_FORM_SECS) {
        return false;
    }
    URL_SAFE_NO_PAD.decode(mac).is_ok_and(|mac| keys.verify("portal-sign-in/v1", &[&issued.to_be_bytes()], &mac))
}

/// The `Set-Cookie` value of `value` (empty with `max_age` 0: sign out). `Secure` unless the
/// portal is served over plain HTTP on loopback.
pub fn set_cookie(value: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/portal; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_and_refuse_tampering_and_idleness() {
        let key = LinkKeys::generate();
        let session = Session::new(Uuid::new_v4(), 1_000_000);
        let value = session.encode(&key);
        assert_eq!(Session::decode(&value, &key, 1_000_100), Some(session.clone()));
        assert_eq!(Session::decode(&value, &key, 1_000_000 + IDLE_SECS + 1), None, "idle too long");
        assert_eq!(Session::decode(&value, &LinkKeys::generate(), 1_000_100), None, "another key");
        let other = Uuid::new_v4().simple().to_string();
        let forged = value.replacen(&session.key_id.simple().to_string(), &other, 1);
        assert_eq!(Session::decode(&forged, &key, 1_000_100), None, "another key id");
        let later = value.replacen("1000000", "1000999", 1);
        assert_eq!(Session::decode(&later, &key, 1_001_000), None, "a moved timestamp");
        assert_eq!(Session::decode("", &key, 0), None);
        assert!(!value.contains("cl_"), "no key in the cookie");
    }

    #[test]
    fn sign_in_tokens_with_hostile_times_are_refused_without_overflow() {
        let key = LinkKeys::generate();
        let now = 1_800_000_000;
        assert!(check_sign_in_token(&key, &sign_in_token(&key, now), now + 5));
        for issued in [i64::MIN, i64::MAX] {
            assert!(!check_sign_in_token(&key, &format!("{issued}.AAAA"), now), "{issued}");
        }
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let key = LinkKeys::generate();
        let a = Session::new(Uuid::new_v4(), 0);
        let b = Session::new(a.key_id, 0);
        assert!(a.check_csrf(&key, &a.csrf(&key)));
        assert!(!a.check_csrf(&key, &b.csrf(&key)));
        assert!(!a.check_csrf(&key, ""));
        let token = sign_in_token(&key, 100);
        assert!(check_sign_in_token(&key, &token, 200));
        assert!(!check_sign_in_token(&key, &token, 100 + SIGN_IN_FORM_SECS + 1));
        assert!(!check_sign_in_token(&LinkKeys::generate(), &token, 200));
    }
}
