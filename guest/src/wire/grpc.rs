//! gRPC over HTTP/2: `POST /zitadel.management.v1.ManagementService/GetHumanPhone` with a
//! length-prefixed `GetHumanPhoneRequest`, answered with the framed
//! `GetHumanPhoneResponse` and the status in the trailers.
//!
//! Everything before the endpoint runs follows grpc-go's server, in its order: the
//! transport refuses a method other than POST, the server looks the method up, refuses a
//! `grpc-encoding` it cannot decompress, reads exactly one message and decodes it. Only
//! then do ZITADEL's interceptors, here the endpoint, see the call. gRPC-web shares this
//! path and differs only in how the answer is put on the wire.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use prost::Message;
use prost_types::Any;

use super::framing::{self, MESSAGE};
use super::{Headers, get_user_phone};
use crate::endpoint::{Refusal, Storage};
use crate::exports::user_phone::endpoint::wire::{Request, Response};
use crate::proto::google::rpc;
use crate::proto::zitadel::management::v1::{GetHumanPhoneRequest, GetHumanPhoneResponse};
use crate::proto::zitadel::user::v1::Phone;
use crate::proto::zitadel::v1::{ErrorDetail, ObjectDetails};
use crate::{Code, Timestamp, User, json, status};

/// The service ZITADEL's management API is registered under.
const SERVICE: &str = "zitadel.management.v1.ManagementService";

/// The one method of the service this component serves.
const METHOD: &str = "GetHumanPhone";

/// Bytes `grpc-message` carries as they are: space and visible ASCII except `%`. The rest
/// is sent as `%XX` of its UTF-8, as PROTOCOL-HTTP2.md's `Percent-Encoded` requires.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// A gRPC status: the code, the message, and ZITADEL's error detail when the error has
/// an id.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The status code.
    pub code: Code,
    /// The message, as sent in `grpc-message` before percent-encoding.
    pub message: String,
    /// The detail sent in `grpc-status-details-bin`.
    pub detail: Option<ErrorDetail>,
}

impl Status {
    /// A status without detail.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// A refused call, worded exactly as the REST body words it: `<text> (<id>)` and the
    /// detail `{id, text}` when the failure has an id.
    fn refused(refusal: &Refusal) -> Self {
        let text = refusal.failure.text(refusal.language);
        let code = refusal.failure.code();
        match refusal.failure.id() {
            Some(id) => Self {
                code,
                message: format!("{text} ({id})"),
                detail: Some(ErrorDetail {
                    id: id.to_string(),
                    message: text.into_owned(),
                }),
            },
            None => Self::new(code, text),
        }
    }

    /// The trailers that carry the status: `grpc-status`, and for an error with a message
    /// `grpc-message` and, with a detail, `grpc-status-details-bin`.
    pub fn trailers(&self) -> Vec<(String, String)> {
        let mut trailers = vec![(
            "grpc-status".to_string(),
            status::number(self.code).to_string(),
        )];
        if !self.message.is_empty() {
            trailers.push(("grpc-message".to_string(), percent_encode(&self.message)));
        }
        if let Some(detail) = &self.detail {
            trailers.push((
                "grpc-status-details-bin".to_string(),
                self.details_bin(detail),
            ));
        }
        trailers
    }

    /// The whole status as `google.rpc.Status`, unpadded standard base64, as grpc-go sends
    /// every `-bin` metadata value.
    fn details_bin(&self, detail: &ErrorDetail) -> String {
        let any = Any {
            type_url: json::ERROR_DETAIL_TYPE.to_string(),
            value: detail.encode_to_vec(),
        };
        let status = rpc::Status {
            code: status::number(self.code),
            message: self.message.clone(),
            details: vec![any],
        };
        STANDARD_NO_PAD.encode(status.encode_to_vec())
    }
}

/// A call's outcome before it is put on the wire.
pub struct Reply {
    /// The HTTP status: 200 but for a request the transport refuses.
    pub http_status: u16,
    /// The encoded response message, when the call succeeded.
    pub message: Option<Vec<u8>>,
    /// The call's status.
    pub status: Status,
}

impl Reply {
    /// A call that ended in `status` without a response message.
    pub fn failed(status: Status) -> Self {
        Self {
            http_status: 200,
            message: None,
            status,
        }
    }
}

/// Answers a gRPC request whose answer has the content type `content_type`.
pub fn handle(storage: &impl Storage, request: &Request, content_type: String) -> Response {
    shape(answer(storage, request, Ok(&request.body)), content_type)
}

/// The gRPC answer for a call the component could not run.
pub fn failure(content_type: String, code: Code, message: &str) -> Response {
    shape(Reply::failed(Status::new(code, message)), content_type)
}

/// Runs the call `request` stands for; `body` is its body, or why it could not be read.
pub fn answer(storage: &impl Storage, request: &Request, body: Result<&[u8], Status>) -> Reply {
    match call(storage, request, body) {
        Ok(user) => Reply {
            http_status: 200,
            message: Some(response(user).encode_to_vec()),
            status: Status::new(Code::Ok, ""),
        },
        Err(reply) => reply,
    }
}

fn call(
    storage: &impl Storage,
    request: &Request,
    body: Result<&[u8], Status>,
) -> Result<User, Reply> {
    if request.method != "POST" {
        // grpc-go's HTTP/2 transport aborts such a stream with 405 and Internal.
        let method = go_quoted(&request.method);
        let message =
            format!("Received a HEADERS frame with :method {method} which should be POST");
        return Err(Reply {
            http_status: 405,
            ..Reply::failed(Status::new(Code::Internal, message))
        });
    }
    route(&request.path).map_err(Reply::failed)?;

    // Refused before the body is read, whatever the flag of the message says.
    let encoding = Headers::new(&request.headers).joined("grpc-encoding");
    if let Some(encoding) = encoding.filter(|e| !e.is_empty() && e != "identity") {
        let encoding = go_quoted(&encoding);
        let message = format!("grpc: Decompressor is not installed for grpc-encoding {encoding}");
        return Err(Reply::failed(Status::new(Code::Unimplemented, message)));
    }

    let message = body.and_then(read_request).map_err(Reply::failed)?;
    get_user_phone(storage, request, &message.user_id)
        .map_err(|refusal| Reply::failed(Status::refused(&refusal)))
}

/// Finds the method of `path` (`/service/method`) as grpc-go's `handleStream` does.
fn route(path: &str) -> Result<(), Status> {
    let name = path.strip_prefix('/').unwrap_or(path);
    let Some((service, method)) = name.rsplit_once('/') else {
        return Err(Status::new(
            Code::Unimplemented,
            format!("malformed method name: {}", go_quoted(path)),
        ));
    };
    match (service, method) {
        (SERVICE, METHOD) => Ok(()),
        (SERVICE, _) => Err(Status::new(
            Code::Unimplemented,
            format!("unknown method {method} for service {service}"),
        )),
        _ => Err(Status::new(
            Code::Unimplemented,
            format!("unknown service {service}"),
        )),
    }
}

/// The one request message of a unary call. grpc-go decodes the first message before it
/// looks for a second, and words each cardinality violation on its own.
fn read_request(body: &[u8]) -> Result<GetHumanPhoneRequest, Status> {
    let Some((payload, rest)) = framing::next_message(body)? else {
        let message = "cardinality violation: received no request message from \
                       non-client-streaming RPC";
        return Err(Status::new(Code::Internal, message));
    };
    let request = decode(payload).map_err(|why| {
        Status::new(
            Code::Internal,
            format!("grpc: error unmarshalling request: {why}"),
        )
    })?;
    if let Some((extra, _)) = framing::next_message(rest)? {
        decode(extra).map_err(|why| {
            let message = format!("grpc: failed to unmarshal the received message: {why}");
            Status::new(Code::Internal, message)
        })?;
        let message = "cardinality violation: received multiple request messages for \
                       non-client-streaming RPC";
        return Err(Status::new(Code::Internal, message));
    }
    Ok(request)
}

/// The request message, or Go's protobuf runtime's words for why it is not one.
fn decode(payload: &[u8]) -> Result<GetHumanPhoneRequest, &'static str> {
    GetHumanPhoneRequest::decode(payload).map_err(|_| {
        // Go tells a malformed message from a string that is not UTF-8; a payload that
        // parses with the id read as bytes failed on UTF-8 alone.
        if RawRequest::decode(payload).is_ok() {
            "string field contains invalid UTF-8"
        } else {
            "proto: cannot parse invalid wire-format data"
        }
    })
}

/// `GetHumanPhoneRequest` with `user_id` as bytes: the same wire format, without the UTF-8
/// check, to tell why a payload failed to decode.
#[derive(Clone, PartialEq, Message)]
struct RawRequest {
    #[prost(bytes = "vec", tag = "1")]
    user_id: Vec<u8>,
}

/// The `GetHumanPhoneResponse` of a found human.
fn response(user: User) -> GetHumanPhoneResponse {
    GetHumanPhoneResponse {
        details: Some(ObjectDetails {
            sequence: user.sequence,
            creation_date: user.creation_date.map(timestamp),
            change_date: user.change_date.map(timestamp),
            resource_owner: user.resource_owner,
        }),
        phone: Some(Phone {
            phone: user.phone,
            is_phone_verified: user.is_phone_verified,
        }),
    }
}

fn timestamp(ts: Timestamp) -> prost_types::Timestamp {
    // Lossless: the endpoint answers Internal for a date whose nanos reach one second.
    prost_types::Timestamp {
        seconds: ts.seconds,
        nanos: ts.nanos as i32,
    }
}

/// `value` as Go's `%q` prints it, for the messages grpc-go words with it: in double
/// quotes, with quotes, backslashes and ASCII control characters escaped. Go also escapes
/// the few non-ASCII characters Unicode deems unprintable; they pass through here, which
/// spares the component Unicode's tables for text no client inspects.
fn go_quoted(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\x07' => "\\a",
            '\x08' => "\\b",
            '\x0c' => "\\f",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\x0b' => "\\v",
            c if c.is_ascii_control() => {
                let byte = c as u8;
                quoted.push_str("\\x");
                quoted.push(HEX[usize::from(byte >> 4)] as char);
                quoted.push(HEX[usize::from(byte & 0xf)] as char);
                continue;
            }
            c => {
                quoted.push(c);
                continue;
            }
        };
        quoted.push_str(escape);
    }
    quoted.push('"');
    quoted
}

/// `message` as `grpc-message` carries it.
pub fn percent_encode(message: &str) -> String {
    utf8_percent_encode(message, GRPC_MESSAGE).to_string()
}

/// The HTTP/2 answer: the framed message in the body, the status in the trailers.
fn shape(reply: Reply, content_type: String) -> Response {
    Response {
        status: reply.http_status,
        headers: vec![("content-type".to_string(), content_type)],
        body: reply
            .message
            .map(|m| framing::frame(MESSAGE, &m))
            .unwrap_or_default(),
        trailers: reply.status.trailers(),
    }
}

#[cfg(test)]
mod tests {
    use alloc::borrow::ToOwned;

    use super::super::fixture::{self, PATH, Store, field, framed};
    use super::*;

    fn call(method: &str, path: &str, extra: &[(&str, &str)], body: Vec<u8>) -> Response {
        let request = fixture::request(method, path, "application/grpc", extra, body);
        super::super::handle(&Store, &request)
    }

    /// `grpc-status` and `grpc-message` of an answer.
    fn status_of(answer: &Response) -> (&str, Option<&str>) {
        let status = field(&answer.trailers, "grpc-status").expect("every answer has a status");
        (status, field(&answer.trailers, "grpc-message"))
    }

    #[test]
    fn a_found_human_is_answered_with_the_framed_response_and_status_zero() {
        let answer = call("POST", PATH, &[], framed("human"));
        assert_eq!(answer.status, 200);
        assert_eq!(
            field(&answer.headers, "content-type"),
            Some("application/grpc")
        );
        assert_eq!(
            answer.trailers,
            [("grpc-status".to_owned(), "0".to_owned())]
        );

        let (payload, rest) = framing::next_message(&answer.body).unwrap().unwrap();
        assert!(rest.is_empty());
        let date = Some(prost_types::Timestamp {
            seconds: 1_742_898_527,
            nanos: 419_000_000,
        });
        let expected = GetHumanPhoneResponse {
            details: Some(ObjectDetails {
                sequence: 2,
                creation_date: date,
                change_date: date,
                resource_owner: "org".to_owned(),
            }),
            phone: Some(Phone {
                phone: "+41 71 000 00 00".to_owned(),
                is_phone_verified: true,
            }),
        };
        assert_eq!(GetHumanPhoneResponse::decode(payload).unwrap(), expected);
    }

    #[test]
    fn a_refusal_with_an_id_carries_message_and_error_detail() {
        let answer = call("POST", PATH, &[], framed("nobody"));
        assert_eq!(answer.status, 200);
        assert!(answer.body.is_empty());
        assert_eq!(
            status_of(&answer),
            ("5", Some("User could not be found (QUERY-DAvb3)"))
        );

        let bin = field(&answer.trailers, "grpc-status-details-bin").unwrap();
        assert!(!bin.ends_with('='), "-bin values are sent unpadded");
        let status = rpc::Status::decode(&*STANDARD_NO_PAD.decode(bin).unwrap()).unwrap();
        let detail = ErrorDetail {
            id: "QUERY-DAvb3".to_owned(),
            message: "User could not be found".to_owned(),
        };
        let expected = rpc::Status {
            code: 5,
            message: "User could not be found (QUERY-DAvb3)".to_owned(),
            details: vec![Any {
                type_url: "type.googleapis.com/zitadel.v1.ErrorDetail".to_owned(),
                value: detail.encode_to_vec(),
            }],
        };
        assert_eq!(status, expected);
    }

    #[test]
    fn a_refusal_without_an_id_sends_no_status_details() {
        let mut request = fixture::request("POST", PATH, "application/grpc", &[], framed("human"));
        request.headers.retain(|(name, _)| name != "authorization");
        let answer = super::super::handle(&Store, &request);
        assert_eq!(status_of(&answer), ("16", Some("auth header missing")));
        assert_eq!(field(&answer.trailers, "grpc-status-details-bin"), None);
    }

    #[test]
    fn a_machine_is_failed_precondition_and_an_empty_id_invalid_argument() {
        let answer = call("POST", PATH, &[], framed("machine"));
        assert_eq!(
            status_of(&answer),
            ("9", Some("The User must be personal (QUERY-hliQl)"))
        );
        let answer = call("POST", PATH, &[], framed(""));
        let message = "invalid GetHumanPhoneRequest.UserId: value length must be between 1 and \
                       200 runes, inclusive";
        assert_eq!(status_of(&answer), ("3", Some(message)));
    }

    #[test]
    fn grpc_message_percent_encodes_percent_controls_and_non_ascii() {
        assert_eq!(
            percent_encode("plain text (ID-1) ~!"),
            "plain text (ID-1) ~!"
        );
        assert_eq!(percent_encode("100%"), "100%25");
        assert_eq!(percent_encode("a\r\nb\t\u{7f}"), "a%0D%0Ab%09%7F");
        assert_eq!(
            percent_encode("Benutzer konnte nicht gefunden werden ü"),
            "Benutzer konnte nicht gefunden werden %C3%BC"
        );
        assert_eq!(
            percent_encode("ユーザー"),
            "%E3%83%A6%E3%83%BC%E3%82%B6%E3%83%BC"
        );
    }

    #[test]
    fn values_in_messages_are_quoted_as_go_quotes_them() {
        assert_eq!(go_quoted("GET"), "\"GET\"");
        assert_eq!(go_quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quoted("\t\n\0\x1b\x7f"), "\"\\t\\n\\x00\\x1b\\x7f\"");
        assert_eq!(go_quoted("gzip, ü"), "\"gzip, ü\"");
    }

    #[test]
    fn a_translated_message_is_sent_percent_encoded() {
        let answer = call("POST", PATH, &[("accept-language", "fr")], framed("nobody"));
        let message = "L'utilisateur n'a pas %C3%A9t%C3%A9 trouv%C3%A9 (QUERY-DAvb3)";
        assert_eq!(status_of(&answer), ("5", Some(message)));
    }

    #[test]
    fn an_empty_body_is_a_missing_request_message() {
        let answer = call("POST", PATH, &[], Vec::new());
        let message = "cardinality violation: received no request message from \
                       non-client-streaming RPC";
        assert_eq!(status_of(&answer), ("13", Some(message)));
    }

    #[test]
    fn a_truncated_frame_is_an_unexpected_eof() {
        let mut body = framed("human");
        body.pop();
        for body in [body, vec![0, 0, 0]] {
            let answer = call("POST", PATH, &[], body);
            assert_eq!(status_of(&answer), ("13", Some("unexpected EOF")));
        }
    }

    #[test]
    fn a_second_request_message_is_a_cardinality_violation() {
        let mut body = framed("human");
        body.extend(framed("machine"));
        let answer = call("POST", PATH, &[], body);
        let message = "cardinality violation: received multiple request messages for \
                       non-client-streaming RPC";
        assert_eq!(status_of(&answer), ("13", Some(message)));
        assert!(answer.body.is_empty());
    }

    #[test]
    fn a_malformed_second_message_fails_to_unmarshal() {
        let mut body = framed("human");
        body.extend(framing::frame(MESSAGE, &[0x0a, 0x05]));
        let answer = call("POST", PATH, &[], body);
        let message = "grpc: failed to unmarshal the received message: proto: cannot parse \
                       invalid wire-format data";
        assert_eq!(status_of(&answer), ("13", Some(message)));
    }

    #[test]
    fn a_payload_that_is_not_protobuf_is_internal_and_decoded_before_authentication() {
        let mut request = fixture::request(
            "POST",
            PATH,
            "application/grpc",
            &[],
            framing::frame(0, &[0x0a, 9]),
        );
        request.headers.retain(|(name, _)| name != "authorization");
        let answer = super::super::handle(&Store, &request);
        let message = "grpc: error unmarshalling request: proto: cannot parse invalid \
                       wire-format data";
        assert_eq!(status_of(&answer), ("13", Some(message)));
    }

    #[test]
    fn a_user_id_that_is_not_utf8_is_internal() {
        let answer = call("POST", PATH, &[], framing::frame(0, &[0x0a, 2, 0xc3, 0x28]));
        let message = "grpc: error unmarshalling request: string field contains invalid UTF-8";
        assert_eq!(status_of(&answer), ("13", Some(message)));
    }

    #[test]
    fn unknown_fields_of_the_request_are_ignored() {
        let mut message = GetHumanPhoneRequest {
            user_id: "human".to_owned(),
        }
        .encode_to_vec();
        message.extend([0x10, 0x01]);
        let answer = call("POST", PATH, &[], framing::frame(0, &message));
        assert_eq!(status_of(&answer), ("0", None));
    }

    #[test]
    fn a_compressed_frame_without_encoding_is_internal() {
        let body = framing::frame(1, &framed("human")[framing::HEADER_LEN..]);
        let message = "grpc: compressed flag set with identity or empty encoding";
        for extra in [&[][..], &[("grpc-encoding", "identity")]] {
            let answer = call("POST", PATH, extra, body.clone());
            assert_eq!(status_of(&answer), ("13", Some(message)), "{extra:?}");
        }
    }

    #[test]
    fn an_encoding_the_component_cannot_decompress_is_unimplemented() {
        let body = framing::frame(1, b"compressed");
        let answer = call("POST", PATH, &[("grpc-encoding", "gzip")], body);
        let message = "grpc: Decompressor is not installed for grpc-encoding \"gzip\"";
        assert_eq!(status_of(&answer), ("12", Some(message)));
        // grpc-go refuses the encoding before it reads the message at all.
        let answer = call("POST", PATH, &[("grpc-encoding", "gzip")], framed("human"));
        assert_eq!(status_of(&answer), ("12", Some(message)));
    }

    #[test]
    fn unknown_methods_and_services_are_unimplemented() {
        let cases = [
            (
                "/zitadel.management.v1.ManagementService/GetHumanEmail",
                "unknown method GetHumanEmail for service zitadel.management.v1.ManagementService",
            ),
            (
                "/zitadel.admin.v1.AdminService/Healthz",
                "unknown service zitadel.admin.v1.AdminService",
            ),
            (
                "/management/v1/users/human/phone",
                "unknown service management/v1/users/human",
            ),
            (
                "/GetHumanPhone",
                "malformed method name: \"/GetHumanPhone\"",
            ),
        ];
        for (path, message) in cases {
            let answer = call("POST", path, &[], framed("human"));
            assert_eq!(status_of(&answer), ("12", Some(message)), "{path}");
        }
    }

    #[test]
    fn a_method_other_than_post_is_refused_by_the_transport() {
        let answer = call("GET", PATH, &[], Vec::new());
        assert_eq!(answer.status, 405);
        let message = "Received a HEADERS frame with :method \"GET\" which should be POST";
        assert_eq!(status_of(&answer), ("13", Some(message)));
    }

    #[test]
    fn a_failure_of_the_host_is_a_status_in_the_trailers() {
        let answer = failure(
            "application/grpc+proto".to_owned(),
            Code::DeadlineExceeded,
            "late",
        );
        assert_eq!(answer.status, 200);
        assert_eq!(
            field(&answer.headers, "content-type"),
            Some("application/grpc+proto")
        );
        assert!(answer.body.is_empty());
        assert_eq!(status_of(&answer), ("4", Some("late")));
    }
}
