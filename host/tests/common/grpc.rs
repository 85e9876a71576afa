//! The scenario table's rows as gRPC and gRPC-web calls of `GetHumanPhone`: building the
//! call from a row's REST request, decoding any answer into an [`Outcome`], and the
//! outcome a row's REST expectation stands for. Shared by the tests that run the table
//! through the component directly and through the server.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of these helpers"
)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use percent_encoding::percent_decode_str;
use prost::Message;
use serde_json::Value;
use user_phone::bindings::wire::{Request, Response};
use user_phone::snapshot::parse_date;
use user_phone_guest::proto::google::rpc;
use user_phone_guest::proto::zitadel::management::v1::{
    GetHumanPhoneRequest, GetHumanPhoneResponse,
};
use user_phone_guest::proto::zitadel::user::v1::Phone;
use user_phone_guest::proto::zitadel::v1::{ErrorDetail, ObjectDetails};

/// The method's gRPC path.
pub const PATH: &str = "/zitadel.management.v1.ManagementService/GetHumanPhone";

/// The type URL of ZITADEL's error detail.
pub const ERROR_DETAIL: &str = "type.googleapis.com/zitadel.v1.ErrorDetail";

/// The flag of gRPC-web's trailer frame.
pub const TRAILERS: u8 = 0x80;

/// The encodings a row is sent in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    Grpc,
    GrpcWeb,
    GrpcWebText,
}

impl Variant {
    pub const ALL: [Self; 3] = [Self::Grpc, Self::GrpcWeb, Self::GrpcWebText];

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Grpc => "application/grpc",
            Self::GrpcWeb => "application/grpc-web+proto",
            Self::GrpcWebText => "application/grpc-web-text",
        }
    }
}

/// What a call came to, in the terms both REST and gRPC can state.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// The gRPC status number; 0 for success.
    pub code: i32,
    /// The status message, percent-decoded; empty for success.
    pub message: String,
    /// ZITADEL's error detail: id and text.
    pub detail: Option<(String, String)>,
    /// The response message of a success.
    pub response: Option<GetHumanPhoneResponse>,
}

/// The row's request as a call of the gRPC method: same headers (metadata), the id in a
/// framed `GetHumanPhoneRequest`.
pub fn grpc_request(rest: &Request, user_id: &str, variant: Variant) -> Request {
    let mut headers: Vec<(String, Vec<u8>)> = rest
        .headers
        .iter()
        .filter(|(name, _)| name != "content-type")
        .cloned()
        .collect();
    headers.push(("content-type".into(), variant.content_type().into()));
    let message = GetHumanPhoneRequest {
        user_id: user_id.into(),
    }
    .encode_to_vec();
    let mut body = frame(0, &message);
    if variant == Variant::GrpcWebText {
        body = STANDARD.encode(body).into_bytes();
    }
    Request {
        method: "POST".into(),
        path: PATH.into(),
        headers,
        body,
        now: rest.now,
    }
}

pub fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut framed = vec![flag];
    framed.extend(u32::try_from(payload.len()).unwrap().to_be_bytes());
    framed.extend(payload);
    framed
}

/// The frames of a body, as (flag, payload).
pub fn frames(mut body: &[u8]) -> Result<Vec<(u8, Vec<u8>)>, String> {
    let mut frames = Vec::new();
    while !body.is_empty() {
        let (header, rest) = body
            .split_first_chunk::<5>()
            .ok_or("a truncated frame header")?;
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let payload = rest.get(..length).ok_or("a truncated frame")?;
        frames.push((header[0], payload.to_vec()));
        body = &rest[length..];
    }
    Ok(frames)
}

/// Decodes the component's answer to a call in `variant`.
pub fn outcome(variant: Variant, answer: &Response) -> Result<Outcome, String> {
    if answer.status != 200 {
        return Err(format!("HTTP status {}", answer.status));
    }
    let content_type = answer.headers.iter().find(|(n, _)| n == "content-type");
    if content_type.map(|(_, v)| v.as_str()) != Some(variant.content_type()) {
        return Err(format!("content type {content_type:?}"));
    }
    let body = match variant {
        Variant::GrpcWebText => STANDARD.decode(&answer.body).map_err(|e| e.to_string())?,
        Variant::Grpc | Variant::GrpcWeb => answer.body.clone(),
    };
    let mut frames = frames(&body)?;
    let trailers = match variant {
        Variant::Grpc => answer.trailers.clone(),
        Variant::GrpcWeb | Variant::GrpcWebText => {
            if !answer.trailers.is_empty() {
                return Err("gRPC-web answered with HTTP trailers".into());
            }
            match frames.pop() {
                Some((TRAILERS, block)) => trailer_lines(&block)?,
                _ => return Err("no trailer frame at the end of the body".into()),
            }
        }
    };
    let response = match frames.as_slice() {
        [] => None,
        [(0, message)] => {
            Some(GetHumanPhoneResponse::decode(&message[..]).map_err(|e| e.to_string())?)
        }
        other => return Err(format!("unexpected frames {other:?}")),
    };
    status(&trailers, response)
}

/// The `name:value` lines of a trailer frame, names lower case.
pub fn trailer_lines(block: &[u8]) -> Result<Vec<(String, String)>, String> {
    let block = std::str::from_utf8(block).map_err(|e| e.to_string())?;
    let body = block
        .strip_suffix("\r\n")
        .ok_or("a trailer block not ended by CRLF")?;
    body.split("\r\n")
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or(format!("trailer line {line:?}"))?;
            if name != name.to_ascii_lowercase() {
                return Err(format!("trailer name {name:?} is not lower case"));
            }
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

/// The status the trailers carry, checked against its own `grpc-status-details-bin`.
pub fn status(
    trailers: &[(String, String)],
    response: Option<GetHumanPhoneResponse>,
) -> Result<Outcome, String> {
    let get = |name: &str| {
        trailers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let code: i32 = get("grpc-status")
        .ok_or("no grpc-status")?
        .parse()
        .map_err(|_| "grpc-status")?;
    let message = get("grpc-message").unwrap_or_default();
    let message = percent_decode_str(message)
        .decode_utf8()
        .map_err(|e| e.to_string())?
        .into_owned();
    let detail = match get("grpc-status-details-bin") {
        None => None,
        Some(bin) => {
            let bytes = STANDARD_NO_PAD
                .decode(bin)
                .map_err(|e| format!("details-bin: {e}"))?;
            let status = rpc::Status::decode(&bytes[..]).map_err(|e| e.to_string())?;
            if (status.code, status.message.as_str()) != (code, message.as_str()) {
                return Err(format!(
                    "details-bin disagrees with the trailers: {status:?}"
                ));
            }
            let [any] = &status.details[..] else {
                return Err(format!("{} details", status.details.len()));
            };
            if any.type_url != ERROR_DETAIL {
                return Err(format!("detail of type {}", any.type_url));
            }
            let detail = ErrorDetail::decode(&any.value[..]).map_err(|e| e.to_string())?;
            Some((detail.id, detail.message))
        }
    };
    Ok(Outcome {
        code,
        message,
        detail,
        response,
    })
}

/// The outcome a row's REST expectation stands for.
pub fn expected(expect: &Value) -> Outcome {
    let body = &expect["body"];
    if expect["status"] == 200 {
        return Outcome {
            code: 0,
            message: String::new(),
            detail: None,
            response: Some(response(body)),
        };
    }
    let text = |v: &Value| v.as_str().unwrap().to_string();
    let detail = body.get("details").and_then(|d| d.get(0));
    Outcome {
        code: i32::try_from(body["code"].as_i64().unwrap()).unwrap(),
        message: text(&body["message"]),
        detail: detail.map(|d| (text(&d["id"]), text(&d["message"]))),
        response: None,
    }
}

/// The `GetHumanPhoneResponse` a protojson body stands for.
pub fn response(body: &Value) -> GetHumanPhoneResponse {
    let details = &body["details"];
    let text = |v: &Value, name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let date = |name: &str| {
        details.get(name).map(|d| {
            let date = parse_date(d.as_str().unwrap()).unwrap();
            prost_types::Timestamp {
                seconds: date.seconds,
                nanos: i32::try_from(date.nanos).unwrap(),
            }
        })
    };
    GetHumanPhoneResponse {
        details: Some(ObjectDetails {
            sequence: details
                .get("sequence")
                .map_or(0, |s| s.as_str().unwrap().parse().unwrap()),
            creation_date: date("creationDate"),
            change_date: date("changeDate"),
            resource_owner: text(details, "resourceOwner"),
        }),
        phone: Some(Phone {
            phone: text(&body["phone"], "phone"),
            is_phone_verified: body["phone"].get("isPhoneVerified") == Some(&Value::Bool(true)),
        }),
    }
}
