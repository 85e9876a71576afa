//! gRPC-web, for browsers: the call of gRPC on the same path, with the status moved from
//! HTTP trailers, which browsers cannot read, into a last frame of the body flagged
//! `0x80` (PROTOCOL-WEB.md). The `-text` content types carry the body in base64 both
//! ways.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

use super::framing::{self, MESSAGE};
use super::grpc::{self, Reply, Status};
use crate::Code;
use crate::endpoint::Storage;
use crate::exports::user_phone::endpoint::wire::{Request, Response};

/// The flag of the frame that carries the trailers.
const TRAILERS: u8 = 0x80;

/// Reads a `-text` body: standard alphabet, padding optional, and bits after the last
/// byte ignored as Go's decoder ignores them.
const TEXT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Answers a gRPC-web request; `text` for the base64 variants. The answer has the
/// content type `content_type`.
pub fn handle(
    storage: &impl Storage,
    request: &Request,
    text: bool,
    content_type: String,
) -> Response {
    let decoded = text.then(|| decode_text(&request.body));
    let body = match &decoded {
        None => Ok(&request.body[..]),
        Some(Ok(bytes)) => Ok(&bytes[..]),
        Some(Err(status)) => Err(status.clone()),
    };
    shape(grpc::answer(storage, request, body), text, content_type)
}

/// The gRPC-web answer for a call the component could not run.
pub fn failure(text: bool, content_type: String, code: Code, message: &str) -> Response {
    shape(
        Reply::failed(Status::new(code, message)),
        text,
        content_type,
    )
}

/// The message frame, if any, then the trailer frame; in base64 for `text`.
fn shape(reply: Reply, text: bool, content_type: String) -> Response {
    let mut body = reply
        .message
        .map(|m| framing::frame(MESSAGE, &m))
        .unwrap_or_default();
    body.extend(framing::frame(
        TRAILERS,
        trailer_block(&reply.status.trailers()).as_bytes(),
    ));
    if text {
        body = STANDARD.encode(&body).into_bytes();
    }
    Response {
        status: reply.http_status,
        headers: vec![("content-type".to_string(), content_type)],
        body,
        trailers: Vec::new(),
    }
}

/// Trailers as the payload of the trailer frame: `name:value` lines ended by CRLF, names
/// in lower case.
fn trailer_block(trailers: &[(String, String)]) -> String {
    let mut block = String::new();
    for (name, value) in trailers {
        block.push_str(name);
        block.push(':');
        block.push_str(value);
        block.push_str("\r\n");
    }
    block
}

/// The bytes of a `-text` body. A client that streams sends its messages as separately
/// padded chunks one after the other, so padding may end a chunk in mid-body.
fn decode_text(body: &[u8]) -> Result<Vec<u8>, Status> {
    let mut decoded = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let mut start = 0;
    while start < body.len() {
        let end = start + chunk_len(&body[start..]);
        TEXT.decode_vec(&body[start..end], &mut decoded)
            .map_err(|error| {
                let offset = start + error_offset(&error, end - start);
                // Go's wording of a corrupt base64 input.
                Status::new(
                    Code::Internal,
                    format!("illegal base64 data at input byte {offset}"),
                )
            })?;
        start = end;
    }
    Ok(decoded)
}

/// The length of the chunk `bytes` starts with: up to and with its padding, or all.
fn chunk_len(bytes: &[u8]) -> usize {
    match bytes.iter().position(|&b| b == b'=') {
        None => bytes.len(),
        Some(pad) => pad + bytes[pad..].iter().take_while(|&&b| b == b'=').count(),
    }
}

/// Where in a chunk of `len` bytes decoding failed.
fn error_offset(error: &base64::DecodeError, len: usize) -> usize {
    match *error {
        base64::DecodeError::InvalidByte(offset, _)
        | base64::DecodeError::InvalidLastSymbol(offset, _) => offset,
        base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => len,
    }
}

#[cfg(test)]
mod tests {
    use alloc::borrow::ToOwned;

    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use prost::Message;

    use super::super::fixture::{self, PATH, Store, field, framed};
    use super::*;
    use crate::proto::google::rpc;
    use crate::proto::zitadel::management::v1::GetHumanPhoneResponse;

    fn call(content_type: &str, body: Vec<u8>) -> Response {
        let request = fixture::request("POST", PATH, content_type, &[], body);
        super::super::handle(&Store, &request)
    }

    /// The frames of a binary body: (flag, payload) each.
    fn frames(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while let Some((header, rest)) = body.split_first_chunk::<5>() {
            let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
            let (payload, rest) = rest.split_at(length as usize);
            frames.push((header[0], payload.to_vec()));
            body = rest;
        }
        frames
    }

    #[test]
    fn an_answer_is_the_message_frame_then_the_trailer_frame() {
        let answer = call("application/grpc-web+proto", framed("human"));
        assert_eq!(answer.status, 200);
        assert_eq!(
            field(&answer.headers, "content-type"),
            Some("application/grpc-web+proto")
        );
        assert!(
            answer.trailers.is_empty(),
            "gRPC-web sends no HTTP trailers"
        );

        let frames = frames(&answer.body);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].0, 0);
        let response = GetHumanPhoneResponse::decode(&*frames[0].1).unwrap();
        assert_eq!(response.phone.unwrap().phone, "+41 71 000 00 00");
        assert_eq!(frames[1], (0x80, b"grpc-status:0\r\n".to_vec()));
    }

    #[test]
    fn an_error_has_only_the_trailer_frame_with_every_status_trailer() {
        let answer = call("application/grpc-web", framed("nobody"));
        assert_eq!(
            field(&answer.headers, "content-type"),
            Some("application/grpc-web")
        );
        let frames = frames(&answer.body);
        assert_eq!(frames.len(), 1);
        let (flag, block) = &frames[0];
        assert_eq!(*flag, 0x80);
        let block = core::str::from_utf8(block).unwrap();
        let lines: Vec<&str> = block.split_terminator("\r\n").collect();
        assert_eq!(
            lines[..2],
            [
                "grpc-status:5",
                "grpc-message:User could not be found (QUERY-DAvb3)"
            ]
        );
        let bin = lines[2].strip_prefix("grpc-status-details-bin:").unwrap();
        let status = rpc::Status::decode(&*STANDARD_NO_PAD.decode(bin).unwrap()).unwrap();
        assert_eq!((status.code, status.details.len()), (5, 1));
        assert!(block.ends_with("\r\n"));
    }

    #[test]
    fn the_text_variant_reads_and_answers_base64() {
        let answer = call(
            "application/grpc-web-text",
            STANDARD.encode(framed("human")).into_bytes(),
        );
        assert_eq!(
            field(&answer.headers, "content-type"),
            Some("application/grpc-web-text")
        );
        let body = STANDARD
            .decode(&answer.body)
            .expect("the body is padded base64");
        let frames = frames(&body);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1], (0x80, b"grpc-status:0\r\n".to_vec()));
    }

    #[test]
    fn the_text_variant_reads_padded_chunks_one_after_another() {
        let frame = framed("human");
        let (first, second) = frame.split_at(4);
        let mut body = STANDARD.encode(first);
        body.push_str(&STANDARD.encode(second));
        assert!(
            body[..body.len() - 1].contains('='),
            "the first chunk ends in padding"
        );
        let answer = call("application/grpc-web-text+proto", body.into_bytes());
        assert_eq!(
            field(&answer.headers, "content-type"),
            Some("application/grpc-web-text+proto")
        );
        let body = STANDARD.decode(&answer.body).unwrap();
        assert_eq!(frames(&body)[1], (0x80, b"grpc-status:0\r\n".to_vec()));
    }

    #[test]
    fn the_text_variant_accepts_a_body_without_padding() {
        let body = STANDARD_NO_PAD.encode(framed("human")).into_bytes();
        let answer = call("application/grpc-web-text", body);
        let body = STANDARD.decode(&answer.body).unwrap();
        assert_eq!(frames(&body)[1], (0x80, b"grpc-status:0\r\n".to_vec()));
    }

    #[test]
    fn a_text_body_that_is_not_base64_is_internal() {
        let answer = call("application/grpc-web-text", b"AAAA*AAA".to_vec());
        let body = STANDARD.decode(&answer.body).unwrap();
        let expected = b"grpc-status:13\r\ngrpc-message:illegal base64 data at input byte 4\r\n";
        assert_eq!(frames(&body), [(0x80, expected.to_vec())]);
    }

    #[test]
    fn framing_errors_are_statuses_in_the_trailer_frame() {
        let answer = call("application/grpc-web", vec![0, 0, 0, 0, 9]);
        assert_eq!(
            frames(&answer.body),
            [(
                0x80,
                b"grpc-status:13\r\ngrpc-message:unexpected EOF\r\n".to_vec()
            )]
        );
    }

    #[test]
    fn a_failure_of_the_host_is_a_trailer_frame_in_the_requested_variant() {
        let answer = failure(
            true,
            "application/grpc-web-text".to_owned(),
            Code::Internal,
            "x",
        );
        let body = STANDARD.decode(&answer.body).unwrap();
        let expected = b"grpc-status:13\r\ngrpc-message:x\r\n";
        assert_eq!(frames(&body), [(0x80, expected.to_vec())]);
        assert!(answer.trailers.is_empty());
    }

    #[test]
    fn chunks_end_after_their_padding() {
        assert_eq!(chunk_len(b"AA==AAAA"), 4);
        assert_eq!(chunk_len(b"AAA=AA"), 4);
        assert_eq!(chunk_len(b"AAAA"), 4);
        assert_eq!(decode_text(b"AA==AAA=").unwrap(), [0, 0, 0]);
    }
}
