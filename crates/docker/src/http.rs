//! The HTTP that Docker's plugin client speaks, served on one unix socket: HTTP/1.1 with
//! keep-alive, every request a `POST /<Method>` with a JSON body.
//!
//! What a client can do to the daemon is bounded here, whatever it sends:
//! - a peer that goes away before its answer is written is an ordinary write error on that
//!   connection (the daemon ignores SIGPIPE: see [`crate::run`]);
//! - a request's head must arrive within the read timeout of the connection's start (or, on a
//!   kept-alive connection, of its first byte), and its body within the read timeout of the
//!   head; a body shorter than its declared length is answered once that time is up;
//! - a body larger than [`MAX_BODY`] is refused without being read whole;
//! - every answer, refusals of the HTTP layer included, is Docker's JSON with `Err`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::UnixListener;

use crate::api::Reply;

/// The largest request body read. Docker's largest requests (CreateNetwork with its options
/// and labels, CreateEndpoint) are a few KiB.
pub const MAX_BODY: usize = 1 << 20;

/// The media type of every answer.
const MEDIA_TYPE: &str = "application/vnd.docker.plugins.v1.1+json";

/// How long a client may take to send a request's head, and then its body.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub read: Duration,
}

/// A request's method (the path without its `/`) and whole body, or the answer that refuses it.
pub async fn read_request(
    req: Request<Incoming>,
    timeouts: Timeouts,
) -> Result<(String, Bytes), Reply> {
    let method = req.uri().path().trim_start_matches('/').to_string();
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), MAX_BODY);
    match tokio::time::timeout(timeouts.read, body.collect()).await {
        Ok(Ok(collected)) => Ok((method, collected.to_bytes())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(Reply::err(
            400,
            format!("cannot read the body of {method}: {e}"),
        )),
        Err(_) => Err(Reply::err(
            408,
            format!(
                "the body of {method} did not arrive within {} s (a body shorter than its Content-Length?)",
                timeouts.read.as_secs_f64()
            ),
        )),
    }
}

fn too_large() -> Reply {
    Reply::err(
        413,
        format!("request body too large: underlay reads at most {MAX_BODY} bytes"),
    )
}

/// The HTTP answer for a reply.
pub fn response(reply: &Reply) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(reply.body.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    r
}

/// Serve connections on `listener` until `stop` resolves, then let the calls in flight finish.
/// Each request is answered by `handle`.
pub async fn serve<H, F>(
    listener: UnixListener,
    timeouts: Timeouts,
    handle: H,
    stop: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let handle = Arc::new(handle);
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let handle = handle.clone();
        let service = service_fn(move |req| {
            let answer = handle(req);
            async move { Ok::<_, Infallible>(answer.await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(timeouts.read)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // A client that went away or was too slow: its own loss, nobody else's.
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    graceful.shutdown().await;
}
