//! [`StoreError`]: what a storage adapter reports, with a retryable flag. What API callers are
//! told is `http::ApiError`.

/// What a storage adapter reports.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found the item in another state (or absent).
    #[error("condition failed: {0}")]
    ConditionFailed(String),
    /// The backend throttled or was unavailable; retrying later may succeed.
    #[error("storage temporarily unavailable: {0}")]
    Unavailable(String),
    /// Anything else (bad item shape, permissions, ...).
    #[error("storage error: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether repeating the operation later may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
