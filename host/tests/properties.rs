//! Generated requests through the real component (`Runtime::handle`): any method, path,
//! headers and body, in every encoding, with gRPC frames and base64 both well formed and
//! not. Whatever comes in, the answer must be well formed: a status from the spec's
//! table, header fields HTTP can carry, a REST body that is `google.rpc.Status` or the
//! phone response, a gRPC status with a known code; and never a fault of the component,
//! which the host would answer with its own fixed "internal error".
//!
//! `PROPTEST_CASES` raises the number of cases (256 by default, for CI); a failing case
//! is shrunk and written to `proptest-regressions/` to be replayed first from then on.

#[path = "common/running.rs"]
mod running;

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::header::{HeaderName, HeaderValue};
use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message;
use serde_json::Value;
use user_phone::bindings::types::Timestamp;
use user_phone::bindings::wire::{Request, Response};
use user_phone::{MemoryStore, Runtime, RuntimeConfig};
use user_phone_guest::proto::zitadel::management::v1::GetHumanPhoneRequest;

use running::{DEMO, GRPC_PATH, field, frame};

/// HTTP statuses the spec's table allows, with 204 for preflights and 405 for a wrong
/// method on the route.
const STATUSES: [u16; 13] = [
    200, 204, 400, 401, 403, 404, 405, 413, 429, 500, 501, 503, 504,
];

/// gRPC codes the spec's table allows.
const CODES: [i64; 11] = [0, 3, 4, 5, 7, 8, 9, 12, 13, 14, 16];

/// The messages the host answers with when the component faulted: never the
/// component's own.
const HOST_FAULTS: [&str; 2] = ["internal error", "deadline exceeded"];

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("the component compiles"))
}

fn store() -> std::sync::Arc<MemoryStore> {
    static STORE: OnceLock<std::sync::Arc<MemoryStore>> = OnceLock::new();
    STORE
        .get_or_init(|| std::sync::Arc::new(MemoryStore::from_json(DEMO).unwrap()))
        .clone()
}

const CONTENT_TYPES: [&str; 12] = [
    "application/json",
    "application/grpc",
    "application/grpc+proto",
    "application/grpc+json",
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc-web-text+proto",
    "Application/GRPC-Web-Text; charset=utf-8",
    "application/grpc;x=\"y\"",
    "text/plain",
    "application/grpc+\u{e9}",
];

const USER_IDS: [&str; 7] = [
    "69629026806489455",
    "69629026806489456",
    "69629031106484123",
    "69629040000000001",
    "404",
    "",
    "\u{e9}t\u{e9}",
];

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("GET".to_string()),
        4 => Just("POST".to_string()),
        1 => Just("OPTIONS".to_string()),
        1 => Just("PUT".to_string()),
        1 => "[A-Za-z]{0,8}",
        1 => ".{0,8}",
    ]
}

/// A user id as a path segment: known, arbitrary text, or arbitrary bytes, escaped.
fn path_id() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(&USER_IDS[..]).prop_map(str::to_string),
        1 => "[0-9]{0,20}",
        1 => vec(any::<u8>(), 0..12).prop_map(|bytes| {
            bytes.iter().map(|b| format!("%{b:02X}")).collect::<String>()
        }),
        1 => "[%/a-zA-Z0-9.~?#]{0,16}",
        1 => "\\PC{0,8}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => path_id().prop_map(|id| format!("/management/v1/users/{id}/phone")),
        4 => Just(GRPC_PATH.to_string()),
        1 => Just("/zitadel.management.v1.ManagementService/GetMyUser".to_string()),
        1 => Just("/zitadel.admin.v1.AdminService/GetHumanPhone".to_string()),
        1 => "/[a-zA-Z0-9./%]{0,30}",
        1 => "\\PC{0,20}",
    ]
}

/// A header value: one the endpoint reads correctly, or arbitrary bytes.
fn value(name: &'static str) -> BoxedStrategy<Vec<u8>> {
    let typical: Vec<&'static str> = match name {
        "host" => vec![
            "localhost",
            "127.0.0.1:8080",
            "acme.example.com",
            "evil.example",
            "",
        ],
        "authorization" => vec![
            "Bearer demo-bot-token",
            "Bearer demo-user-token",
            "bearer demo-bot-token",
            "Bearer ",
            "",
        ],
        "x-zitadel-orgid" => vec!["69629023906488334", "69629023906488999", "nope", ""],
        "accept-language" => vec!["de-CH, en;q=0.5", "zh", "*;q=0", "xx-YY", "ja;q=abc"],
        "content-type" => CONTENT_TYPES.to_vec(),
        "origin" => vec!["https://console.example.com", "null", "a\r\nb"],
        "grpc-encoding" => vec!["identity", "gzip", ""],
        _ => vec!["1", "trailers", ""],
    };
    prop_oneof![
        4 => proptest::sample::select(typical).prop_map(|v| v.as_bytes().to_vec()),
        1 => vec(any::<u8>(), 0..24),
        1 => "\\PC{0,12}".prop_map(String::into_bytes),
    ]
    .boxed()
}

/// The headers the component reads, and a few it passes over.
const NAMES: [&str; 9] = [
    "host",
    "authorization",
    "x-zitadel-orgid",
    "accept-language",
    "content-type",
    "origin",
    "grpc-encoding",
    "te",
    "x-grpc-web",
];

fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let usual = (value("host"), value("authorization"), value("content-type"));
    let extra = proptest::sample::select(&NAMES[..])
        .prop_flat_map(|name| (Just(name.to_string()), value(name)));
    let unknown = ("[a-z-]{1,12}", vec(any::<u8>(), 0..16));
    let more = vec(prop_oneof![4 => extra, 1 => unknown], 0..5);
    (proptest::option::weighted(0.9, usual), more).prop_map(|(usual, more)| {
        let mut headers = Vec::new();
        if let Some((host, authorization, content_type)) = usual {
            headers.push(("host".to_string(), host));
            headers.push(("authorization".to_string(), authorization));
            headers.push(("content-type".to_string(), content_type));
        }
        headers.extend(more);
        headers
    })
}

/// One gRPC frame: a request message (well formed or not) behind any flag and a length
/// that may lie.
fn grpc_frame() -> impl Strategy<Value = Vec<u8>> {
    let payload = prop_oneof![
        3 => proptest::sample::select(&USER_IDS[..])
            .prop_map(|id| GetHumanPhoneRequest { user_id: id.into() }.encode_to_vec()),
        1 => "\\PC{0,210}"
            .prop_map(|id| GetHumanPhoneRequest { user_id: id }.encode_to_vec()),
        1 => vec(any::<u8>(), 0..40),
    ];
    let flag = prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(0x80u8), 1 => any::<u8>()];
    let length = prop_oneof![6 => Just(None), 1 => any::<u32>().prop_map(Some)];
    (flag, payload, length).prop_map(|(flag, payload, length)| {
        let mut framed = frame(flag, &payload);
        if let Some(length) = length {
            framed[1..5].copy_from_slice(&length.to_be_bytes());
        }
        framed
    })
}

fn frames() -> impl Strategy<Value = Vec<u8>> {
    vec(grpc_frame(), 0..3).prop_map(|frames| frames.concat())
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        4 => frames(),
        3 => frames().prop_map(|bytes| STANDARD.encode(bytes).into_bytes()),
        1 => vec(any::<u8>(), 0..64),
        1 => "[A-Za-z0-9+/=]{0,64}".prop_map(String::into_bytes),
        1 => Just(br#"{"userId":"69629026806489455"}"#.to_vec()),
    ]
}

/// Anything at all, within the shapes above.
fn any_request() -> impl Strategy<Value = Request> {
    let now = prop_oneof![
        4 => Just(1_780_000_000i64),
        1 => any::<i64>(),
    ];
    (method(), path(), headers(), body(), now, any::<u32>()).prop_map(
        |(method, path, headers, body, seconds, nanos)| Request {
            method,
            path,
            headers,
            body,
            now: Timestamp { seconds, nanos },
        },
    )
}

/// A well-formed gRPC or gRPC-web call by the demo's bot, with a few headers more, so
/// that generated calls also reach the endpoint's later steps over gRPC.
fn grpc_call() -> impl Strategy<Value = Request> {
    let content_type = proptest::sample::select(&CONTENT_TYPES[1..10]);
    let id = prop_oneof![
        3 => proptest::sample::select(&USER_IDS[..]).prop_map(str::to_string),
        1 => "\\PC{0,210}",
    ];
    let extra = vec(
        proptest::sample::select(&NAMES[3..]).prop_flat_map(|n| (Just(n.to_string()), value(n))),
        0..3,
    );
    (content_type, id, extra).prop_map(|(content_type, id, extra)| {
        let mut body = frame(0, &GetHumanPhoneRequest { user_id: id }.encode_to_vec());
        if content_type.to_ascii_lowercase().contains("-text") {
            body = STANDARD.encode(body).into_bytes();
        }
        let mut headers = vec![
            ("host".to_string(), b"localhost".to_vec()),
            (
                "authorization".to_string(),
                b"Bearer demo-bot-token".to_vec(),
            ),
            ("content-type".to_string(), content_type.as_bytes().to_vec()),
        ];
        headers.extend(extra);
        Request {
            method: "POST".into(),
            path: GRPC_PATH.into(),
            headers,
            body,
            now: Timestamp {
                seconds: 1_780_000_000,
                nanos: 0,
            },
        }
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![3 => any_request(), 1 => grpc_call()]
}

/// Every way `answer` is not well formed, as text.
fn problems(answer: &Response) -> Vec<String> {
    let mut problems = Vec::new();
    if !STATUSES.contains(&answer.status) {
        problems.push(format!(
            "status {} is not in the spec's table",
            answer.status
        ));
    }
    for (name, value) in answer.headers.iter().chain(&answer.trailers) {
        let lower = name.to_ascii_lowercase() == *name;
        if HeaderName::from_bytes(name.as_bytes()).is_err() || !lower {
            problems.push(format!("invalid field name {name:?}"));
        }
        // Translated texts may reach `www-authenticate` as UTF-8, which HTTP carries as
        // opaque bytes; control characters it cannot.
        if HeaderValue::from_bytes(value.as_bytes()).is_err() {
            problems.push(format!("invalid value of {name}: {value:?}"));
        }
    }
    if answer.status == 204 {
        if !answer.body.is_empty() {
            problems.push("a 204 with a body".into());
        }
        return problems;
    }
    let content_type = field(&answer.headers, "content-type").unwrap_or("");
    if content_type == "application/json" {
        problems.extend(rest_problems(answer));
    } else if content_type.starts_with("application/grpc-web") {
        problems.extend(grpc_web_problems(answer, content_type.contains("-text")));
    } else if content_type.starts_with("application/grpc") {
        let status = field(&answer.trailers, "grpc-status");
        problems.extend(status_problems(
            status,
            field(&answer.trailers, "grpc-message"),
        ));
    } else {
        problems.push(format!("content type {content_type:?}"));
    }
    problems
}

fn rest_problems(answer: &Response) -> Vec<String> {
    let Ok(body) = serde_json::from_slice::<Value>(&answer.body) else {
        return vec![format!(
            "body is not JSON: {:?}",
            String::from_utf8_lossy(&answer.body)
        )];
    };
    if answer.status == 200 {
        let phone = body["phone"].is_object() && body["details"].is_object();
        return if phone {
            Vec::new()
        } else {
            vec![format!("200 without a phone: {body}")]
        };
    }
    let code = body["code"].as_i64().unwrap_or(-1);
    let message = body["message"].as_str();
    let details = body.get("details").is_none_or(Value::is_array);
    let mut problems = Vec::new();
    if !CODES.contains(&code) || code == 0 || message.is_none() || !details {
        problems.push(format!("not a google.rpc.Status: {body}"));
    }
    if message.is_some_and(|m| HOST_FAULTS.contains(&m)) {
        problems.push(format!("the component faulted: {body}"));
    }
    problems
}

fn grpc_web_problems(answer: &Response, text: bool) -> Vec<String> {
    let body = if text {
        match STANDARD.decode(&answer.body) {
            Ok(body) => body,
            Err(error) => return vec![format!("a -text body that is not base64: {error}")],
        }
    } else {
        answer.body.clone()
    };
    // Frames: at most one message, then the trailer frame, then nothing.
    let mut rest = &body[..];
    let mut trailers = None;
    while let [flag, a, b, c, d, tail @ ..] = rest {
        let length = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        let Some(payload) = tail.get(..length) else {
            return vec!["a frame longer than the body".into()];
        };
        if *flag == 0x80 {
            trailers = Some(String::from_utf8_lossy(payload).into_owned());
        }
        rest = &tail[length..];
    }
    let Some(trailers) = trailers.filter(|_| rest.is_empty()) else {
        return vec![format!("no trailer frame at the end: {body:?}")];
    };
    let mut lines = trailers.split("\r\n").filter(|l| !l.is_empty());
    let find = |name: &str| {
        let prefix = format!("{name}:");
        lines
            .clone()
            .find_map(|l| l.strip_prefix(&prefix).map(str::trim).map(String::from))
    };
    let (status, message) = (find("grpc-status"), find("grpc-message"));
    let bad_line = lines.find(|l| !l.contains(':'));
    let mut problems = status_problems(status.as_deref(), message.as_deref());
    problems.extend(bad_line.map(|line| format!("a trailer line without a colon: {line:?}")));
    problems
}

fn status_problems(status: Option<&str>, message: Option<&str>) -> Vec<String> {
    let code = status.and_then(|s| s.parse::<i64>().ok());
    let mut problems = Vec::new();
    if !code.is_some_and(|c| CODES.contains(&c)) {
        problems.push(format!("grpc-status {status:?}"));
    }
    let decoded = message.map(|m| percent_encoding::percent_decode_str(m).decode_utf8_lossy());
    if decoded.as_deref().is_some_and(|m| HOST_FAULTS.contains(&m)) {
        problems.push(format!("the component faulted: {message:?}"));
    }
    problems
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_request_gets_a_well_formed_answer(request in request()) {
        let answer = runtime().handle(store(), &request);
        let problems = problems(&answer);
        prop_assert!(
            problems.is_empty(),
            "{problems:#?}\nrequest: {request:?}\nanswer: {answer:?}"
        );
    }
}

#[test]
fn the_checks_notice_a_fault_answer_of_the_host() {
    let fault = user_phone::runtime::fault_response(
        Some("application/grpc-web-text"),
        user_phone_guest::Code::Internal,
        "internal error",
    );
    assert!(!problems(&fault).is_empty(), "{fault:?}");
    let fault = user_phone::runtime::fault_response(
        None,
        user_phone_guest::Code::Internal,
        "internal error",
    );
    assert!(!problems(&fault).is_empty(), "{fault:?}");
}

#[test]
fn the_generated_requests_reach_every_kind_of_answer() {
    use std::collections::BTreeSet;

    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    for _ in 0..1024 {
        let request = request().new_tree(&mut runner).unwrap().current();
        let answer = runtime().handle(store(), &request);
        let grpc = field(&answer.trailers, "grpc-status").map(str::to_string);
        let web = field(&answer.headers, "content-type").is_some_and(|c| c.contains("grpc-web"));
        seen.insert(match (grpc, web) {
            (Some(code), _) => format!("grpc {code}"),
            (None, true) => "grpc-web".to_string(),
            (None, false) => format!("rest {}", answer.status),
        });
    }
    for kind in [
        "rest 200", "rest 204", "rest 401", "rest 404", "rest 405", "grpc 0", "grpc 13",
    ] {
        assert!(seen.contains(kind), "no {kind} among {seen:?}");
    }
}
