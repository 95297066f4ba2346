//! The CSS, JS and icon, embedded in the binary and served with cache headers.
//!
//! 1. Each asset is addressed by a name carrying a hash of its bytes (`style-…css`), served
//!    with `Cache-Control: immutable` for a year; a new build changes the name.
//! 2. Every asset also has an `ETag`; `If-None-Match` with it answers 304.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::WebError;

/// One embedded file.
pub(crate) struct Asset {
    /// Its base name (`style.css`).
    pub name: &'static str,
    /// The name with the hash (`style-0123abcd.css`), used in pages.
    pub hashed: String,
    /// Its content type.
    pub mime: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
    /// Its ETag, quoted.
    pub etag: String,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        asset(
            "style.css",
            "text/css; charset=utf-8",
            include_bytes!("../assets/style.css"),
        ),
        asset(
            "app.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/app.js"),
        ),
        asset(
            "icon.svg",
            "image/svg+xml",
            include_bytes!("../assets/icon.svg"),
        ),
    ]
});

fn asset(name: &'static str, mime: &'static str, bytes: &'static [u8]) -> Asset {
    let hash = fnv1a(bytes);
    let hashed = match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{hash:016x}.{ext}"),
        None => format!("{name}-{hash:016x}"),
    };
    Asset {
        name,
        hashed,
        mime,
        bytes,
        etag: format!("\"{hash:016x}\""),
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The hashed file name of the asset called `name` (e.g. `style.css`).
pub(crate) fn hashed(name: &str) -> &'static str {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map_or("missing", |a| a.hashed.as_str())
}

/// Serves `assets/{file}`, by hashed or plain name.
pub(crate) async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.hashed == file || a.name == file) else {
        return WebError::not_found("no such asset").into_response();
    };
    let cache = if a.hashed == file {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=0, must-revalidate"
    };
    let etag = HeaderValue::from_str(&a.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag));
    let head = [
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (header::ETAG, etag),
        (header::CONTENT_TYPE, HeaderValue::from_static(a.mime)),
    ];
    if fresh {
        (StatusCode::NOT_MODIFIED, head).into_response()
    } else {
        (head, a.bytes).into_response()
    }
}
