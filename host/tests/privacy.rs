//! The server's logs through a whole run of the scenario table, captured at every level
//! of every crate (hyper's and h2's frame traces included): no bearer token, no token
//! digest and no phone number may appear in them. Every row goes over REST as written,
//! and every call of the route also as gRPC-web over HTTP/1.1 and as gRPC over HTTP/2, so
//! that both connection types log what they do.

#[path = "common/grpc.rs"]
mod grpc;
#[path = "common/running.rs"]
mod running;
#[path = "common/table.rs"]
mod table;

use std::io;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::Level;
use user_phone::bindings::types::Timestamp;
use user_phone::bindings::wire::Request;
use user_phone::server::{App, ServerConfig};
use user_phone::{MemoryStore, Storage};

use grpc::Variant;
use running::{Running, runtime};
use table::{load_cases, route_user_id};

/// Every log line written so far.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The secrets of a snapshot document: plain tokens, their digests in hex and base64,
/// the stored digests, and every phone number with and without its spaces.
fn secrets_of(snapshot: &Value, found: &mut Vec<String>) {
    let instances = snapshot["instances"].as_array().unwrap();
    for instance in instances {
        for token in instance["tokens"].as_array().into_iter().flatten() {
            if let Some(plain) = token["token"].as_str() {
                found.push(plain.to_string());
                found.extend(digest_forms(&Sha256::digest(plain)));
            }
            if let Some(digest) = token["tokenSha256"].as_str() {
                found.extend(digest_forms(&hex::decode(digest).unwrap()));
            }
        }
        for user in instance["users"].as_array().into_iter().flatten() {
            if let Some(phone) = user["phone"].as_str().filter(|p| !p.is_empty()) {
                found.push(phone.to_string());
                found.push(phone.replace(' ', ""));
            }
        }
    }
}

fn digest_forms(digest: &[u8]) -> [String; 4] {
    [
        hex::encode(digest),
        hex::encode_upper(digest),
        STANDARD.encode(digest),
        STANDARD_NO_PAD.encode(digest),
    ]
}

/// The bearer tokens the rows send, known to the store or not.
fn sent_tokens(request: &Request, found: &mut Vec<String>) {
    for (name, value) in &request.headers {
        let value = String::from_utf8_lossy(value);
        if let Some(token) = name
            .eq("authorization")
            .then(|| value.strip_prefix("Bearer "))
            .flatten()
            .filter(|t| t.len() >= 8)
        {
            found.push(token.to_string());
        }
    }
}

async fn send(http: &reqwest::Client, server: &Running, request: &Request) -> u16 {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut call = http.request(method, server.url(&request.path));
    for (name, value) in &request.headers {
        call = call.header(name, value.as_slice());
    }
    let answer = call.body(request.body.clone()).send().await.unwrap();
    let status = answer.status().as_u16();
    answer.bytes().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_scenario_run_logs_no_token_digest_or_phone_number() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let mut secrets = Vec::new();
    let cases = load_cases(|path, text| {
        secrets_of(&serde_json::from_str(text).unwrap(), &mut secrets);
        Arc::new(MemoryStore::from_json(text).unwrap_or_else(|e| panic!("{path:?}: {e}")))
    });
    let clock = Arc::new(Mutex::new(Timestamp {
        seconds: 0,
        nanos: 0,
    }));
    let runtime = runtime(8);
    let mut servers: Vec<(Arc<dyn Storage>, Running)> = Vec::new();
    for case in &cases {
        if !servers.iter().any(|(s, _)| Arc::ptr_eq(s, &case.store)) {
            let clock = clock.clone();
            let app = App::new(runtime.clone(), case.store.clone(), ServerConfig::default())
                .with_clock(Arc::new(move || *clock.lock().unwrap()));
            servers.push((case.store.clone(), Running::start(app).await));
        }
    }

    let http1 = reqwest::Client::builder().http1_only().build().unwrap();
    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut sent = 0;
    for case in &cases {
        sent_tokens(&case.request, &mut secrets);
        *clock.lock().unwrap() = case.request.now;
        let server = &servers
            .iter()
            .find(|(s, _)| Arc::ptr_eq(s, &case.store))
            .unwrap()
            .1;
        let status = send(&http1, server, &case.request).await;
        assert_eq!(u64::from(status), case.expect["status"], "{}", case.name);
        sent += 1;
        if let Some(id) = route_user_id(&case.request) {
            let web = grpc::grpc_request(&case.request, &id, Variant::GrpcWebText);
            let native = grpc::grpc_request(&case.request, &id, Variant::Grpc);
            send(&http1, server, &web).await;
            send(&http2, server, &native).await;
            sent += 2;
        }
    }
    for (_, server) in servers {
        server.shut_down().await;
    }

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let request_lines = logs.lines().filter(|l| l.contains(" request ")).count();
    assert_eq!(request_lines, sent, "one log line per request");
    for level in ["TRACE h2", "TRACE hyper"] {
        assert!(logs.contains(level), "the capture holds {level} lines");
    }
    secrets.sort();
    secrets.dedup();
    assert!(
        secrets.len() >= 20,
        "only {} secrets collected",
        secrets.len()
    );
    let leaked: Vec<&String> = secrets.iter().filter(|s| logs.contains(*s)).collect();
    assert!(
        leaked.is_empty(),
        "{} of {} secrets in {} lines of log: {leaked:?}",
        leaked.len(),
        secrets.len(),
        logs.lines().count()
    );
}
