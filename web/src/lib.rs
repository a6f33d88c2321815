//! What the compound's page (`lianfang-node serve`) and the street's
//! dashboard (`lianfang-hub serve --web`) share, so that each rule lives in
//! one place:
//!
//! - [`csrf`]: the hidden `csrf` field every form carries, and its check;
//! - [`guard`]: the same-origin rule for every POST (`Origin`/`Host` must be
//!   this page's own), as an axum middleware;
//! - [`check_listen`]: a page listens on loopback unless told otherwise;
//! - [`STYLE_CSS`]: the one stylesheet, served by both, never fetched from
//!   the internet (large type, one column on a narrow screen, printable).

pub mod csrf;
pub mod guard;

use std::net::SocketAddr;

/// The shared stylesheet; serve it at [`STYLE_PATH`].
pub const STYLE_CSS: &str = include_str!("style.css");

/// Where both servers serve [`STYLE_CSS`].
pub const STYLE_PATH: &str = "/static/style.css";

/// The axum handler for [`STYLE_PATH`].
pub async fn style() -> impl axum::response::IntoResponse {
    (
        [
            (http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (http::header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE_CSS,
    )
}

/// A page serves personal data: it listens on loopback unless the operator
/// says explicitly (`allow_remote`) that it may listen elsewhere.
pub fn check_listen(addr: SocketAddr, allow_remote: bool, flag: &str) -> Result<(), String> {
    if addr.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on {addr}: it is not a loopback address, and the page shows \
             personal data; pass {flag} to listen there anyway"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_unless_allowed() {
        assert!(check_listen("127.0.0.1:7780".parse().unwrap(), false, "--x").is_ok());
        assert!(check_listen("[::1]:7780".parse().unwrap(), false, "--x").is_ok());
        let err = check_listen("0.0.0.0:7780".parse().unwrap(), false, "--public").unwrap_err();
        assert!(err.contains("--public"), "{err}");
        assert!(check_listen("0.0.0.0:7780".parse().unwrap(), true, "--x").is_ok());
    }
}
