//! The wasmtime host of the user-phone component.
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
