//! The compound office's page (`lianfang-node serve`): server-rendered HTML
//! over the application layer, with the sync worker running beside it.
//!
//! A request flows: the same-origin guard (`lianfang_web::guard`, a layer
//! on the whole router: a POST from another origin or with a wrong `Host`
//! is refused with 403) → the handler (`handlers.rs`), which checks the
//! form's `csrf` field, calls one [`NodeApp`] method inside
//! [`NodeApp::blocking`] (never SQL, never a mask of its own) → a template
//! (`views.rs`, `node/templates/`) for a GET, or a 303 to the page that
//! shows the result after a successful POST; a refused value re-renders
//! its form with 422. Every write goes through `NodeApp`, which wakes the
//! worker, so the page never waits for the link.
//!
//! **Invariant:** a POST changes something only after both locks: the
//! guard and the `csrf` field.

mod forms;
mod handlers;
mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lianfang_web::csrf::Secret;
use lianfang_web::guard::{Origins, same_origin};
use tokio::sync::watch;

use crate::app::NodeApp;
use crate::store::StoreError;
use crate::worker::{OutboxWorker, SyncState, WorkerOptions};

/// The file in the data directory holding the page's CSRF secret, so that
/// forms open in a browser stay valid across a restart.
pub const SECRET_FILE: &str = "page.key";

/// The flag that lets the page listen off loopback.
pub const ALLOW_REMOTE_FLAG: &str = "--allow-remote";

/// The `csrf` context of the node's page: it has no login, so one context;
/// only its own origin can read a token from its pages.
const CSRF_CONTEXT: &str = "lianfang-node page";

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct PageOptions {
    /// Where the page listens.
    pub listen: SocketAddr,
    /// Whether it may listen off loopback (the page shows personal data).
    pub allow_remote: bool,
    /// How the sync worker beside it paces its syncs (a refusal is kept
    /// for the banner, never ends the page).
    pub worker: WorkerOptions,
}

/// Errors of starting or running the page.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Off loopback without the flag.
    #[error("{0}")]
    Remote(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot keep the page's secret in {}: {source}", .path.display())]
    Secret {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the page stopped: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct PageState {
    pub(crate) app: NodeApp,
    secret: Secret,
    /// The worker's published state, for the banner.
    sync: watch::Receiver<SyncState>,
    compound: String,
}

impl PageState {
    fn token(&self) -> String {
        self.secret.token(CSRF_CONTEXT)
    }

    fn csrf_ok(&self, given: Option<&str>) -> bool {
        self.secret.verify(CSRF_CONTEXT, given)
    }

    fn chrome(&self, title: &str) -> views::Chrome {
        views::Chrome {
            title: title.to_owned(),
            compound: self.compound.clone(),
            csrf: self.token(),
            kinds: forms::page_kinds(),
        }
    }

    fn sync_state(&self) -> SyncState {
        self.sync.borrow().clone()
    }
}

/// The page, bound and ready to run.
#[derive(Debug)]
pub struct Page {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: PageState,
    worker: OutboxWorker,
}

impl Page {
    /// Binds the page for the node `app` and makes its sync worker.
    ///
    /// # Errors
    /// [`ServeError::Remote`] off loopback without `allow_remote`; a port in
    /// use; a secret that cannot be read or kept.
    pub async fn bind(app: NodeApp, options: PageOptions) -> Result<Page, ServeError> {
        check_listen(&options)?;
        let secret = load_secret(app.dir())?;
        let compound = app.blocking(|app| app.identity()).await?.compound;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| ServeError::Listen {
                addr: options.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Listen {
            addr: options.listen,
            source,
        })?;
        let worker = app.worker(WorkerOptions {
            stop_on_refusal: false,
            ..options.worker
        });
        let state = PageState {
            sync: worker.state(),
            app,
            secret,
            compound,
        };
        Ok(Page {
            listener,
            addr,
            state,
            worker,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Serves the page and runs the sync worker until `shutdown` resolves;
    /// then stops taking requests, lets those in progress (and their
    /// writes) finish, and gives the worker's sync in progress its
    /// deadline.
    ///
    /// # Errors
    /// The listener failing.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let origins = Arc::new(Origins::for_listen(self.addr, false, &[]));
        let router = handlers::router(self.state)
            .layer(axum::middleware::from_fn_with_state(origins, same_origin));
        let (stop, stopped) = watch::channel(false);
        let stop = Arc::new(stop);
        let signalled = Arc::clone(&stop);
        let server = async move {
            let served = axum::serve(self.listener, router)
                .with_graceful_shutdown(async move {
                    shutdown.await;
                    signalled.send_replace(true);
                })
                .await;
            // A listener that failed stops the worker too.
            stop.send_replace(true);
            served
        };
        let worker = self.worker.run(stopped, |_| {});
        let (served, _) = tokio::join!(server, worker);
        served.map_err(ServeError::Serve)
    }
}

/// Refuses an address off loopback unless `allow_remote` (the page shows
/// personal data); `serve` asks before it opens anything.
///
/// # Errors
/// [`ServeError::Remote`], naming the flag.
pub fn check_listen(options: &PageOptions) -> Result<(), ServeError> {
    lianfang_web::check_listen(options.listen, options.allow_remote, ALLOW_REMOTE_FLAG)
        .map_err(ServeError::Remote)
}

/// The page's CSRF secret from `DIR/page.key`, made (owner-only) on first
/// use.
fn load_secret(dir: &Path) -> Result<Secret, ServeError> {
    let path = dir.join(SECRET_FILE);
    let failed = |source| ServeError::Secret {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
                failed(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not 32 bytes; delete it to make a new one",
                ))
            })?;
            Ok(Secret::from_bytes(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = Secret::random();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(failed)?;
            std::io::Write::write_all(&mut file, secret.bytes()).map_err(failed)?;
            file.sync_all().map_err(failed)?;
            Ok(secret)
        }
        Err(e) => Err(failed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_secret(dir.path()).unwrap();
        let again = load_secret(dir.path()).unwrap();
        assert_eq!(first.bytes(), again.bytes());
        std::fs::write(dir.path().join(SECRET_FILE), b"short").unwrap();
        assert!(load_secret(dir.path()).is_err());
    }
}
