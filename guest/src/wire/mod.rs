//! The endpoint over HTTP: picks the encoding from the request, reads the call out of it,
//! and shapes the answer as ZITADEL's clients expect it. Hosts only move bytes.

mod rest;

use alloc::string::String;
use alloc::vec::Vec;

use crate::endpoint::{Header, Storage};
use crate::exports::user_phone::endpoint::wire::{Request, Response};

/// Answers one HTTP request.
pub fn handle(storage: &impl Storage, request: &Request) -> Response {
    rest::handle(storage, request)
}

/// The error answer for a request the component could not run: `code` and a fixed
/// `message`, in the encoding `content_type` asks for. Hosts call this natively when an
/// instance trapped, ran out of time, or could not be had.
pub fn failure(_content_type: Option<&str>, code: crate::Code, message: &str) -> Response {
    rest::error(code, message, None)
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

/// A response with a body and no trailers.
fn response(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
    Response { status, headers, body, trailers: Vec::new() }
}
