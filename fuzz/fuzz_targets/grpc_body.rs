//! Any body of a gRPC or gRPC-web call of `GetHumanPhone` by an allowed caller: the first
//! byte picks the content type, the rest is the body. Frames and messages are read by
//! the component's own decoder; the answer must be well formed, and a body that is
//! exactly one well-formed request message must never be answered Internal, since the
//! store never fails.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use user_phone_fuzz::{NOW, check, store};
use user_phone_guest::exports::user_phone::endpoint::wire::Request;
use user_phone_guest::proto::zitadel::management::v1::GetHumanPhoneRequest;

const CONTENT_TYPES: [&str; 6] = [
    "application/grpc",
    "application/grpc+proto",
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc-web-text+proto",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let request = Request {
        method: "POST".into(),
        path: "/zitadel.management.v1.ManagementService/GetHumanPhone".into(),
        headers: vec![
            ("host".into(), b"acme.example.com".to_vec()),
            ("authorization".into(), b"Bearer owner-token".to_vec()),
            ("content-type".into(), content_type.as_bytes().to_vec()),
        ],
        body: body.to_vec(),
        now: NOW,
    };
    let answer = user_phone_guest::wire::handle(store(), &request);
    check(&request, &answer);

    if !content_type.contains("-text") && is_one_request(body) {
        let status = answer.trailers.iter().chain(&answer.headers);
        let status = status.clone().find(|(n, _)| n == "grpc-status").map(|(_, v)| v.as_str());
        assert_ne!(status, Some("13"), "a well-formed request answered Internal: {answer:?}");
    }
});

/// Whether `body` is one uncompressed frame holding a `GetHumanPhoneRequest`.
fn is_one_request(body: &[u8]) -> bool {
    let Some((header, payload)) = body.split_first_chunk::<5>() else {
        return false;
    };
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    header[0] == 0 && length == payload.len() && GetHumanPhoneRequest::decode(payload).is_ok()
}
