//! What a merchant pastes: the four values of a store API account, or the credentials text file
//! BigCommerce downloads. The API Path is parsed for its store hash only; nothing else of it is
//! kept, and no request ever goes to a URL a user gave.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// The only host an API Path may name.
pub const API_HOST: &str = "api.bigcommerce.com";
/// What an API Path must look like, for messages.
pub const API_PATH_FORM: &str = "https://api.bigcommerce.com/stores/<store hash>/v3/";
/// Longest value accepted in any credential field.
pub const MAX_FIELD_CHARS: usize = 256;

/// A store hash: 1 to 32 lowercase letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoreHash(String);

impl StoreHash {
    /// Accepts a store hash.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok =
            !raw.is_empty() && raw.len() <= 32 && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then(|| Self(raw.to_string()))
    }

    /// The hash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StoreHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an API Path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiPathError {
    /// Empty.
    #[error("the API Path is empty; paste the API Path of your store API account ({API_PATH_FORM})")]
    Empty,
    /// Not a URL, or not the expected one.
    #[error("the API Path must look like {API_PATH_FORM}; {0}")]
    Invalid(&'static str),
}

/// Extracts the store hash from an API Path such as
/// `https://api.bigcommerce.com/stores/abc123/v3/`. Tolerates surrounding spaces, a missing
/// trailing slash and `v2` instead of `v3`; refuses any other host, scheme, port, user info,
/// query, fragment, encoding trick or extra path.
pub fn parse_api_path(raw: &str) -> Result<StoreHash, ApiPathError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ApiPathError::Empty);
    }
    if raw.chars().count() > MAX_FIELD_CHARS {
        return Err(ApiPathError::Invalid("it is far too long"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\' || c == '%') {
        return Err(ApiPathError::Invalid("it contains spaces, backslashes, control characters or %-encodings"));
    }
    let url = Url::parse(raw).map_err(|_| ApiPathError::Invalid("it is not a URL"))?;
    if url.scheme() != "https" {
        return Err(ApiPathError::Invalid("it must start with https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiPathError::Invalid("it must not contain a user name or password"));
    }
    if url.host_str() != Some(API_HOST) {
        return Err(ApiPathError::Invalid("the host must be api.bigcommerce.com"));
    }
    if url.port().is_some() {
        return Err(ApiPathError::Invalid("it must not name a port"));
    }
    if url.query().is_some() || url.fragment().is_some() || raw.contains('?') || raw.contains('#') {
        return Err(ApiPathError::Invalid("it must not have a query or fragment"));
    }
    // The raw text must spell the path itself: no dot segments or other normalisation tricks.
    let host_at = raw.to_ascii_lowercase().find(API_HOST).map_or(0, |i| i + API_HOST.len());
    let after_host = &raw[host_at..];
    let segments: Vec<&str> = after_host.split('/').collect();
    let segments: &[&str] = match segments.as_slice() {
        ["", rest @ .., ""] => rest,
        ["", rest @ ..] => rest,
        _ => return Err(ApiPathError::Invalid("the path must be /stores/<store hash>/v3/")),
    };
    match segments {
        ["stores", hash, "v3" | "v2"] => {
            StoreHash::parse(hash).ok_or(ApiPathError::Invalid("the store hash must be lowercase letters and digits"))
        }
        _ => Err(ApiPathError::Invalid("the path must be /stores/<store hash>/v3/")),
    }
}

/// What we keep of a store API account's four values: the Client ID, the access token and
/// the store. The Client Secret is checked on submission and then dropped: BigCommerce's REST
/// API takes only the access token (`X-Auth-Token`), so keeping it would only widen what a
/// leaked secret gives away. Secrets are wrapped so they cannot reach logs through `Debug`.
#[derive(Clone)]
pub struct Credentials {
    /// Client ID (not secret, but kept only in the secret with the rest).
    pub client_id: SecretString,
    /// Access token (the `X-Auth-Token`).
    pub access_token: SecretString,
    /// The store the account belongs to.
    pub store_hash: StoreHash,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("store_hash", &self.store_hash).finish_non_exhaustive()
    }
}

/// A credential field as typed, checked for shape (not for validity with the store).
pub fn check_field(label: &str, raw: &str) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(format!("Enter the {label} of your store API account"));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(format!("The {label} is longer than {MAX_FIELD_CHARS} characters; paste only the {label}"));
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!("The {label} may contain only letters, digits and punctuation, without spaces"));
    }
    Ok(value.to_string())
}

/// Values read from BigCommerce's credentials text file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CredentialsFile {
    /// `CLIENT ID:`
    pub client_id: Option<String>,
    /// `CLIENT SECRET:`
    pub client_secret: Option<String>,
    /// `ACCESS TOKEN:`
    pub access_token: Option<String>,
    /// `API PATH:`
    pub api_path: Option<String>,
}

impl CredentialsFile {
    /// Parses the file's `KEY: value` lines (any line ending, any order, unknown lines such as
    /// `NAME:` and `CLIENT NAME:` ignored). Fields that are absent stay `None`.
    pub fn parse(text: &str) -> Self {
        let mut file = Self::default();
        for line in text.lines() {
            let line = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            let Some((key, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let slot = match key.trim().to_ascii_uppercase().as_str() {
                "CLIENT ID" => &mut file.client_id,
                "CLIENT SECRET" => &mut file.client_secret,
                "ACCESS TOKEN" => &mut file.access_token,
                "API PATH" => &mut file.api_path,
                _ => continue,
            };
            *slot = Some(value.to_string());
        }
        file
    }

    /// Whether it held any of the four values.
    pub fn is_empty(&self) -> bool {
        self.client_id.is_none()
            && self.client_secret.is_none()
            && self.access_token.is_none()
            && self.api_path.is_none()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepted_forms() {
        for ok in [
            "https://api.bigcommerce.com/stores/abc123/v3/",
            "https://api.bigcommerce.com/stores/abc123/v3",
            "  https://api.bigcommerce.com/stores/abc123/v2/ \n",
            "https://API.BIGCOMMERCE.COM/stores/abc123/v3/",
        ] {
            assert_eq!(parse_api_path(ok).map(|h| h.to_string()), Ok("abc123".to_string()), "{ok}");
        }
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "",
            "abc123",
            "http://api.bigcommerce.com/stores/abc123/v3/",
            "https://api.bigcommerce.com.evil.com/stores/abc123/v3/",
            "https://evil.com/api.bigcommerce.com/stores/abc123/v3/",
            "https://api.bigcommerce.com@evil.com/stores/abc123/v3/",
            "https://user:pw@api.bigcommerce.com/stores/abc123/v3/",
            "https://api.bigcommerce.com:8443/stores/abc123/v3/",
            "https://api.bigcommerce.com:443/stores/abc123/v3/",
            "https://127.0.0.1/stores/abc123/v3/",
            "https://[::1]/stores/abc123/v3/",
            "https://localhost/stores/abc123/v3/",
            "https://api.bigcommerce.com/stores/abc123/v3/orders",
            "https://api.bigcommerce.com/stores/abc123/v4/",
            "https://api.bigcommerce.com/stores/abc123/../../evil/v3/",
            "https://api.bigcommerce.com/stores/../stores/abc123/v3/",
            "https://api.bigcommerce.com/stores/%61bc123/v3/",
            "https://api.bigcommerce.com/stores/abc123/v3/?redirect=https://evil.com",
            "https://api.bigcommerce.com/stores/abc123/v3/#x",
            "https://api.bigcommerce.com/stores/ABC123/v3/",
            "https://api.bigcommerce.com/stores/abc_123/v3/",
            "https://api.bigcommerce.com//stores/abc123/v3/",
            "https://api.bigcommerce.com\\stores\\abc123\\v3\\",
            "https://api.bigcommerce.com/stores/abc 123/v3/",
            "https://xn--api-bigcommerce-com.evil/stores/abc123/v3/",
            "ftp://api.bigcommerce.com/stores/abc123/v3/",
            "javascript:alert(1)",
        ] {
            assert!(parse_api_path(bad).is_err(), "accepted {bad:?}");
        }
        assert!(parse_api_path(&format!("https://api.bigcommerce.com/stores/{}/v3/", "a".repeat(300))).is_err());
    }

    #[test]
    fn credentials_files_in_every_shape() {
        let text = "ACCESS TOKEN: tok123\r\nCLIENT NAME: commerce-link\r\nAPI PATH: https://api.bigcommerce.com/stores/abc123/v3/\r\nCLIENT ID: cid\r\nCLIENT SECRET: sec\r\nNAME: commerce-link\r\n";
        let file = CredentialsFile::parse(text);
        assert_eq!(file.access_token.as_deref(), Some("tok123"));
        assert_eq!(
            file.api_path.as_deref(),
            Some("https://api.bigcommerce.com/stores/abc123/v3/"),
            "the URL's own ':' survives"
        );
        assert_eq!((file.client_id.as_deref(), file.client_secret.as_deref()), (Some("cid"), Some("sec")));
        let partial = CredentialsFile::parse("\u{feff}client id:  cid \nsomething else\n\nACCESS TOKEN:\n");
        assert_eq!(partial, CredentialsFile { client_id: Some("cid".into()), ..Default::default() });
        assert!(CredentialsFile::parse("hello world").is_empty());
    }

    #[test]
    fn secrets_do_not_reach_debug() {
        let c = Credentials {
            client_id: SecretString::from("cid-1".to_string()),
            access_token: SecretString::from("tok-abc".to_string()),
            store_hash: StoreHash::parse("abc123").expect("hash"),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("tok-abc") && !shown.contains("cid-1"));
    }

    proptest! {
        #[test]
        fn the_parser_never_panics_and_only_accepts_the_official_host(input in ".{0,120}") {
            if let Ok(hash) = parse_api_path(&input) {
                prop_assert!(input.to_ascii_lowercase().contains("https://api.bigcommerce.com/stores/"));
                prop_assert!(input.contains(hash.as_str()));
            }
        }

        #[test]
        fn any_valid_hash_round_trips(hash in "[a-z0-9]{1,32}", v in prop::sample::select(vec!["v2", "v3"]), slash in any::<bool>()) {
            let path = format!("https://api.bigcommerce.com/stores/{hash}/{v}{}", if slash { "/" } else { "" });
            prop_assert_eq!(parse_api_path(&path).map(|h| h.to_string()), Ok(hash));
        }

        #[test]
        fn any_other_host_is_refused(host in "[a-z0-9.-]{1,30}", hash in "[a-z0-9]{1,12}") {
            prop_assume!(host != API_HOST);
            let path = format!("https://{host}/stores/{hash}/v3/");
            prop_assert!(parse_api_path(&path).is_err());
        }

        #[test]
        fn credentials_files_parse_whatever_the_line_endings(token in "[a-f0-9]{8,40}", crlf in any::<bool>()) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let text = format!("NAME: x{nl}ACCESS TOKEN: {token}{nl}API PATH: https://api.bigcommerce.com/stores/abc/v3/{nl}");
            let file = CredentialsFile::parse(&text);
            prop_assert_eq!(file.access_token, Some(token));
            prop_assert_eq!(file.api_path.as_deref().map(parse_api_path), Some(Ok(StoreHash::parse("abc").expect("hash"))));
        }
    }
}
