//! The same-origin rule: a POST whose `Host` is not one of this server's
//! own authorities, or whose `Origin` (else `Referer`) names another
//! origin, is refused with 403 before any handler runs, so it changes
//! nothing. The `Host` check also defeats DNS rebinding: a page at
//! `evil.example` resolving to 127.0.0.1 sends `Host: evil.example`.
//!
//! The form's `csrf` field is checked by the handlers (they know the
//! context); this guard is the first of the two locks.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};

/// The origins a server accepts as its own.
#[derive(Debug, Clone)]
pub struct Origins {
    scheme: &'static str,
    /// Accepted `Host` values (`host:port`), lower-case.
    hosts: Vec<String>,
}

impl Origins {
    /// A server bound to `addr`, reached over `https` when `tls`. On
    /// loopback, `localhost:PORT` is accepted beside the address; `extra`
    /// names further host names the operator serves it under (e.g. the
    /// hub's certificate name).
    pub fn for_listen(addr: SocketAddr, tls: bool, extra: &[String]) -> Self {
        let port = addr.port();
        let mut hosts = vec![addr.to_string()];
        if addr.ip().is_loopback() {
            hosts.push(format!("localhost:{port}"));
            hosts.push(format!("127.0.0.1:{port}"));
            hosts.push(format!("[::1]:{port}"));
        }
        hosts.extend(extra.iter().map(|h| format!("{h}:{port}")));
        for h in &mut hosts {
            h.make_ascii_lowercase();
        }
        hosts.sort();
        hosts.dedup();
        Self {
            scheme: if tls { "https" } else { "http" },
            hosts,
        }
    }

    /// Whether a request with these headers comes from this server's own
    /// pages. Only unsafe methods need it; [`same_origin`] applies it to
    /// every method but GET/HEAD/OPTIONS.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
            .ok_or("no Host header")?;
        if !self.hosts.contains(&host) {
            return Err("Host is not this page's");
        }
        let own = format!("{}://{host}", self.scheme);
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().map_err(|_| "unreadable Origin")?;
            return if origin.eq_ignore_ascii_case(&own) {
                Ok(())
            } else {
                Err("Origin is not this page's")
            };
        }
        if let Some(referer) = headers.get(header::REFERER) {
            let referer = referer.to_str().map_err(|_| "unreadable Referer")?;
            let lower = referer.to_ascii_lowercase();
            return if lower == own || lower.starts_with(&format!("{own}/")) {
                Ok(())
            } else {
                Err("Referer is not this page's")
            };
        }
        // Neither header: not a browser's cross-site form post (browsers
        // send Origin on every POST). The csrf field still has to match.
        Ok(())
    }
}

/// axum middleware: `.layer(axum::middleware::from_fn_with_state(origins, same_origin))`.
pub async fn same_origin(
    State(origins): State<Arc<Origins>>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && let Err(why) = origins.check(req.headers()) {
        return forbidden(why);
    }
    next.run(req).await
}

/// The 403 answer both servers give (the guard, and a wrong `csrf` field).
pub fn forbidden(why: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>403 拒绝</title>\
         <link rel=\"stylesheet\" href=\"{}\"><main><h1>403 拒绝 · Forbidden</h1>\
         <p>此请求未被接受，未作任何修改。This request was refused; nothing was changed.</p>\
         <p class=\"muted\">{}</p><p><a href=\"/\">返回首页 · Back</a></p></main></html>",
        crate::STYLE_PATH,
        escape(why)
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn own_origin_passes_others_refused() {
        let o = Origins::for_listen("127.0.0.1:7780".parse().unwrap(), false, &[]);
        let ok = headers(&[
            (header::HOST, "127.0.0.1:7780"),
            (header::ORIGIN, "http://127.0.0.1:7780"),
        ]);
        assert!(o.check(&ok).is_ok());
        let local = headers(&[
            (header::HOST, "localhost:7780"),
            (header::ORIGIN, "http://localhost:7780"),
        ]);
        assert!(o.check(&local).is_ok());
        let cross = headers(&[
            (header::HOST, "127.0.0.1:7780"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert!(o.check(&cross).is_err());
        let rebinding = headers(&[
            (header::HOST, "evil.example:7780"),
            (header::ORIGIN, "http://evil.example:7780"),
        ]);
        assert!(o.check(&rebinding).is_err());
        let other_port = headers(&[
            (header::HOST, "127.0.0.1:7780"),
            (header::ORIGIN, "http://127.0.0.1:9999"),
        ]);
        assert!(o.check(&other_port).is_err());
        let referer = headers(&[
            (header::HOST, "127.0.0.1:7780"),
            (header::REFERER, "http://127.0.0.1:7780.evil/x"),
        ]);
        assert!(o.check(&referer).is_err());
        let referer_ok = headers(&[
            (header::HOST, "127.0.0.1:7780"),
            (header::REFERER, "http://127.0.0.1:7780/persons"),
        ]);
        assert!(o.check(&referer_ok).is_ok());
        assert!(o.check(&HeaderMap::new()).is_err());
        let tls = Origins::for_listen("127.0.0.1:7781".parse().unwrap(), true, &[]);
        let plain = headers(&[
            (header::HOST, "127.0.0.1:7781"),
            (header::ORIGIN, "http://127.0.0.1:7781"),
        ]);
        assert!(tls.check(&plain).is_err());
    }
}
