//! How the site's bytes leave the server: the built bundle (`/pkg`: wasm,
//! JS, CSS) from the copies `cargo leptos --precompress` wrote beside each
//! file (brotli, then gzip, as the browser accepts), cached for a year when
//! the names carry their content hash; everything else — pages, JSON,
//! server function answers — compressed on the fly.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use leptos::config::LeptosOptions;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;

/// A year: a hashed name changes whenever its content does, so a browser
/// never needs to ask again.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// Unhashed names (`hash-files` off) may change under the same name.
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// `/<site-pkg-dir>/*` from the site root, precompressed where a copy
/// exists. A missing file is a plain 404 (never cached).
pub fn bundle(options: &LeptosOptions) -> Router {
    let dir = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let cache = if options.hash_files {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    Router::new()
        .nest_service(&format!("/{}", options.site_pkg_dir), files)
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let cache = cache.clone();
                async move { cache_successes(next.run(req).await, cache) }
            },
        ))
}

fn cache_successes(mut response: Response, cache: HeaderValue) -> Response {
    if response.status().is_success() {
        response.headers_mut().insert(header::CACHE_CONTROL, cache);
    }
    response
}

/// Brotli or gzip for every response that is not compressed yet (the
/// bundle's precompressed files pass through as they are). Brotli runs at
/// tower-http's default quality (4), fast enough for every page.
pub fn compression() -> CompressionLayer {
    CompressionLayer::new().br(true).gzip(true)
}
