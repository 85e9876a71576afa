//! A server started in the test's own process on an ephemeral loopback port, for tests
//! that talk to `user-phone serve` over real sockets; and the requests and answers of the
//! demo data that such tests send and expect. Included with `#[path]` by the tests that
//! need it.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of these helpers"
)]

use std::net::SocketAddr;
use std::sync::Arc;

use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use user_phone::bindings::types::Timestamp;
use user_phone::bindings::wire::{Request, Response};
use user_phone::server::{self, App};
use user_phone::{MemoryStore, Runtime, RuntimeConfig};
use user_phone_guest::proto::zitadel::management::v1::GetHumanPhoneRequest;

/// The demo data the server serves by default.
pub const DEMO: &str = include_str!("../../data/demo.json");

/// The demo's verified human, as the REST route names it.
pub const PHONE_PATH: &str = "/management/v1/users/69629026806489455/phone";

/// The gRPC method's path.
pub const GRPC_PATH: &str = "/zitadel.management.v1.ManagementService/GetHumanPhone";

/// The REST answer for the demo's verified human.
pub const PHONE_BODY: &str = concat!(
    r#"{"details":{"sequence":"2","creationDate":"2025-03-25T10:28:47.419Z","#,
    r#""changeDate":"2025-03-25T10:28:47.419Z","resourceOwner":"69629023906488334"},"#,
    r#""phone":{"phone":"+41 71 000 00 00","isPhoneVerified":true}}"#
);

/// The token of the demo's machine user, allowed to read.
pub const BOT: &str = "Bearer demo-bot-token";

/// The demo data held in memory.
pub fn demo_store() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::from_json(DEMO).expect("the demo data loads"))
}

/// A runtime with the default limits and `max_instances` slots.
pub fn runtime(max_instances: u32) -> Arc<Runtime> {
    let config = RuntimeConfig {
        max_instances,
        ..RuntimeConfig::default()
    };
    Arc::new(Runtime::new(config).expect("the component compiles"))
}

/// A moment at which the demo's tokens are valid.
pub const NOW: Timestamp = Timestamp {
    seconds: 1_780_000_000,
    nanos: 0,
};

/// A REST request for `path` from the demo's bot at `localhost`.
pub fn rest(path: &str) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        headers: vec![
            ("host".into(), b"localhost".to_vec()),
            ("authorization".into(), BOT.as_bytes().to_vec()),
        ],
        body: Vec::new(),
        now: NOW,
    }
}

/// A gRPC request (`content_type` says which variant) for `user_id` from the demo's bot.
/// gRPC-web-text bodies are base64.
pub fn grpc(user_id: &str, content_type: &str) -> Request {
    use base64::Engine;

    let message = GetHumanPhoneRequest {
        user_id: user_id.into(),
    }
    .encode_to_vec();
    let mut body = frame(0, &message);
    if content_type.starts_with("application/grpc-web-text") {
        body = base64::engine::general_purpose::STANDARD
            .encode(body)
            .into_bytes();
    }
    Request {
        method: "POST".into(),
        path: GRPC_PATH.into(),
        headers: vec![
            ("host".into(), b"localhost".to_vec()),
            ("authorization".into(), BOT.as_bytes().to_vec()),
            ("content-type".into(), content_type.as_bytes().to_vec()),
        ],
        body,
        now: NOW,
    }
}

/// gRPC's length-prefixed message: flag, 4-byte big-endian length, payload.
pub fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut framed = vec![flag];
    framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    framed.extend_from_slice(payload);
    framed
}

/// The value of the field `name` in `fields`.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The gRPC status of an answer over gRPC: its `grpc-status` and percent-decoded
/// `grpc-message`, from the trailers (or the headers of a trailers-only answer).
pub fn grpc_status(answer: &Response) -> (Option<&str>, String) {
    let find = |name| field(&answer.trailers, name).or_else(|| field(&answer.headers, name));
    let message = find("grpc-message").unwrap_or("");
    let message = percent_encoding::percent_decode_str(message)
        .decode_utf8()
        .unwrap();
    (find("grpc-status"), message.into_owned())
}

/// A server on an ephemeral loopback port, stopped by [`Running::shut_down`].
pub struct Running {
    /// Where it listens.
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Serves `app` on a new loopback port.
    pub async fn start(app: App) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let done = tokio::spawn(server::serve(listener, Arc::new(app), shutdown));
        Self {
            address,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Asks the server to stop and waits until it has.
    pub async fn shut_down(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.done.take().unwrap().await.unwrap().unwrap();
    }
}
