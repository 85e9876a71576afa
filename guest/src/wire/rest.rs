//! The REST route `GET /management/v1/users/{userId}/phone`, answered as ZITADEL's
//! grpc-gateway answers it: protojson bodies, `google.rpc.Status` errors, the gRPC code
//! mapped to an HTTP status, and `WWW-Authenticate` on 401.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use percent_encoding::percent_decode_str;

use super::{get_user_phone, response};
use crate::endpoint::{Refusal, Storage};
use crate::exports::user_phone::endpoint::wire::{Request, Response};
use crate::{Code, json, status};

const PREFIX: &str = "/management/v1/users/";
const SUFFIX: &str = "/phone";

/// Answers a request that is not gRPC.
pub fn handle(storage: &impl Storage, request: &Request) -> Response {
    // The gateway routes the decoded path (Go's `URL.Path`): an escaped `/` separates
    // segments like a plain one, and an escaped letter of the route still matches.
    let raw = request.path.split(['?', '#']).next().unwrap_or_default();
    let path: Vec<u8> = percent_decode_str(raw).collect();
    let Some(id) = path
        .strip_prefix(PREFIX.as_bytes())
        .and_then(|p| p.strip_suffix(SUFFIX.as_bytes()))
    else {
        return error(Code::NotFound, "Not Found", None);
    };
    if id.contains(&b'/') {
        return error(Code::NotFound, "Not Found", None);
    }
    if request.method != "GET" {
        // The gateway keeps 405 for a known path with another method.
        let mut answer = error(Code::Unimplemented, "Method Not Allowed", None);
        answer.status = 405;
        return answer;
    }
    let Ok(user_id) = core::str::from_utf8(id) else {
        let message = "type mismatch, parameter: user_id, error: invalid UTF-8";
        return error(Code::InvalidArgument, message, None);
    };

    match get_user_phone(storage, request, user_id) {
        Ok(user) => response(200, vec![content_type()], json::user_phone(&user)),
        Err(refusal) => refused(&refusal),
    }
}

/// The error answer for a refused call, in the caller's language.
fn refused(refusal: &Refusal) -> Response {
    let text = refusal.failure.text(refusal.language);
    let id = refusal.failure.id();
    error(refusal.failure.code(), &text, id.map(|id| (id, &*text)))
}

/// A `google.rpc.Status` answer. With a detail `(id, text)` the message is `text (id)`.
pub(super) fn error(code: Code, text: &str, detail: Option<(&str, &str)>) -> Response {
    let message: Cow<'_, str> = match detail {
        Some((id, _)) => Cow::Owned(format!("{text} ({id})")),
        None => Cow::Borrowed(text),
    };
    let mut headers = vec![content_type()];
    if code == Code::Unauthenticated {
        headers.push(("www-authenticate".to_string(), message.to_string()));
    }
    let body = json::status(status::number(code), &message, detail);
    response(status::http_status(code), headers, body)
}

fn content_type() -> (String, String) {
    ("content-type".to_string(), "application/json".to_string())
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::super::fixture::{self, Store};
    use super::*;

    fn get(path: &str) -> (u16, String) {
        let answer = handle(&Store, &fixture::request("GET", path, "", &[], Vec::new()));
        (answer.status, String::from_utf8(answer.body).unwrap())
    }

    #[test]
    fn an_escaped_slash_in_the_id_separates_segments_and_misses_the_route() {
        let not_found = (404, r#"{"code":5,"message":"Not Found"}"#.to_string());
        for path in [
            "/management/v1/users/hu%2Fman/phone",
            "/management/v1/users/%2f/phone",
        ] {
            assert_eq!(get(path), not_found, "{path}");
        }
    }

    #[test]
    fn escaped_letters_of_the_route_match_as_the_decoded_path_does() {
        for path in [
            "/management/v1/users/human/phone",
            "/management/v1/users/hum%61n/phone",
            "/management/v1/users/human/%70hone",
            "/management%2Fv1/users/human/phone",
        ] {
            assert_eq!(get(path).0, 200, "{path}");
        }
    }

    #[test]
    fn an_id_that_decodes_to_invalid_utf8_is_a_type_mismatch() {
        let (status, body) = get("/management/v1/users/%FF/phone");
        assert_eq!(status, 400);
        assert!(body.contains("invalid UTF-8"), "{body}");
    }
}
