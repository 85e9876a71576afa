//! `user-phone serve` end to end over loopback, with clients the project did not write:
//! reqwest for REST and for gRPC-web (sent as the grpc-web browser library sends it), and a
//! tonic client generated from the component's `.proto` files for gRPC. The whole scenario
//! table runs over all three against the SQLite store; then overload, deadlines and
//! graceful shutdown.

#[path = "common/grpc.rs"]
mod grpc;
#[path = "common/running.rs"]
mod running;
#[path = "common/table.rs"]
mod table;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::net::TcpStream;
use tonic::transport::{Endpoint, Uri};
use user_phone::bindings::types::{Instance, Membership, Org, Timestamp, Token, User};
use user_phone::bindings::wire::Response;
use user_phone::server::{App, ServerConfig};
use user_phone::{MemoryStore, SqliteStore, Storage, StorageFault};

use grpc::{Outcome, Variant};
use running::{DEMO, Running, runtime};
use table::{Case, failed_row, load_cases, route_user_id};

mod client {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/zitadel_client.rs"));
}

use client::google::rpc;
use client::zitadel::management::v1::GetHumanPhoneRequest;
use client::zitadel::management::v1::management_service_client::ManagementServiceClient;
use client::zitadel::v1::ErrorDetail;

/// Sends the row over REST exactly as written.
async fn rest(http: &reqwest::Client, server: &Running, case: &Case) -> Response {
    let request = &case.request;
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut call = http.request(method, server.url(&request.path));
    for (name, value) in &request.headers {
        call = call.header(name, value.as_slice());
    }
    let answer = call.body(request.body.clone()).send().await.unwrap();
    wire_response(answer).await
}

/// Sends the row as gRPC-web-text over HTTP/1.1, as the grpc-web browser library does.
async fn grpc_web(http: &reqwest::Client, server: &Running, case: &Case, id: &str) -> Response {
    let request = grpc::grpc_request(&case.request, id, Variant::GrpcWebText);
    let mut call = http.post(server.url(&request.path));
    for (name, value) in &request.headers {
        call = call.header(name, value.as_slice());
    }
    call = call
        .header("accept", "application/grpc-web-text")
        .header("x-grpc-web", "1")
        .header("x-user-agent", "grpc-web-javascript/0.1");
    wire_response(call.body(request.body).send().await.unwrap()).await
}

async fn wire_response(answer: reqwest::Response) -> Response {
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into(),
            )
        })
        .collect();
    let body = answer.bytes().await.unwrap().to_vec();
    Response {
        status,
        headers,
        body,
        trailers: Vec::new(),
    }
}

/// Calls the row with the generated tonic client, addressed to the row's host. `None` when
/// the row cannot be stated as a gRPC call: no single host, or metadata that is not ASCII.
async fn tonic_call(server: &Running, case: &Case, id: &str) -> Option<Outcome> {
    let mut hosts = case.request.headers.iter().filter(|(n, _)| n == "host");
    let (Some((_, host)), None) = (hosts.next(), hosts.next()) else {
        return None;
    };
    let authority = format!("http://{}", std::str::from_utf8(host).ok()?);
    let address = server.address;
    let connector = tower::service_fn(move |_: Uri| async move {
        Ok::<_, io::Error>(TokioIo::new(TcpStream::connect(address).await?))
    });
    let channel = Endpoint::from_shared(authority)
        .ok()?
        .connect_with_connector(connector)
        .await;
    let mut client = ManagementServiceClient::new(channel.unwrap());

    let mut request = tonic::Request::new(GetHumanPhoneRequest { user_id: id.into() });
    for (name, value) in &case.request.headers {
        if name == "host" {
            continue;
        }
        let key = tonic::metadata::AsciiMetadataKey::from_bytes(name.as_bytes()).ok()?;
        let value = std::str::from_utf8(value).ok()?.parse().ok()?;
        request.metadata_mut().append(key, value);
    }
    Some(match client.get_human_phone(request).await {
        Ok(answer) => Outcome {
            code: 0,
            message: String::new(),
            detail: None,
            // Re-read with the component's own types: equal bytes, equal answer.
            response: Some(Message::decode(&*answer.into_inner().encode_to_vec()).unwrap()),
        },
        Err(status) => {
            // Read with the generated client's own types, as a ZITADEL client would.
            let details = rpc::Status::decode(status.details()).unwrap_or_default();
            let detail = details.details.first().map(|any| {
                let detail = ErrorDetail::decode(&*any.value).unwrap();
                (detail.id, detail.message)
            });
            Outcome {
                code: status.code() as i32,
                message: status.message().to_string(),
                detail,
                response: None,
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_row_answers_alike_over_rest_grpc_and_grpc_web_from_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let cases = load_cases(|path, text| {
        let name = path.file_name().unwrap().to_string_lossy();
        let store = SqliteStore::open(dir.path().join(format!("{name}.db"))).unwrap();
        store.import_json(text).unwrap();
        Arc::new(store)
    });
    let runtime = runtime(16);
    let clock = Arc::new(Mutex::new(Timestamp {
        seconds: 0,
        nanos: 0,
    }));
    let mut servers: Vec<(Arc<dyn Storage>, Running)> = Vec::new();
    for case in &cases {
        if !servers
            .iter()
            .any(|(store, _)| Arc::ptr_eq(store, &case.store))
        {
            let clock = clock.clone();
            let app = App::new(runtime.clone(), case.store.clone(), ServerConfig::default())
                .with_clock(Arc::new(move || *clock.lock().unwrap()));
            servers.push((case.store.clone(), Running::start(app).await));
        }
    }

    let http = reqwest::Client::new();
    let (mut counts, mut failures) = ([0; 3], Vec::new());
    for case in &cases {
        *clock.lock().unwrap() = case.request.now;
        let server = &servers
            .iter()
            .find(|(s, _)| Arc::ptr_eq(s, &case.store))
            .unwrap()
            .1;
        let mut problems = Vec::new();

        let answer = rest(&http, server, case).await;
        problems.extend(table::check_rest(&case.expect, &answer));
        counts[0] += 1;

        if let Some(id) = route_user_id(&case.request) {
            let expected = grpc::expected(&case.expect);
            let web = grpc::outcome(
                Variant::GrpcWebText,
                &grpc_web(&http, server, case, &id).await,
            );
            if web.as_ref() != Ok(&expected) {
                problems.push(format!(
                    "grpc-web:\n    expected {expected:?}\n    got      {web:?}"
                ));
            }
            counts[1] += 1;
            if let Some(got) = tonic_call(server, case, &id).await {
                if got != expected {
                    problems.push(format!(
                        "grpc:\n    expected {expected:?}\n    got      {got:?}"
                    ));
                }
                counts[2] += 1;
            }
        }
        if !problems.is_empty() {
            failures.push(failed_row(case, &problems));
        }
    }
    println!(
        "rows over REST: {}, gRPC-web: {}, gRPC: {}",
        counts[0], counts[1], counts[2]
    );
    assert!(counts[2] >= 150, "only {} rows went over gRPC", counts[2]);
    assert!(
        failures.is_empty(),
        "{} rows failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    for (_, server) in servers {
        server.shut_down().await;
    }
}

/// A store that holds every `find_instance` call for `delay` while `slow` calls remain.
struct Slow {
    inner: MemoryStore,
    delay: Duration,
    slow: AtomicUsize,
}

impl Slow {
    fn new(delay: Duration, slow: usize) -> Arc<Self> {
        let inner = MemoryStore::from_json(DEMO).unwrap();
        Arc::new(Self {
            inner,
            delay,
            slow: AtomicUsize::new(slow),
        })
    }
}

impl Storage for Slow {
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageFault> {
        let left = self
            .slow
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if left.is_ok() {
            std::thread::sleep(self.delay);
        }
        self.inner.find_instance(domain)
    }
    fn find_token(&self, i: &str, sha256: &[u8]) -> Result<Option<Token>, StorageFault> {
        self.inner.find_token(i, sha256)
    }
    fn find_org(&self, i: &str, org: &str) -> Result<Option<Org>, StorageFault> {
        self.inner.find_org(i, org)
    }
    fn list_memberships(&self, i: &str, user: &str) -> Result<Vec<Membership>, StorageFault> {
        self.inner.list_memberships(i, user)
    }
    fn find_user(&self, i: &str, user: &str) -> Result<Option<User>, StorageFault> {
        self.inner.find_user(i, user)
    }
}

const PHONE_PATH: &str = "/management/v1/users/69629026806489455/phone";

/// The demo's phone request as the demo bot sends it to `url`: status and body.
async fn get_phone_at(http: &reqwest::Client, url: String) -> (u16, String) {
    let answer = http
        .get(url)
        .header("host", "localhost")
        .header("authorization", "Bearer demo-bot-token")
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

async fn get_phone(http: &reqwest::Client, server: &Running) -> (u16, String) {
    get_phone_at(http, server.url(PHONE_PATH)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_instance_slots_get_resource_exhausted_at_once() {
    let store = Slow::new(Duration::from_millis(800), 1);
    let server = Running::start(App::new(runtime(1), store, ServerConfig::default())).await;
    let http = reqwest::Client::new();

    let first = tokio::spawn({
        let (http, url) = (http.clone(), server.url(PHONE_PATH));
        async move { get_phone_at(&http, url).await.0 }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = get_phone(&http, &server).await;
    assert_eq!(
        (status, body.as_str()),
        (429, r#"{"code":8,"message":"too many requests"}"#)
    );
    assert_eq!(
        first.await.unwrap(),
        200,
        "the request holding the slot still succeeds"
    );
    assert_eq!(
        get_phone(&http, &server).await.0,
        200,
        "the slot is free again"
    );
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_slower_than_the_deadline_gets_deadline_exceeded_and_the_server_goes_on() {
    let store = Slow::new(Duration::from_millis(1500), 1);
    let config = ServerConfig {
        call_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let server = Running::start(App::new(runtime(4), store, config)).await;
    let http = reqwest::Client::new();

    let (status, body) = get_phone(&http, &server).await;
    assert_eq!(
        (status, body.as_str()),
        (504, r#"{"code":4,"message":"deadline exceeded"}"#)
    );
    let (status, body) = get_phone(&http, &server).await;
    assert_eq!(status, 200, "{body}");
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_requests_in_flight() {
    let store = Slow::new(Duration::from_millis(600), 1);
    let server = Running::start(App::new(runtime(4), store, ServerConfig::default())).await;
    let http = reqwest::Client::new();
    let url = server.url(PHONE_PATH);
    let in_flight = tokio::spawn({
        let http = http.clone();
        async move { get_phone_at(&http, url).await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let address = server.address;
    server.shut_down().await;

    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("+41 71 000 00 00"), "{body}");
    assert!(
        TcpStream::connect(address).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_is_served_over_http2_prior_knowledge_too() {
    let store = Arc::new(MemoryStore::from_json(DEMO).unwrap());
    let server = Running::start(App::new(runtime(4), store, ServerConfig::default())).await;
    let http = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let answer = http
        .get(server.url(PHONE_PATH))
        .header("authorization", "Bearer demo-bot-token")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.version(), reqwest::Version::HTTP_2);
    assert_eq!(answer.status(), 200);
    server.shut_down().await;
}
