//! The REST route `GET /management/v1/users/{userId}/phone`, answered as ZITADEL's
//! grpc-gateway answers it: protojson bodies, `google.rpc.Status` errors, the gRPC code
//! mapped to an HTTP status, and `WWW-Authenticate` on 401.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;

use percent_encoding::percent_decode_str;

use super::{get_user_phone, response};
use crate::endpoint::{Refusal, Storage};
use crate::exports::user_phone::endpoint::wire::{Request, Response};
use crate::{Code, json, status};

const PREFIX: &str = "/management/v1/users/";
const SUFFIX: &str = "/phone";

/// Answers a request that is not gRPC.
pub fn handle(storage: &impl Storage, request: &Request) -> Response {
    let path = request.path.split(['?', '#']).next().unwrap_or_default();
    let Some(raw_id) = path
        .strip_prefix(PREFIX)
        .and_then(|p| p.strip_suffix(SUFFIX))
    else {
        return error(Code::NotFound, "Not Found", None);
    };
    if raw_id.contains('/') {
        return error(Code::NotFound, "Not Found", None);
    }
    if request.method != "GET" {
        // The gateway keeps 405 for a known path with another method.
        let mut answer = error(Code::Unimplemented, "Method Not Allowed", None);
        answer.status = 405;
        return answer;
    }
    let Ok(user_id) = percent_decode_str(raw_id).decode_utf8() else {
        let message = "type mismatch, parameter: user_id, error: invalid UTF-8";
        return error(Code::InvalidArgument, message, None);
    };

    match get_user_phone(storage, request, &user_id) {
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
