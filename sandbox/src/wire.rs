//! What the API and the admin API answer with: the server's shared state, response bodies (whole
//! or truncated on purpose), JSON responses.

use std::collections::BTreeMap;
use std::sync::Arc;

use http_body_util::Full;
use hyper::Response;
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use crate::store::Store;

/// Shared by every connection.
pub struct State {
    /// Stores by hash.
    pub stores: BTreeMap<String, Arc<Store>>,
    /// `http://127.0.0.1:PORT`: the BigCommerce API base URL clients are configured with.
    pub root: String,
    /// Whether hooks may deliver to loopback destinations (`SandboxOptions::loopback_hooks`).
    pub loopback_hooks: bool,
}

/// A response body: whole, or cut short of the length it declares (the truncation fault).
pub enum Body {
    /// The whole body.
    Whole(Full<Bytes>),
    /// `data`, then the end, although `declared` bytes were promised: the client sees the
    /// connection end early, as with a real truncated response.
    Truncated {
        /// What is sent.
        data: Option<Bytes>,
        /// The length declared.
        declared: u64,
    },
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Whole(Full::from(bytes))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Body::Whole(full) => std::pin::Pin::new(full).poll_frame(cx).map_err(|never| match never {}),
            Body::Truncated { data, .. } => {
                std::task::Poll::Ready(data.take().map(|d| Ok(hyper::body::Frame::data(d))))
            }
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Whole(full) => full.size_hint(),
            Body::Truncated { declared, .. } => hyper::body::SizeHint::with_exact(*declared),
        }
    }
}

/// A JSON response (none for `None`).
pub(crate) fn response(status: u16, body: Option<&Value>) -> Response<Body> {
    raw(status, body.map(|b| serde_json::to_vec(b).unwrap_or_default()))
}

/// A response of `bytes` (JSON when there are any).
pub(crate) fn raw(status: u16, bytes: Option<Vec<u8>>) -> Response<Body> {
    let json = bytes.is_some();
    let mut r = Response::new(Body::from(bytes.unwrap_or_default()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if json {
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    r
}
