//! gRPC's length-prefixed messages, shared by gRPC and gRPC-web: a flag byte, a 4-byte
//! big-endian length, then that many bytes. Reading follows grpc-go's receive path
//! (`parser.recvMsg`, then `checkRecvPayload`), so a malformed body gets the status
//! grpc-go would answer, in the same order of checks.

use alloc::format;
use alloc::vec::Vec;

use super::grpc::Status;
use crate::Code;

/// The flag byte and the length before every message.
pub const HEADER_LEN: usize = 5;

/// The flag of an uncompressed message.
pub const MESSAGE: u8 = 0;

/// The flag of a compressed message.
const COMPRESSED: u8 = 1;

/// grpc-go's default limit on a received message (`defaultServerMaxReceiveMessageSize`).
pub const MAX_MESSAGE_LEN: usize = 4 << 20;

/// `payload` behind a header with `flag`.
pub fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    // Answers are a few hundred bytes; a length that does not fit is a bug upstream.
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut framed = Vec::with_capacity(HEADER_LEN + payload.len());
    framed.push(flag);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(payload);
    framed
}

/// A message's payload and the bytes that follow the message.
pub type Split<'a> = (&'a [u8], &'a [u8]);

/// The first message of `body` and what follows it; `None` when `body` is empty. The
/// length is checked against the limit before the payload is looked for, and the flag
/// only once the whole message is there, as grpc-go does.
pub fn next_message(body: &[u8]) -> Result<Option<Split<'_>>, Status> {
    if body.is_empty() {
        return Ok(None);
    }
    let Some((header, rest)) = body.split_first_chunk::<HEADER_LEN>() else {
        return Err(unexpected_eof());
    };
    let [flag, length @ ..] = *header;
    // Lossless: usize is at least 32 bits on every target the crate builds for.
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_MESSAGE_LEN {
        let message =
            format!("grpc: received message larger than max ({length} vs. {MAX_MESSAGE_LEN})");
        return Err(Status::new(Code::ResourceExhausted, message));
    }
    let Some(payload) = rest.get(..length) else {
        return Err(unexpected_eof());
    };
    match flag {
        MESSAGE => Ok(Some((payload, &rest[length..]))),
        // The component decompresses nothing, and any `grpc-encoding` but identity was
        // refused before the body was read: a compressed message cannot be understood.
        COMPRESSED => Err(Status::new(
            Code::Internal,
            "grpc: compressed flag set with identity or empty encoding",
        )),
        other => Err(Status::new(
            Code::Internal,
            format!("grpc: received unexpected payload format {other}"),
        )),
    }
}

/// A body that ends inside a message: grpc-go's server stream maps `io.ErrUnexpectedEOF`
/// to Internal with Go's text for it.
fn unexpected_eof() -> Status {
    Status::new(Code::Internal, "unexpected EOF")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_and_message(
        result: Result<Option<Split<'_>>, Status>,
    ) -> (Code, alloc::string::String) {
        let status = result.expect_err("the body is malformed");
        (status.code, status.message)
    }

    #[test]
    fn a_frame_is_flag_then_big_endian_length_then_payload() {
        assert_eq!(frame(0, b"abc"), [0, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(frame(0x80, &[]), [0x80, 0, 0, 0, 0]);
        assert_eq!(frame(0, &[7; 300])[..HEADER_LEN], [0, 0, 0, 1, 44]);
    }

    #[test]
    fn a_message_is_read_and_the_rest_returned() {
        let mut body = frame(0, b"first");
        body.extend(frame(0, b"second"));
        let (first, rest) = next_message(&body).unwrap().unwrap();
        assert_eq!(first, b"first");
        assert_eq!(
            next_message(rest).unwrap().unwrap(),
            (&b"second"[..], &b""[..])
        );
    }

    #[test]
    fn an_empty_message_is_a_message() {
        assert_eq!(
            next_message(&[0, 0, 0, 0, 0]).unwrap(),
            Some((&b""[..], &b""[..]))
        );
    }

    #[test]
    fn an_empty_body_has_no_message() {
        assert_eq!(next_message(&[]).unwrap(), None);
    }

    #[test]
    fn a_body_shorter_than_a_header_is_an_unexpected_eof() {
        for body in [&[0][..], &[0, 0, 0, 0]] {
            let expected = (Code::Internal, "unexpected EOF".into());
            assert_eq!(code_and_message(next_message(body)), expected, "{body:?}");
        }
    }

    #[test]
    fn a_length_beyond_the_bytes_present_is_an_unexpected_eof() {
        let body = [0, 0, 0, 0, 4, 1, 2, 3];
        assert_eq!(
            code_and_message(next_message(&body)),
            (Code::Internal, "unexpected EOF".into())
        );
    }

    #[test]
    fn a_length_beyond_the_limit_is_resource_exhausted_before_the_payload_is_missed() {
        let body = [0, 0, 0x40, 0, 1];
        let expected = (
            Code::ResourceExhausted,
            "grpc: received message larger than max (4194305 vs. 4194304)".into(),
        );
        assert_eq!(code_and_message(next_message(&body)), expected);
    }

    #[test]
    fn a_compressed_message_is_internal() {
        let expected = (
            Code::Internal,
            "grpc: compressed flag set with identity or empty encoding".into(),
        );
        assert_eq!(code_and_message(next_message(&frame(1, b"x"))), expected);
    }

    #[test]
    fn an_unknown_flag_is_internal() {
        let expected = (
            Code::Internal,
            "grpc: received unexpected payload format 2".into(),
        );
        assert_eq!(code_and_message(next_message(&frame(2, b"x"))), expected);
    }

    #[test]
    fn a_truncated_compressed_message_is_an_unexpected_eof_first() {
        let body = [1, 0, 0, 0, 9, 1];
        assert_eq!(
            code_and_message(next_message(&body)),
            (Code::Internal, "unexpected EOF".into())
        );
    }
}
