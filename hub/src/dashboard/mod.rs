//! The street office's dashboard (`lianfang-hub serve --web`): server-
//! rendered pages in Chinese over [`HubApp`], no script, no asset from the
//! internet.
//!
//! A request goes: the same-origin guard (`lianfang_web::guard`, every
//! POST), then the session ([`Auth`], a cookie whose token the hub stores
//! only hashed; none, expired or ended: 303 to `/login`), then the
//! handler, which checks the form's `csrf` field (bound to the session),
//! calls [`HubApp`] through [`HubApp::blocking`], writes what the user did
//! to the audit log with their name, and answers 303 to the page that
//! shows the result, or 422 with the form, its values kept and the wrong
//! field named.
//!
//! # Layout
//! - `mod.rs`: the router, the server (plaintext on loopback, TLS with the
//!   hub's certificate elsewhere), sessions and the login.
//! - `pages.rs`: the table, the log, a compound, the trends.
//! - `directives.rs`: notices and their matrix, tasks, problems,
//!   inspections.
//! - `xlsx.rs`: the street's own forms as xlsx.
//! - `chart.rs`: SVG charts drawn here.

// A handler's helpers return the page to answer with as their error (a 400
// for a bad date, a 500): it is built once per request, not worth a box.
#![allow(clippy::result_large_err)]

mod chart;
mod directives;
mod pages;
mod xlsx;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lianfang_web::csrf::Secret;
use lianfang_web::guard::{Origins, forbidden, same_origin};
use tokio::net::TcpListener;

use crate::app::{HubApp, Role, SessionUser, UserError};

/// The session cookie.
const SESSION_COOKIE: &str = "lf_session";
/// The pre-session cookie the login form's CSRF token binds to.
const LOGIN_COOKIE: &str = "lf_login";

/// Everything a handler needs: the application, the CSRF secret, and
/// whether cookies are `Secure`.
#[derive(Debug, Clone)]
pub struct Dashboard {
    app: HubApp,
    secret: Secret,
    /// Served over TLS: cookies get `Secure`.
    tls: bool,
}

/// Why the dashboard could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Hub(#[from] crate::store::HubError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    #[error("dashboard listener: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether a dashboard on `addr` uses TLS: off loopback always.
pub fn requires_tls(addr: SocketAddr, asked: bool) -> bool {
    crate::server::requires_tls(addr, asked)
}

/// The dashboard's router over `app` (for tests and [`run`]).
///
/// # Errors
/// SQLite errors reading the CSRF secret.
pub fn router(app: HubApp, addr: SocketAddr, tls: bool) -> Result<Router, DashboardError> {
    let secret = Secret::from_bytes(app.web_secret()?);
    let origins = Arc::new(Origins::for_listen(addr, tls, &crate::tls::host_names()));
    let state = Dashboard { app, secret, tls };
    Ok(Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/", get(pages::today))
        .route("/table", get(pages::table))
        .route("/table.csv", get(pages::table_csv))
        .route("/table.xlsx", get(pages::table_xlsx))
        .route("/log", get(pages::log).post(pages::log_note))
        .route("/log.xlsx", get(pages::log_xlsx))
        .route("/trends", get(pages::trends))
        .route("/compounds/{code}", get(pages::compound))
        .route(
            "/notices",
            get(directives::notices).post(directives::send_notice),
        )
        .route("/notices/{id}", get(directives::notice))
        .route("/tasks", get(directives::tasks).post(directives::send_task))
        .route("/tasks/{id}", get(directives::task))
        .route(
            "/problems",
            get(directives::problems).post(directives::add_problem),
        )
        .route(
            "/inspections",
            get(directives::inspections).post(directives::add_inspection),
        )
        .route(lianfang_web::STYLE_PATH, get(lianfang_web::style))
        .layer(axum::middleware::from_fn_with_state(origins, same_origin))
        .with_state(state))
}

/// Serves the dashboard of `app` on `listener` until `shutdown`: plaintext
/// on loopback unless `tls`, TLS with the hub's certificate (`DIR/tls/`)
/// otherwise.
///
/// # Errors
/// Start-up errors (the CSRF secret, the certificate), or the listener.
pub async fn run(
    listener: TcpListener,
    app: HubApp,
    tls: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DashboardError> {
    let addr = listener.local_addr()?;
    let tls = requires_tls(addr, tls);
    let dir = app.dir().to_owned();
    let router = router(app, addr, tls)?;
    if !tls {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
        return Ok(());
    }
    serve_tls(listener, router, &dir, shutdown).await
}

/// The TLS accept loop: each connection is handshaken with the hub's server
/// certificate and served by hyper; stops accepting at `shutdown`.
async fn serve_tls(
    listener: TcpListener,
    router: Router,
    dir: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DashboardError> {
    use tokio_rustls::rustls;
    let files = crate::tls::ensure(dir)?;
    let certs = crate::tls::pem_certs(&files.server_cert_pem)
        .map_err(|e| DashboardError::TlsConfig(e.to_string()))?;
    let key = crate::tls::pem_key(&files.server_key_pem)
        .map_err(|e| DashboardError::TlsConfig(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DashboardError::TlsConfig(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| DashboardError::TlsConfig(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "dashboard accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream))
                    .await
            else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Dashboard {
    /// A `Set-Cookie` value: `HttpOnly; SameSite=Strict`, `Secure` under TLS.
    fn set_cookie(&self, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.tls { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        ))
        .expect("cookie value is ASCII")
    }
}

/// A signed-in user on a page: who, and the CSRF token of their session.
#[derive(Debug, Clone)]
pub struct Auth {
    pub user: SessionUser,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Auth {
    fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

impl FromRequestParts<Dashboard> for Auth {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Dashboard,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/login").into_response();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned) else {
            return Err(to_login());
        };
        let user = state
            .app
            .blocking(move |app| app.session(&token))
            .await
            .map_err(internal)?;
        let Some(user) = user else {
            return Err(to_login());
        };
        let csrf = state
            .secret
            .token(&format!("session:{}", user.session_hash));
        Ok(Auth { user, csrf })
    }
}

impl Dashboard {
    /// Whether a form's `csrf` field is this session's token.
    fn csrf_ok(&self, auth: &Auth, given: Option<&str>) -> bool {
        self.secret
            .verify(&format!("session:{}", auth.user.session_hash), given)
    }
}

/// The 403 for a form without its session's `csrf` field.
fn bad_csrf() -> Response {
    forbidden("the form's csrf field is missing or wrong; reload the page and try again")
}

/// A 500 page for an error the user cannot fix (logged).
fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "dashboard request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(format!(
            "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>出错</title>\
             <link rel=\"stylesheet\" href=\"{}\"><main><h1>出错了 · Error</h1><p>{}</p>\
             <p><a href=\"/\">返回首页</a></p></main></html>",
            lianfang_web::STYLE_PATH,
            html_escape(&e.to_string())
        )),
    )
        .into_response()
}

/// A 404 page.
fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(format!(
            "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>未找到</title>\
             <link rel=\"stylesheet\" href=\"{}\"><main><h1>未找到 · Not found</h1><p>{}</p>\
             <p><a href=\"/\">返回首页</a></p></main></html>",
            lianfang_web::STYLE_PATH,
            html_escape(what)
        )),
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders a template as a page with `status`.
fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => internal(e),
    }
}

/// What every page's frame shows: the street, the user, the logout form.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub street: String,
    pub user: String,
    pub admin: bool,
    pub csrf: String,
    /// Which navigation entry is this page's.
    pub nav: &'static str,
}

impl Chrome {
    fn new(auth: &Auth, street: &str, title: impl Into<String>, nav: &'static str) -> Chrome {
        Chrome {
            title: title.into(),
            street: if street.is_empty() {
                "街道".into()
            } else {
                street.to_owned()
            },
            user: auth.user.name.clone(),
            admin: auth.is_admin(),
            csrf: auth.csrf.clone(),
            nav,
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    user: String,
    error: Option<String>,
    street: String,
}

/// `GET /login`: the form; sets the pre-session cookie its token binds to.
async fn login_page(State(state): State<Dashboard>, headers: HeaderMap) -> Response {
    let (pre, fresh) = match cookie(&headers, LOGIN_COOKIE) {
        Some(pre) if pre.len() == 64 => (pre.to_owned(), false),
        _ => (
            lianfang_proto::sign::hex_encode(&rand::random::<[u8; 32]>()),
            true,
        ),
    };
    let street = street_name(&state).await;
    let mut response = page(
        StatusCode::OK,
        &LoginPage {
            csrf: state.secret.token(&format!("login:{pre}")),
            user: String::new(),
            error: None,
            street,
        },
    );
    if fresh {
        response.headers_mut().append(
            header::SET_COOKIE,
            state.set_cookie(LOGIN_COOKIE, &pre, 3600),
        );
    }
    response
}

async fn street_name(state: &Dashboard) -> String {
    state
        .app
        .blocking(|app| app.config().map(|c| c.hub.street_name))
        .await
        .unwrap_or_default()
}

#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    csrf: Option<String>,
}

/// `POST /login`: checks the password, opens a session, 303 to `/`.
async fn login(
    State(state): State<Dashboard>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(pre) = cookie(&headers, LOGIN_COOKIE).map(str::to_owned) else {
        return bad_csrf();
    };
    if !state
        .secret
        .verify(&format!("login:{pre}"), form.csrf.as_deref())
    {
        return bad_csrf();
    }
    let user = form.user.trim().to_owned();
    let password = form.password;
    let name = user.clone();
    let result = state
        .app
        .blocking(move |app| app.login(&name, &password))
        .await;
    let (status, error) = match result {
        Ok(session) => {
            let mut response = Redirect::to("/").into_response();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                state.set_cookie(
                    SESSION_COOKIE,
                    &session.token,
                    crate::app::SESSION_HOURS * 3600,
                ),
            );
            headers.append(header::SET_COOKIE, state.set_cookie(LOGIN_COOKIE, "", 0));
            return response;
        }
        Err(UserError::WrongPassword) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "用户名或密码错误。Wrong user name or password.".to_owned(),
        ),
        Err(UserError::Throttled { seconds, .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "连续输错密码次数过多，此账户请 {seconds} 秒后再试。\
                 Too many wrong passwords: try again in {seconds} s."
            ),
        ),
        Err(e) => return internal(e),
    };
    let street = street_name(&state).await;
    page(
        status,
        &LoginPage {
            csrf: state.secret.token(&format!("login:{pre}")),
            user,
            error: Some(error),
            street,
        },
    )
}

#[derive(Debug, serde::Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /logout`: ends the session, 303 to `/login`.
async fn logout(
    State(state): State<Dashboard>,
    auth: Auth,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !state.csrf_ok(&auth, form.csrf.as_deref()) {
        return bad_csrf();
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE).map(str::to_owned)
        && let Err(e) = state.app.blocking(move |app| app.logout(&token)).await
    {
        return internal(e);
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.set_cookie(SESSION_COOKIE, "", 0));
    response
}

/// An RFC 3339 instant as China time, `MM-DD HH:MM`.
pub(crate) fn china_short(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_owned(),
        |at| {
            (at.naive_utc() + chrono::Duration::hours(8))
                .format("%m-%d %H:%M")
                .to_string()
        },
    )
}

/// An RFC 3339 instant's date in China time.
pub(crate) fn china_date(rfc3339: &str) -> Option<chrono::NaiveDate> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|at| crate::meeting::date_at(at.with_timezone(&chrono::Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lf_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, "lf_session"), Some("abc"));
        assert_eq!(cookie(&headers, "lf_login"), None);
    }

    #[test]
    fn china_time_of_instants() {
        assert_eq!(china_short("2020-02-10T08:30:00Z"), "02-10 16:30");
        assert_eq!(
            china_date("2020-02-10T17:00:00Z"),
            chrono::NaiveDate::from_ymd_opt(2020, 2, 11)
        );
    }
}
