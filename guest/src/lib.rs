//! The user-phone component: ZITADEL's management API method "Get User Phone (Human)"
//! (`GET /management/v1/users/{userId}/phone`, gRPC `GetHumanPhone`) as a WebAssembly
//! component.
//!
//! The component holds the endpoint's whole behaviour: instance resolution,
//! authentication, organization scoping, permissions, validation, the lookup, and answers
//! shaped exactly as ZITADEL's clients expect them. The host supplies storage through the
//! imported `user-phone:endpoint/storage` interface (see `wit/user-phone.wit`) and nothing
//! else: built for `wasm32-wasip2` without the standard library, the component imports no
//! `wasi:*` interface at all.
//!
//! The same logic compiles natively, behind the [`endpoint::Storage`] trait, so that it
//! can be unit-tested, fuzzed and measured without a WebAssembly runtime.

#![cfg_attr(target_arch = "wasm32", no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub mod authz;
pub mod endpoint;
pub mod failure;
pub mod i18n;
pub mod json;
pub mod proto;
pub mod status;
pub mod wire;

#[expect(
    missing_docs,
    reason = "generated from the WIT, whose items are documented there"
)]
mod bindings {
    wit_bindgen::generate!({ world: "endpoint", path: "../wit" });
}

pub use bindings::exports;
pub use bindings::user_phone::endpoint::types::*;

#[cfg(target_arch = "wasm32")]
mod component {
    //! The glue that makes the crate a component: allocator, panic handler, the imported
    //! storage behind [`Storage`], and the two exports.

    use alloc::string::String;
    use alloc::vec::Vec;

    use crate::bindings::exports::user_phone::endpoint::{lookup, wire};
    use crate::bindings::user_phone::endpoint::storage;
    use crate::endpoint::{self, Call, Header, Storage};
    use crate::{Instance, Membership, Org, StorageError, Token, User};

    // `core` calls `memcmp`, `memcpy` and friends, which the standard library would take
    // from wasi-libc. Linking wasi-libc's `libc.a` from the toolchain supplies them; they
    // are pure functions and bring no import.
    #[link(name = "c")]
    unsafe extern "C" {}

    #[global_allocator]
    static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

    /// The canonical ABI's allocator, through which the host copies arguments into the
    /// component. wit-bindgen leaves it to the standard library on this target, so a
    /// `no_std` component exports its own.
    ///
    /// # Safety
    ///
    /// Called by the host per the canonical ABI: `old_ptr` and `old_len` describe a block
    /// this function returned before (or are null and 0), `align` is a power of two.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn cabi_realloc(
        old_ptr: *mut u8,
        old_len: usize,
        align: usize,
        new_len: usize,
    ) -> *mut u8 {
        use alloc::alloc::{Layout, alloc, realloc};

        if new_len == 0 {
            return align as *mut u8;
        }
        // SAFETY: the canonical ABI guarantees a power-of-two `align` and, for a non-null
        // `old_ptr`, the layout the block was allocated with.
        let ptr = unsafe {
            if old_ptr.is_null() || old_len == 0 {
                alloc(Layout::from_size_align_unchecked(new_len, align))
            } else {
                realloc(
                    old_ptr,
                    Layout::from_size_align_unchecked(old_len, align),
                    new_len,
                )
            }
        };
        if ptr.is_null() {
            // Out of memory: the host's memory cap was reached; the call traps.
            core::arch::wasm32::unreachable()
        }
        ptr
    }

    // No input reaches a panic; should a bug do so anyway, the host sees a trap and answers
    // Internal for this call alone.
    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        core::arch::wasm32::unreachable()
    }

    /// The host's storage, through the component's imports.
    struct Imported;

    impl Storage for Imported {
        fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageError> {
            storage::find_instance(domain)
        }

        fn find_token(&self, instance: &str, sha256: &[u8]) -> Result<Option<Token>, StorageError> {
            storage::find_token(instance, sha256)
        }

        fn find_org(&self, instance: &str, org_id: &str) -> Result<Option<Org>, StorageError> {
            storage::find_org(instance, org_id)
        }

        fn list_memberships(
            &self,
            instance: &str,
            user_id: &str,
        ) -> Result<Vec<Membership>, StorageError> {
            storage::list_memberships(instance, user_id)
        }

        fn find_user(&self, instance: &str, user_id: &str) -> Result<Option<User>, StorageError> {
            storage::find_user(instance, user_id)
        }
    }

    struct Component;

    impl lookup::Guest for Component {
        fn get_user_phone(
            caller: lookup::Caller,
            user_id: String,
        ) -> Result<lookup::UserPhone, lookup::Error> {
            let call = Call {
                host: Header::Value(&caller.host),
                authorization: Header::from_option(caller.authorization.as_deref()),
                org_id: Header::from_option(caller.org_id.as_deref()),
                accept_language: caller.accept_language.as_deref(),
                now: caller.now,
                user_id: &user_id,
            };
            endpoint::get_user_phone(&Imported, &call)
                .map(crate::typed::user_phone)
                .map_err(|refusal| crate::typed::error(&refusal))
        }
    }

    impl wire::Guest for Component {
        fn handle(request: wire::Request) -> wire::Response {
            crate::wire::handle(&Imported, &request)
        }
    }

    crate::bindings::export!(Component with_types_in crate::bindings);
}

pub mod typed;
