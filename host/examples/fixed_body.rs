//! The baseline of the end-to-end benchmark (`host/benches/e2e.sh`): a hyper server that
//! answers every request with the same body, built as `user-phone serve` builds its
//! server (hyper-util's auto builder for HTTP/1.1 and h2c, the same HTTP settings, tokio's
//! multi-thread runtime) but with no component, storage or blocking pool behind it. What
//! it serves is what hyper and the network cost alone.
//!
//! ```text
//! cargo run --release -p user-phone --example fixed_body -- 127.0.0.1:8081 132 application/json
//! ```
//!
//! Arguments: the address, the body's size in bytes, its content type. With a gRPC
//! content type the answer also carries the `grpc-status: 0` trailer, as a gRPC answer
//! does.

use std::convert::Infallible;
use std::future::ready;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:8081".into());
    let size: usize = args
        .next()
        .as_deref()
        .unwrap_or("132")
        .parse()
        .context("a body size")?;
    let content_type = args.next().unwrap_or_else(|| "application/json".into());
    let grpc = content_type.starts_with("application/grpc");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(
        address,
        Bytes::from(vec![b'x'; size]),
        content_type,
        grpc,
    ))
}

async fn serve(address: String, body: Bytes, content_type: String, grpc: bool) -> Result<()> {
    // The same settings as `user_phone::server::serve`, with its default limits.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(16 << 10);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(16 << 10)
        .max_concurrent_streams(256);

    let listener = TcpListener::bind(&address)
        .await
        .with_context(|| format!("failed to listen on {address}"))?;
    eprintln!(
        "fixed_body: serving {} bytes on http://{}",
        body.len(),
        listener.local_addr()?
    );
    let content_type = HeaderValue::from_str(&content_type)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let (body, content_type) = (body.clone(), content_type.clone());
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (body, content_type) = (body.clone(), content_type.clone());
            async move {
                // Read the request body as the real server does before it answers.
                let _ = request.into_body().collect().await;
                let trailers = grpc.then(|| {
                    let mut trailers = HeaderMap::new();
                    trailers.insert("grpc-status", HeaderValue::from_static("0"));
                    Ok::<_, Infallible>(trailers)
                });
                let mut response =
                    hyper::Response::new(Full::new(body).with_trailers(ready(trailers)));
                response.headers_mut().insert(CONTENT_TYPE, content_type);
                Ok::<_, Infallible>(response)
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}
