//! Admission across all nodes: how many calls the hub decodes and serves at
//! once.
//!
//! Every call ends at the one store connection, so serving more at once
//! buys no throughput; it only holds more decoded batches (about 1.3 MB for
//! 2,000 entries) in memory while they queue for it. [`AdmitLayer`] therefore
//! lets a call's request be received whole first (its compressed bytes,
//! bounded by the message limit), so a slow link holds only those bytes and
//! never a place in line, and then waits for one of [`CALLS_AT_ONCE`]
//! permits before the message is decoded and handled. Permits are granted
//! in arrival order.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::{BodyExt as _, Full, Limited};
use tokio::sync::Semaphore;
use tonic::body::Body;

/// Calls decoded and served at once across all nodes.
pub const CALLS_AT_ONCE: usize = 8;

/// Wraps the gRPC routes in [`Admit`].
#[derive(Debug, Clone)]
pub struct AdmitLayer {
    permits: Arc<Semaphore>,
    max_body: usize,
}

impl AdmitLayer {
    /// `calls` at once; a request body over `max_body` bytes is refused.
    pub fn new(calls: usize, max_body: usize) -> Self {
        AdmitLayer {
            permits: Arc::new(Semaphore::new(calls.max(1))),
            max_body,
        }
    }
}

impl<S> tower_layer::Layer<S> for AdmitLayer {
    type Service = Admit<S>;

    fn layer(&self, inner: S) -> Admit<S> {
        Admit {
            inner,
            permits: Arc::clone(&self.permits),
            max_body: self.max_body,
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Admit<S> {
    inner: S,
    permits: Arc<Semaphore>,
    max_body: usize,
}

impl<S> tower_service::Service<http::Request<Body>> for Admit<S>
where
    S: tower_service::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The instance polled ready serves this call; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let permits = Arc::clone(&self.permits);
        let max_body = self.max_body;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match Limited::new(body, max_body).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    return Ok(if e.is::<http_body_util::LengthLimitError>() {
                        crate::grpc::request_too_large(max_body)
                    } else {
                        crate::grpc::request_not_received(e)
                    });
                }
            };
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the admission semaphore is never closed");
            inner
                .call(http::Request::from_parts(
                    parts,
                    Body::new(Full::new(bytes)),
                ))
                .await
        })
    }
}
