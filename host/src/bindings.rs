//! Rust types and call glue generated from `wit/user-phone.wit`; the WIT documents every
//! item.

#[expect(
    missing_docs,
    reason = "generated from the WIT, whose items are documented there"
)]
mod generated {
    wasmtime::component::bindgen!({
        world: "endpoint",
        path: "../wit",
        additional_derives: [PartialEq],
    });
}

pub use generated::exports::user_phone::endpoint::{lookup, wire};
pub use generated::user_phone::endpoint::{storage, types};
pub use generated::{Endpoint, EndpointPre};
