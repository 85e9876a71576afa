//! `user-phone serve`: REST, gRPC and gRPC-web on one port, HTTP/1.1 and HTTP/2 cleartext
//! side by side. The server only moves bytes: every answer, errors included, is shaped by
//! the component's wire export (or, when no instance could run, by the same guest code
//! compiled natively).
//!
//! Each request runs on the blocking thread pool while it holds one of a fixed number of
//! instance slots, so storage calls that block (a database on the network) never stall
//! the async runtime. When every slot is busy the request is answered ResourceExhausted
//! at once instead of queueing.

use std::convert::Infallible;
use std::future::{Future, ready};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::combinators::WithTrailers;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use user_phone_guest::Code;

use crate::bindings::types::Timestamp;
use crate::bindings::wire::{Request, Response};
use crate::runtime::{Runtime, content_type, fault_response};
use crate::storage::Storage;

/// Limits at the HTTP edge.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// The largest request head (HTTP/1.1 buffer, HTTP/2 header list), in bytes.
    pub max_headers: usize,
    /// How long a client may take to send its request head.
    pub header_timeout: Duration,
    /// How long a request may wait for its answer, storage included, before it is
    /// answered DeadlineExceeded.
    pub call_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body: 64 << 10,
            max_headers: 16 << 10,
            header_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Where the server reads the time it hands the component with each request.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// What every connection shares.
pub struct App {
    runtime: Arc<Runtime>,
    storage: Arc<dyn Storage>,
    slots: Arc<Semaphore>,
    config: ServerConfig,
    clock: Clock,
}

impl App {
    /// An application answering from `storage`, with as many slots as the runtime has
    /// instances, on the system clock.
    pub fn new(runtime: Arc<Runtime>, storage: Arc<dyn Storage>, config: ServerConfig) -> Self {
        let slots = Arc::new(Semaphore::new(runtime.config().max_instances as usize));
        Self {
            runtime,
            storage,
            slots,
            config,
            clock: Arc::new(now),
        }
    }

    /// The same application reading the time from `clock`, for tests that replay
    /// requests at the instant they were written for.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

type Body = WithTrailers<Full<Bytes>, std::future::Ready<Option<Result<HeaderMap, Infallible>>>>;

/// Accepts connections on `listener` until `shutdown` completes, then lets the requests
/// in flight finish (up to the configured grace period).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.config.header_timeout)
        .max_buf_size(app.config.max_headers.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(app.config.max_headers).unwrap_or(u32::MAX))
        .max_concurrent_streams(256);

    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "failed to accept a connection");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let first_request = app.config.header_timeout;
        let app = app.clone();
        let requested = Arc::new(Notify::new());
        let service = service_fn({
            let requested = requested.clone();
            move |request| {
                requested.notify_one();
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(&app, request, peer).await) }
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // hyper-util reads the first bytes, to tell HTTP/2's preface from HTTP/1.1,
            // without a timeout, and HTTP/2 has no header timeout of its own: a client that
            // sends nothing, or part of the preface, would hold its connection forever. So
            // the first request must begin within the header timeout.
            let mut connection = pin!(connection);
            let result = tokio::select! {
                result = &mut connection => result,
                begun = tokio::time::timeout(first_request, requested.notified()) => {
                    if begun.is_err() {
                        tracing::debug!(%peer, "no request within the header timeout; closed");
                        return;
                    }
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, error = %error, "connection closed with an error");
            }
        });
    }

    drop(listener);
    tracing::info!("shutting down; finishing requests in flight");
    if tokio::time::timeout(app.config.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the grace period were dropped");
    }
    Ok(())
}

/// Answers one request and logs it.
async fn handle(
    app: &App,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<Body> {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = route_of(request.uri().path());
    let answer = answer(app, request).await;
    let grpc_status = answer
        .trailers
        .iter()
        .chain(&answer.headers)
        .find(|(name, _)| name == "grpc-status")
        .map(|(_, value)| value.clone());
    tracing::info!(
        %peer,
        method,
        route,
        status = answer.status,
        grpc_status = grpc_status.as_deref().unwrap_or("-"),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    to_hyper(answer)
}

/// The route a path belongs to, for the log: never the path itself, which may carry ids.
fn route_of(path: &str) -> &'static str {
    if path.starts_with("/management/v1/users/") && path.ends_with("/phone") {
        "/management/v1/users/{userId}/phone"
    } else if path == "/zitadel.management.v1.ManagementService/GetHumanPhone" {
        "/zitadel.management.v1.ManagementService/GetHumanPhone"
    } else {
        "other"
    }
}

async fn answer(app: &App, request: hyper::Request<Incoming>) -> Response {
    let (parts, body) = request.into_parts();
    let mut wire = Request {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string(),
        headers: Vec::with_capacity(parts.headers.len() + 1),
        body: Vec::new(),
        now: (app.clock)(),
    };
    // HTTP/2 names the host in `:authority`, which the component reads as `host`.
    if !parts.headers.contains_key(hyper::header::HOST)
        && let Some(authority) = parts.uri.authority()
    {
        wire.headers
            .push(("host".into(), authority.as_str().as_bytes().to_vec()));
    }
    for (name, value) in &parts.headers {
        wire.headers
            .push((name.as_str().to_string(), value.as_bytes().to_vec()));
    }

    let kind = content_type(&wire).map(str::to_string);
    let kind = kind.as_deref();
    match Limited::new(body, app.config.max_body).collect().await {
        Ok(collected) => wire.body = collected.to_bytes().to_vec(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            let mut answer =
                fault_response(kind, Code::ResourceExhausted, "request body too large");
            if answer.status == 429 {
                answer.status = 413;
            }
            return answer;
        }
        Err(_) => return fault_response(kind, Code::InvalidArgument, "incomplete request body"),
    }

    let Ok(slot) = app.slots.clone().try_acquire_owned() else {
        return fault_response(kind, Code::ResourceExhausted, "too many requests");
    };
    let runtime = app.runtime.clone();
    let storage = app.storage.clone();
    let call = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        runtime.handle(storage, &wire)
    });
    match tokio::time::timeout(app.config.call_timeout, call).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(error)) => {
            // Only a panic in the host's storage gets here; the component's own faults
            // are answered by the runtime.
            tracing::error!(%error, "request handler panicked");
            fault_response(kind, Code::Internal, "internal error")
        }
        Err(_) => {
            // The call goes on in its slot until the store answers; the client is told now.
            tracing::warn!("request exceeded its deadline");
            fault_response(kind, Code::DeadlineExceeded, "deadline exceeded")
        }
    }
}

/// The wall clock as the component reads it.
pub fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos(),
    }
}

/// The component's answer as a hyper response. Header fields the component made are
/// trusted to be valid; one that is not is dropped and logged rather than sent broken.
fn to_hyper(answer: Response) -> hyper::Response<Body> {
    let trailers = if answer.trailers.is_empty() {
        None
    } else {
        Some(Ok(header_map(answer.trailers)))
    };
    let body = Full::new(Bytes::from(answer.body)).with_trailers(ready(trailers));
    let mut response = hyper::Response::new(body);
    *response.status_mut() = hyper::StatusCode::from_u16(answer.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    *response.headers_mut() = header_map(answer.headers);
    response
}

fn header_map(fields: Vec<(String, String)>) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(fields.len());
    for (name, value) in fields {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            (Ok(name), Ok(value)) => {
                map.append(name, value);
            }
            _ => tracing::warn!(name, "dropped an invalid header field from the component"),
        }
    }
    map
}
