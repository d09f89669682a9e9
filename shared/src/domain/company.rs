//! Companies: the merchants a platform connects, with Codat's naming and tag rules.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::link::LinkNonce;

/// Longest company name accepted.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// At most this many tags.
pub const MAX_TAGS: usize = 10;
/// Tag keys are 1..=27 characters.
pub const MAX_TAG_KEY_CHARS: usize = 27;
/// Tag values are at most 100 characters.
pub const MAX_TAG_VALUE_CHARS: usize = 100;

/// A company name: Codat's pattern `^[A-Za-z0-9\s\-',&@.,?!]+$`, not blank, bounded length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CompanyName(String);

impl CompanyName {
    /// Parses a name, explaining what is wrong.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("'name' must not be empty".into());
        }
        if raw.chars().count() > MAX_NAME_CHARS {
            return Err(format!("'name' must be at most {MAX_NAME_CHARS} characters"));
        }
        if let Some(bad) =
            raw.chars().find(|c| !(c.is_ascii_alphanumeric() || c.is_whitespace() || "-',&@.?!".contains(*c)))
        {
            return Err(format!(
                "'name' contains '{bad}'; allowed are letters A-Z, digits, spaces and - ' , & @ . ? !"
            ));
        }
        Ok(Self(raw.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Up to 10 tags, keys 1..=27 characters, values at most 100 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tags(BTreeMap<String, String>);

impl Tags {
    /// Parses the JSON `tags` object, explaining what is wrong.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or("'tags' must be an object of string values")?;
        if object.len() > MAX_TAGS {
            return Err(format!("'tags' may hold at most {MAX_TAGS} tags, got {}", object.len()));
        }
        let mut tags = BTreeMap::new();
        for (key, value) in object {
            let key_chars = key.chars().count();
            if key_chars == 0 || key_chars > MAX_TAG_KEY_CHARS || key.contains(['\n', '\r']) {
                return Err(format!("tag keys must be 1 to {MAX_TAG_KEY_CHARS} characters on one line"));
            }
            let Value::String(text) = value else {
                return Err(format!("tag '{key}' must have a string value"));
            };
            if text.chars().count() > MAX_TAG_VALUE_CHARS {
                return Err(format!("tag '{key}' must be at most {MAX_TAG_VALUE_CHARS} characters"));
            }
            tags.insert(key.clone(), text.clone());
        }
        Ok(Self(tags))
    }

    /// The tags, sorted by key.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

/// A stored company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Company {
    /// Company id.
    pub id: Uuid,
    /// Display name.
    pub name: CompanyName,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Platform-defined tags.
    #[serde(default)]
    pub tags: Tags,
    /// SHA-256 (hex) of the company's Link nonce: the lookup key of its Link pages. The token
    /// (the nonce and a MAC under the deployment's link key) is never stored.
    pub link_token_hash: String,
    /// The company's Link nonce (base64url; see [`super::link`]); a new one rotates its Link URL.
    #[serde(default)]
    pub link_nonce: String,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Last successful sync of any data type.
    #[serde(default)]
    pub last_sync: Option<DateTime<Utc>>,
}

impl Company {
    /// A new company from a validated draft, with a fresh Link nonce.
    pub fn create(draft: CompanyDraft, now: DateTime<Utc>) -> Self {
        let nonce = LinkNonce::generate();
        Self {
            id: Uuid::new_v4(),
            name: draft.name,
            description: draft.description,
            tags: draft.tags.unwrap_or_default(),
            link_token_hash: nonce.hash(),
            link_nonce: nonce.as_text(),
            created: now,
            last_sync: None,
        }
    }

    /// Its Link nonce; `None` for a company stored before nonces (rotate its Link URL).
    pub fn nonce(&self) -> Option<LinkNonce> {
        LinkNonce::parse(&self.link_nonce)
    }

    /// Replaces name, description and tags (PUT): absent optional fields are cleared.
    pub fn replace(&mut self, draft: CompanyDraft) {
        self.name = draft.name;
        self.description = draft.description;
        self.tags = draft.tags.unwrap_or_default();
    }

    /// Applies the fields present in a patch (PATCH).
    pub fn update(&mut self, patch: CompanyPatch) {
        if let Some(name) = patch.name {
            self.name = name;
        }
        if let Some(description) = patch.description {
            self.description = Some(description);
        }
        if let Some(tags) = patch.tags {
            self.tags = tags;
        }
    }
}

/// A validated create/replace body.
#[derive(Debug, Clone, PartialEq)]
pub struct CompanyDraft {
    /// Required name.
    pub name: CompanyName,
    /// Optional description.
    pub description: Option<String>,
    /// Optional tags.
    pub tags: Option<Tags>,
}

/// A validated update body: only present fields change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanyPatch {
    /// New name.
    pub name: Option<CompanyName>,
    /// New description.
    pub description: Option<String>,
    /// New tags (replacing all).
    pub tags: Option<Tags>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_codats_pattern() {
        assert!(CompanyName::parse("Acme, Inc. & Sons - 'UK' @ 2024?!").is_ok());
        assert!(CompanyName::parse("").is_err());
        assert!(CompanyName::parse("   ").is_err());
        assert!(CompanyName::parse("Acme <script>").unwrap_err().contains("'<'"));
        assert!(CompanyName::parse("Café").is_err());
        assert!(CompanyName::parse(&"a".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(CompanyName::parse(&"a".repeat(MAX_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn tags_are_bounded() {
        let ten: serde_json::Map<_, _> = (0..10).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(Tags::parse(&Value::Object(ten.clone())).is_ok());
        let mut eleven = ten;
        eleven.insert("k10".into(), json!("v"));
        assert!(Tags::parse(&Value::Object(eleven)).unwrap_err().contains("at most 10"));
        assert!(Tags::parse(&json!({"k": "x".repeat(100)})).is_ok());
        assert!(Tags::parse(&json!({"k": "x".repeat(101)})).is_err());
        assert!(Tags::parse(&json!({"x".repeat(28): "v"})).is_err());
        assert!(Tags::parse(&json!({"k": 1})).is_err());
        assert!(Tags::parse(&json!(["k"])).is_err());
    }
}
