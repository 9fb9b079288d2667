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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    /// A site root with one bundle file and its brotli copy.
    fn site(hash_files: bool) -> (std::path::PathBuf, LeptosOptions) {
        let root = std::env::temp_dir().join(format!("exiton-site-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("pkg/exiton.abc123.wasm"), vec![0u8; 4096]).unwrap();
        std::fs::write(root.join("pkg/exiton.abc123.wasm.br"), b"brotli bytes").unwrap();
        let options = LeptosOptions::builder()
            .output_name("exiton")
            .site_root(root.display().to_string())
            .site_pkg_dir("pkg")
            .hash_files(hash_files)
            .build();
        (root, options)
    }

    async fn get(router: Router, path: &str, encoding: &str) -> axum::response::Response {
        let req = Request::get(path)
            .header(header::ACCEPT_ENCODING, encoding)
            .body(Body::empty())
            .unwrap();
        router.oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn hashed_bundle_files_go_out_precompressed_and_cached_for_good() {
        let (root, options) = site(true);
        let r = get(bundle(&options), "/pkg/exiton.abc123.wasm", "gzip, br").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(
            r.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        // Without brotli in Accept-Encoding, and no gzip copy: the file itself.
        let r = get(bundle(&options), "/pkg/exiton.abc123.wasm", "identity").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        // A missing file is a 404 nobody caches.
        let r = get(bundle(&options), "/pkg/exiton.gone.wasm", "br").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(r.headers().get(header::CACHE_CONTROL).is_none());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[tokio::test]
    async fn unhashed_names_are_revalidated() {
        let (root, options) = site(false);
        let r = get(bundle(&options), "/pkg/exiton.abc123.wasm", "br").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[tokio::test]
    async fn pages_are_compressed_on_the_fly() {
        let page = "<p>the band</p>".repeat(200);
        let router = Router::new()
            .route(
                "/",
                axum::routing::get(move || {
                    let page = page.clone();
                    async move { axum::response::Html(page) }
                }),
            )
            .layer(compression());
        let r = get(router.clone(), "/", "gzip").await;
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        let r = get(router.clone(), "/", "br").await;
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "br");
        let r = get(router, "/", "identity").await;
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
    }
}
