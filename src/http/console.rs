//! The web console and GraphiQL, served from the files `console/` builds (Vite writes
//! `index.html`, `graphiql.html` and hashed files under `assets/` into `console.dir`, by
//! default `console/dist` relative to the working directory).
//!
//! - `GET /graphql` (when `graphql.graphiql` is on) answers `graphiql.html`: GraphiQL from
//!   local assets, nothing loaded from the internet.
//! - Every other path the API does not own is the console: a file of the build when one
//!   exists, otherwise `index.html`, so the console's history-mode routes (`/fleet`,
//!   `/hosts/host-…`) survive a reload. Missing files under `/assets/` stay 404s, and paths
//!   under the API's prefixes are never answered with the console.
//! - Hashed assets are cached for a year; the HTML pages are revalidated on every load, so
//!   a new build is picked up at once.
//! - Without a build (no `index.html` in the directory) both answer 503 with a short page
//!   saying how to build the console; the API works as usual. The directory is checked per
//!   request, so building while the server runs needs no restart.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Paths owned by the API: never answered with the console.
const API_PREFIXES: [&str; 4] = ["/graphql", "/healthz", "/readyz", "/metrics"];
const ASSETS_PREFIX: &str = "/assets/";

/// Where the built console lives.
#[derive(Debug, Clone)]
pub struct Console {
    dir: PathBuf,
}

impl Console {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    async fn built(&self) -> bool {
        tokio::fs::metadata(self.dir.join("index.html"))
            .await
            .map(|m| m.is_file())
            .unwrap_or(false)
    }

    /// `GET /graphql`: the GraphiQL page of the build.
    pub async fn graphiql(&self, request: Request) -> Response {
        if !self.built().await {
            return not_built(&self.dir);
        }
        let response = serve(ServeFile::new(self.dir.join("graphiql.html")), request).await;
        with_cache_control(response, false)
    }

    /// Any path the router does not know: a file of the build, or the console's index page.
    pub async fn fallback(&self, request: Request) -> Response {
        let path = request.uri().path().to_owned();
        let is_api = API_PREFIXES
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")));
        if is_api || !matches!(*request.method(), Method::GET | Method::HEAD) {
            return StatusCode::NOT_FOUND.into_response();
        }
        if !self.built().await {
            return not_built(&self.dir);
        }
        let is_asset = path.starts_with(ASSETS_PREFIX);
        let (parts, body) = request.into_parts();
        let retry = Request::from_parts(parts.clone(), Body::empty());
        let response = serve(ServeDir::new(&self.dir), Request::from_parts(parts, body)).await;
        if response.status() == StatusCode::NOT_FOUND && !is_asset {
            // A console route: the page routes it in the browser.
            let index = serve(ServeFile::new(self.dir.join("index.html")), retry).await;
            return with_cache_control(index, false);
        }
        with_cache_control(response, is_asset)
    }
}

async fn serve<S>(service: S, request: Request) -> Response
where
    S: tower::Service<Request, Error = std::convert::Infallible> + Send,
    S::Response: IntoResponse,
    S::Future: Send,
{
    match service.oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

fn with_cache_control(mut response: Response, immutable: bool) -> Response {
    if response.status().is_success() {
        let value = if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}

fn not_built(dir: &Path) -> Response {
    let dir = html_escape(&dir.display().to_string());
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>RemoteGPU</title></head>\
         <body style=\"font-family: sans-serif; max-width: 44rem; margin: 3rem auto\">\
         <h1>RemoteGPU</h1>\
         <p>The web console (and GraphiQL, which is built with it) is not built: there is no \
         <code>index.html</code> in <code>{dir}</code>.</p>\
         <p>With Node.js and npm installed, <code>cargo build</code> builds it, or by hand:</p>\
         <pre>cd console &amp;&amp; npm ci &amp;&amp; npm run build</pre>\
         <p>To serve a build from elsewhere set <code>console.dir</code> \
         (<code>REMOTEGPU_CONSOLE__DIR</code>). The API answers at <code>POST /graphql</code> \
         meanwhile.</p></body></html>"
    );
    (StatusCode::SERVICE_UNAVAILABLE, Html(page)).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_page_escapes_the_directory() {
        let response = not_built(Path::new("<dist>"));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(html_escape("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
