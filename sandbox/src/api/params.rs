//! Query parameters: decoding, integers and id lists, paging, dates.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::reply::{Reply, bad};
use super::{Result, Version};

/// Decoded query parameters (first value wins; unknown ones are ignored by the endpoints).
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// A comma-separated list parameter.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }
}

/// An integer parameter.
pub(super) fn integer(params: &Params, key: &str, version: Version) -> Result<Option<i64>> {
    params
        .get(key)
        .map(|v| v.trim().parse::<i64>().map_err(|_| bad(version, format!("The parameter '{key}' must be an integer"))))
        .transpose()
}

/// A comma-separated list of integers.
pub(super) fn ids(params: &Params, key: &str, version: Version) -> Result<Option<Vec<i64>>> {
    if params.get(key).is_none() {
        return Ok(None);
    }
    params
        .list(key)
        .iter()
        .map(|v| {
            v.parse::<i64>().map_err(|_| bad(version, format!("The parameter '{key}' must be a list of integers")))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// `page` (>= 1, default 1) and `limit` (1..=250, default 50; above 250 answers 413).
pub(super) fn paging(params: &Params, version: Version) -> Result<(usize, usize)> {
    let page = integer(params, "page", version)?.unwrap_or(1);
    let limit = integer(params, "limit", version)?.unwrap_or(50);
    if page < 1 || limit < 1 {
        return Err(bad(version, "The parameters 'page' and 'limit' must be positive".into()));
    }
    if limit > 250 {
        return Err(Reply::error(version, 413, "The limit parameter exceeded the maximum of 250"));
    }
    Ok((page as usize, limit as usize))
}

/// Parses an ISO 8601 instant (offset or UTC), an RFC 2822 date, or a Unix timestamp. A bare
/// date is midnight UTC unless `now_for_bare_date` is given, in which case the current time of
/// day is appended, as BigCommerce's v3 `date_modified:min/max` do.
pub fn parse_instant(raw: &str, now_for_bare_date: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    // A '+' left unencoded in a query string decodes to a space.
    let repaired = match raw.rfind(' ') {
        Some(i) if raw.contains('T') && raw[i + 1..].contains(':') && raw[i + 1..].len() == 5 => {
            format!("{}+{}", &raw[..i], &raw[i + 1..])
        }
        _ => raw.to_string(),
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(&repaired) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(raw) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(raw, format) {
            return Some(naive.and_utc());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let time = now_for_bare_date.map_or(chrono::NaiveTime::MIN, |now| now.time());
        return Some(date.and_time(time).and_utc());
    }
    raw.parse::<i64>().ok().and_then(|secs| DateTime::from_timestamp(secs, 0))
}

/// A date parameter as a Unix timestamp (see [`parse_instant`]).
pub(super) fn instant(params: &Params, key: &str, version: Version, bare_date_now: bool) -> Result<Option<i64>> {
    params
        .get(key)
        .map(|raw| {
            parse_instant(raw, bare_date_now.then(Utc::now))
                .map(|dt| dt.timestamp())
                .ok_or_else(|| bad(version, format!("The parameter '{key}' is not a valid date: '{raw}'")))
        })
        .transpose()
}

/// A numeric order id from the path (404 otherwise).
pub(super) fn order_id(raw: &str, version: Version) -> Result<u32> {
    raw.parse::<u32>().map_err(|_| Reply::error(version, 404, "The requested resource was not found."))
}

/// `date_modified:min` and `date_modified:max` (v3: a bare date gets the current time).
pub(super) fn modified_range(params: &Params, v: Version) -> Result<(Option<i64>, Option<i64>)> {
    Ok((instant(params, "date_modified:min", v, true)?, instant(params, "date_modified:max", v, true)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_every_accepted_form() {
        let expect = DateTime::parse_from_rfc3339("2024-05-14T09:34:00Z").map(|d| d.with_timezone(&Utc)).ok();
        assert_eq!(parse_instant("2024-05-14T09:34:00Z", None), expect);
        assert_eq!(parse_instant("2024-05-14T10:34:00+01:00", None), expect);
        assert_eq!(parse_instant("2024-05-14T10:34:00 01:00", None), expect, "unencoded '+' becomes a space");
        assert_eq!(parse_instant("Tue, 14 May 2024 09:34:00 +0000", None), expect);
        assert_eq!(parse_instant("2024-05-14T09:34:00", None), expect);
        assert_eq!(parse_instant("1715679240", None), expect);
        assert_eq!(parse_instant("2024-05-14", None).map(|d| d.to_rfc3339()), Some("2024-05-14T00:00:00+00:00".into()));
        let now = Utc::now();
        let bare = parse_instant("2024-05-14", Some(now)).expect("bare date");
        assert_eq!(bare.time(), now.time(), "v3 appends the current time to a bare date");
        assert_eq!(parse_instant("yesterday", None), None);
    }
}
