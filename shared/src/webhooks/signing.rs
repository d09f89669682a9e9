//! A consumer's signing secret and the headers that sign a delivery, as Standard Webhooks
//! defines them (the Svix scheme Codat's webhooks use): `webhook-id` (the message's id, the
//! same on every attempt), `webhook-timestamp` (Unix seconds of the attempt) and
//! `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the
//! secret's bytes), each also sent under its `svix-` name for Svix's own verifiers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;

/// What every secret's text starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a generated secret (Standard Webhooks: 24 to 64).
const SECRET_BYTES: usize = 32;

/// The signature scheme's version tag.
const VERSION: &str = "v1";

/// A consumer's signing secret: shown once when the consumer is created, then kept only in
/// Secrets Manager.
pub struct SigningSecret(SecretBox<Vec<u8>>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

/// A secret's text that is not `whsec_` and the base64 of 24 to 64 bytes.
#[derive(Debug, thiserror::Error)]
#[error("a webhook signing secret is whsec_ followed by the base64 of 24 to 64 bytes")]
pub struct BadSecret;

impl SigningSecret {
    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// From its text (`whsec_…`), as Secrets Manager keeps it.
    pub fn parse(text: &str) -> Result<Self, BadSecret> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or(BadSecret)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(BadSecret);
        }
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    /// Its text (`whsec_` and base64), to store and to show the platform once.
    pub fn text(&self) -> SecretString {
        SecretString::from(format!("{SECRET_PREFIX}{}", STANDARD.encode(self.0.expose_secret())))
    }

    /// The `webhook-signature` value of `body` sent as message `id` at `timestamp`.
    pub fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC accepts keys of any length.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.0.expose_secret()).unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("{VERSION},{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The signing headers of one attempt, under both their names.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<(&'static str, String)> {
        let signature = self.signature(id, timestamp, body);
        let timestamp = timestamp.to_string();
        vec![
            ("webhook-id", id.to_string()),
            ("webhook-timestamp", timestamp.clone()),
            ("webhook-signature", signature.clone()),
            ("svix-id", id.to_string()),
            ("svix-timestamp", timestamp),
            ("svix-signature", signature),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the Standard Webhooks specification.
    #[test]
    fn signs_the_specifications_example() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        assert_eq!(
            secret.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_generated_secret_reads_back_and_signs_alike() {
        let secret = SigningSecret::generate();
        let text = secret.text();
        assert!(text.expose_secret().starts_with(SECRET_PREFIX));
        let again = SigningSecret::parse(text.expose_secret()).expect("its own text");
        assert_eq!(secret.signature("m", 1, b"{}"), again.signature("m", 1, b"{}"));
        assert_ne!(secret.signature("m", 1, b"{}"), SigningSecret::generate().signature("m", 1, b"{}"));
        assert_eq!(format!("{secret:?}"), "SigningSecret(..)");
    }

    #[test]
    fn refuses_malformed_secrets() {
        for text in ["", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_AAAA"] {
            assert!(SigningSecret::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn headers_carry_one_signature_under_both_names() {
        let secret = SigningSecret::generate();
        let headers = secret.headers("msg_1", 1_700_000_000, b"{}");
        let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        assert_eq!(get("webhook-id"), get("svix-id"));
        assert_eq!(get("webhook-timestamp").as_deref(), Some("1700000000"));
        assert_eq!(get("webhook-signature"), get("svix-signature"));
        assert_eq!(get("webhook-signature"), Some(secret.signature("msg_1", 1_700_000_000, b"{}")));
    }
}
