//! The endpoint over HTTP: picks the encoding from the request, reads the call out of it,
//! and shapes the answer as ZITADEL's clients expect it. Hosts only move bytes.
//!
//! Three encodings share one call of the endpoint: REST (`rest`), gRPC (`grpc`) and
//! gRPC-web (`grpc_web`), told apart by the content type. CORS for browser clients is
//! added here, once, to whatever the encoding answered.

mod framing;
mod grpc;
mod grpc_web;
mod rest;

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::endpoint::{self, Call, Header, Refusal, Storage};
use crate::exports::user_phone::endpoint::wire::{Request, Response};
use crate::{Code, User};

/// Request headers a browser may send on a cross-origin call: ZITADEL's own, and those
/// the gRPC-web clients add.
const ALLOW_HEADERS: &str = "authorization, x-zitadel-orgid, content-type, accept-language, \
                             x-grpc-web, x-user-agent, grpc-timeout";

/// Response headers a browser lets a cross-origin script read; gRPC-web's status travels
/// in them when an answer has no body.
const EXPOSE_HEADERS: &str = "grpc-status, grpc-message, grpc-status-details-bin";

/// How long a browser may reuse a preflight answer, in seconds: two hours, the most
/// Chromium honours.
const PREFLIGHT_MAX_AGE: &str = "7200";

/// Answers one HTTP request.
pub fn handle(storage: &impl Storage, request: &Request) -> Response {
    let headers = Headers::new(&request.headers);
    let origin = headers.single("origin");
    if request.method == "OPTIONS" {
        return preflight(origin);
    }
    let mut answer = match Encoding::of(header_value(headers.single("content-type"))) {
        Encoding::Rest => rest::handle(storage, request),
        Encoding::Grpc { content_type } => grpc::handle(storage, request, content_type),
        Encoding::GrpcWeb { text, content_type } => {
            grpc_web::handle(storage, request, text, content_type)
        }
    };
    allow_origin(origin, &mut answer);
    answer
}

/// The error answer for a request the component could not run: `code` and a fixed
/// `message`, in the encoding `content_type` asks for. Hosts call this natively when an
/// instance trapped, ran out of time, or could not be had; for a request with an
/// `origin`, they pass the answer through [`allow_origin`] as well.
pub fn failure(content_type: Option<&str>, code: Code, message: &str) -> Response {
    match Encoding::of(content_type) {
        Encoding::Rest => rest::error(code, message, None),
        Encoding::Grpc { content_type } => grpc::failure(content_type, code, message),
        Encoding::GrpcWeb { text, content_type } => {
            grpc_web::failure(text, content_type, code, message)
        }
    }
}

/// Lets the page at `origin` read `answer` and its gRPC status: the CORS headers every
/// answer to a request with an `origin` header carries. Nothing for a request without.
pub fn allow_origin(origin: Header<'_>, answer: &mut Response) {
    if origin == Header::Absent {
        return;
    }
    answer.headers.extend(origin_headers(origin));
    answer
        .headers
        .push(header("access-control-expose-headers", EXPOSE_HEADERS));
}

/// The answer to a CORS preflight, for any path: every method and header the endpoint
/// reads is allowed, from any origin. Callers authenticate with bearer tokens, never with
/// cookies, so an origin gains nothing a script could not do without a browser.
fn preflight(origin: Header<'_>) -> Response {
    let mut headers = origin_headers(origin);
    headers.extend([
        header("access-control-allow-methods", "GET, POST, OPTIONS"),
        header("access-control-allow-headers", ALLOW_HEADERS),
        header("access-control-max-age", PREFLIGHT_MAX_AGE),
    ]);
    response(204, headers, Vec::new())
}

/// `access-control-allow-origin` naming `origin`, or `*` when it is absent or not a value
/// that may be echoed; a named origin makes the answer vary with it.
fn origin_headers(origin: Header<'_>) -> Vec<(String, String)> {
    // Echoed only when it is one line of visible ASCII, as every serialized origin is, so
    // that a host cannot be made to send a header it did not mean to.
    let echoed = header_value(origin).filter(|o| o.bytes().all(|b| b.is_ascii_graphic()));
    match echoed {
        Some(origin) => vec![
            header("access-control-allow-origin", origin),
            header("vary", "origin"),
        ],
        None => vec![header("access-control-allow-origin", "*")],
    }
}

/// The encodings the endpoint answers in, told apart by the request's content type.
#[derive(Debug, PartialEq)]
enum Encoding {
    /// Anything that is not gRPC: the REST gateway's JSON.
    Rest,
    /// gRPC over HTTP/2; the answer's content type.
    Grpc { content_type: String },
    /// gRPC-web, base64 for `text`; the answer's content type.
    GrpcWeb { text: bool, content_type: String },
}

impl Encoding {
    /// The encoding of a request with `content_type`. The answer's content type mirrors
    /// the request's: its base and `+subtype`, without parameters.
    fn of(content_type: Option<&str>) -> Self {
        let Some(value) = content_type else {
            return Self::Rest;
        };
        let value = value.trim().to_ascii_lowercase();
        // gRPC-web's names begin with gRPC's, so they are tried first.
        for (base, text) in [
            ("application/grpc-web-text", true),
            ("application/grpc-web", false),
        ] {
            if let Some(content_type) = answer_content_type(&value, base) {
                return Self::GrpcWeb { text, content_type };
            }
        }
        match answer_content_type(&value, "application/grpc") {
            Some(content_type) => Self::Grpc { content_type },
            None => Self::Rest,
        }
    }
}

/// When `value` is `base`, `base+subtype` or either with parameters: the content type of
/// the answer. A subtype that is not a plain token is left out rather than echoed.
fn answer_content_type(value: &str, base: &str) -> Option<String> {
    let rest = value.strip_prefix(base)?;
    let subtype = match rest.strip_prefix('+') {
        Some(subtype) => subtype.split(';').next().unwrap_or_default().trim(),
        None if rest.is_empty() || rest.starts_with(';') => "",
        None => return None,
    };
    let mut content_type = base.to_string();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"-._".contains(&b);
    if !subtype.is_empty() && subtype.bytes().all(token) {
        content_type.push('+');
        content_type.push_str(subtype);
    }
    Some(content_type)
}

/// Runs the endpoint for `user_id` on behalf of the caller the request's headers (gRPC's
/// metadata) name. Every encoding calls the endpoint through here.
fn get_user_phone(
    storage: &impl Storage,
    request: &Request,
    user_id: &str,
) -> Result<User, Refusal> {
    let headers = Headers::new(&request.headers);
    let accept_language = headers.joined("accept-language");
    let call = Call {
        host: headers.single("host"),
        authorization: headers.single("authorization"),
        org_id: headers.single("x-zitadel-orgid"),
        accept_language: accept_language.as_deref(),
        now: request.now,
        user_id,
    };
    endpoint::get_user_phone(storage, &call)
}

/// The request's headers, as the endpoint reads them.
pub struct Headers<'a>(&'a [(String, Vec<u8>)]);

impl<'a> Headers<'a> {
    /// Wraps a request's header list; names are lower case.
    pub fn new(headers: &'a [(String, Vec<u8>)]) -> Self {
        Self(headers)
    }

    /// The header `name` when it must appear at most once.
    pub fn single(&self, name: &str) -> Header<'a> {
        let mut values = self.0.iter().filter(|(n, _)| n == name);
        match (values.next(), values.next()) {
            (None, _) => Header::Absent,
            (Some((_, value)), None) => {
                core::str::from_utf8(value).map_or(Header::Unusable, Header::Value)
            }
            (Some(_), Some(_)) => Header::Unusable,
        }
    }

    /// Every UTF-8 value of the list header `name`, joined with commas as HTTP allows;
    /// `None` when it was not sent.
    pub fn joined(&self, name: &str) -> Option<String> {
        let mut values = self.0.iter().filter(|(n, _)| n == name);
        let first = core::str::from_utf8(&values.next()?.1).ok()?;
        let mut joined = String::from(first);
        for (_, value) in values {
            if let Ok(value) = core::str::from_utf8(value) {
                joined.push(',');
                joined.push_str(value);
            }
        }
        Some(joined)
    }
}

/// The value of a header sent once.
fn header_value(header: Header<'_>) -> Option<&str> {
    match header {
        Header::Value(value) => Some(value),
        Header::Absent | Header::Unusable => None,
    }
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// A response with a body and no trailers.
fn response(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
    Response {
        status,
        headers,
        body,
        trailers: Vec::new(),
    }
}

#[cfg(test)]
mod fixture;

#[cfg(test)]
mod tests {
    use alloc::borrow::ToOwned;

    use super::fixture::{self, PATH, Store, field};
    use super::*;

    fn content_type(encoding: Encoding) -> Option<(bool, String)> {
        match encoding {
            Encoding::Rest => None,
            Encoding::Grpc { content_type } => Some((false, content_type)),
            Encoding::GrpcWeb { content_type, .. } => Some((true, content_type)),
        }
    }

    #[test]
    fn content_types_choose_the_encoding_and_the_answer_mirrors_them() {
        let cases = [
            ("application/grpc", Some((false, "application/grpc"))),
            (
                "application/grpc+proto",
                Some((false, "application/grpc+proto")),
            ),
            (
                "Application/GRPC+Proto",
                Some((false, "application/grpc+proto")),
            ),
            (
                "application/grpc;charset=utf-8",
                Some((false, "application/grpc")),
            ),
            ("application/grpc-web", Some((true, "application/grpc-web"))),
            (
                "application/grpc-web+proto",
                Some((true, "application/grpc-web+proto")),
            ),
            (
                "application/grpc-web-text",
                Some((true, "application/grpc-web-text")),
            ),
            (
                "application/grpc-web-text+proto",
                Some((true, "application/grpc-web-text+proto")),
            ),
            ("application/grpc+a\r\nb", Some((false, "application/grpc"))),
            ("application/grpcx", None),
            ("application/grpc-webx", None),
            ("application/json", None),
            ("", None),
        ];
        for (value, expected) in cases {
            let expected = expected.map(|(web, ct)| (web, ct.to_owned()));
            assert_eq!(
                content_type(Encoding::of(Some(value))),
                expected,
                "{value:?}"
            );
        }
        assert_eq!(Encoding::of(None), Encoding::Rest);
        assert_eq!(
            Encoding::of(Some("application/grpc-web-text")),
            Encoding::GrpcWeb {
                text: true,
                content_type: "application/grpc-web-text".to_owned()
            }
        );
    }

    #[test]
    fn a_preflight_on_any_path_allows_the_origin_the_methods_and_the_headers() {
        let origin = [("origin", "https://console.example.com")];
        for path in [PATH, "/management/v1/users/1/phone", "/anything"] {
            let request = fixture::request("OPTIONS", path, "", &origin, Vec::new());
            let answer = handle(&Store, &request);
            assert_eq!(answer.status, 204, "{path}");
            assert!(answer.body.is_empty() && answer.trailers.is_empty());
            let h = &answer.headers;
            let allowed = field(h, "access-control-allow-origin");
            assert_eq!(allowed, Some("https://console.example.com"));
            assert_eq!(field(h, "vary"), Some("origin"));
            assert_eq!(
                field(h, "access-control-allow-methods"),
                Some("GET, POST, OPTIONS")
            );
            assert_eq!(field(h, "access-control-max-age"), Some("7200"));
            let allowed: Vec<&str> = field(h, "access-control-allow-headers")
                .unwrap()
                .split(", ")
                .collect();
            for name in [
                "authorization",
                "x-zitadel-orgid",
                "content-type",
                "x-grpc-web",
                "x-user-agent",
                "grpc-timeout",
                "accept-language",
            ] {
                assert!(allowed.contains(&name), "{name} is allowed");
            }
        }
    }

    #[test]
    fn a_preflight_without_origin_allows_any() {
        let request = fixture::request("OPTIONS", PATH, "", &[], Vec::new());
        let answer = handle(&Store, &request);
        assert_eq!(
            field(&answer.headers, "access-control-allow-origin"),
            Some("*")
        );
        assert_eq!(field(&answer.headers, "vary"), None);
    }

    #[test]
    fn every_encoding_lets_the_requesting_origin_read_the_status() {
        let origin = [("origin", "http://localhost:4200")];
        let rest = fixture::request(
            "GET",
            "/management/v1/users/human/phone",
            "",
            &origin,
            Vec::new(),
        );
        let grpc = fixture::request("POST", PATH, "application/grpc-web", &origin, Vec::new());
        for request in [rest, grpc] {
            let answer = handle(&Store, &request);
            let h = &answer.headers;
            assert_eq!(
                field(h, "access-control-allow-origin"),
                Some("http://localhost:4200")
            );
            let exposed = "grpc-status, grpc-message, grpc-status-details-bin";
            assert_eq!(field(h, "access-control-expose-headers"), Some(exposed));
        }
    }

    #[test]
    fn a_request_without_origin_gets_no_cors_headers() {
        let request = fixture::request(
            "GET",
            "/management/v1/users/human/phone",
            "",
            &[],
            Vec::new(),
        );
        let answer = handle(&Store, &request);
        assert_eq!(answer.status, 200);
        assert!(
            answer
                .headers
                .iter()
                .all(|(name, _)| !name.starts_with("access-control-"))
        );
    }

    #[test]
    fn an_origin_that_could_break_a_header_is_not_echoed() {
        let origin = [("origin", "https://a.example\r\nset-cookie: x")];
        let request = fixture::request("OPTIONS", PATH, "", &origin, Vec::new());
        let answer = handle(&Store, &request);
        assert_eq!(
            field(&answer.headers, "access-control-allow-origin"),
            Some("*")
        );
    }

    #[test]
    fn a_host_failure_takes_the_encoding_of_the_content_type() {
        let rest = failure(Some("application/json"), Code::Internal, "internal error");
        assert_eq!(rest.status, 500);
        assert_eq!(rest.body, br#"{"code":13,"message":"internal error"}"#);
        let grpc = failure(Some("application/grpc"), Code::Internal, "internal error");
        assert_eq!(field(&grpc.trailers, "grpc-status"), Some("13"));
        let web = failure(
            Some("application/grpc-web"),
            Code::Internal,
            "internal error",
        );
        assert!(web.trailers.is_empty());
        assert_eq!(web.body[0], 0x80);
        let mut answer = web;
        allow_origin(Header::Value("https://a.example"), &mut answer);
        assert_eq!(
            field(&answer.headers, "access-control-allow-origin"),
            Some("https://a.example")
        );
    }
}
