//! The wasmtime host of the user-phone component: the library an embedder links, behind
//! the `user-phone` command.
//!
//! [`Runtime`] compiles the component once (or loads it from its cache), links the
//! storage the embedder supplies, and runs every call in a fresh instance from the
//! pooling allocator, under a memory cap and a deadline: a trap, an exceeded cap or a
//! missed deadline becomes an error answer for that call alone. A store is anything that
//! implements [`Storage`]; [`MemoryStore`] holds a snapshot in memory and [`SqliteStore`]
//! keeps it in a database. [`server`] serves the wire export over HTTP.
//!
//! The whole embedding, both exports:
//!
//! ```
//! use std::sync::Arc;
//!
//! use user_phone::bindings::lookup::Caller;
//! use user_phone::bindings::types::Timestamp;
//! use user_phone::bindings::wire::Request;
//! use user_phone::{MemoryStore, Runtime, RuntimeConfig, Storage};
//!
//! # fn main() -> anyhow::Result<()> {
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! // The demo data shipped in `host/data/`, in the snapshot format.
//! let snapshot = std::fs::read_to_string("data/demo.json")?;
//! let store: Arc<dyn Storage> = Arc::new(MemoryStore::from_json(&snapshot)?);
//! let now = Timestamp { seconds: 1_780_000_000, nanos: 0 };
//!
//! // The typed export: the caller and the (already percent-decoded) user id.
//! let caller = Caller {
//!     host: "localhost".into(),
//!     authorization: Some("Bearer demo-bot-token".into()),
//!     org_id: None,
//!     accept_language: Some("de-CH, en;q=0.5".into()),
//!     now,
//! };
//! match runtime.get_user_phone(store.clone(), &caller, "69629026806489455") {
//!     Ok(found) => println!("{} {}", found.phone.phone, found.phone.is_phone_verified),
//!     Err(error) => println!("{:?} {:?} {}", error.code, error.id, error.message),
//! }
//!
//! // The wire export: an HTTP request in, the response to send out.
//! let request = Request {
//!     method: "GET".into(),
//!     path: "/management/v1/users/69629026806489455/phone".into(),
//!     headers: vec![
//!         ("host".into(), b"localhost".to_vec()),
//!         ("authorization".into(), b"Bearer demo-bot-token".to_vec()),
//!     ],
//!     body: Vec::new(),
//!     now,
//! };
//! let answer = runtime.handle(store, &request);
//! println!("{} {}", answer.status, String::from_utf8_lossy(&answer.body));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod bindings;
pub mod memory;
pub mod runtime;
pub mod server;
pub mod snapshot;
pub mod sqlite;
pub mod storage;

pub use memory::MemoryStore;
pub use runtime::{Runtime, RuntimeConfig};
pub use snapshot::{Snapshot, SnapshotError};
pub use sqlite::SqliteStore;
pub use storage::{Storage, StorageFault};
