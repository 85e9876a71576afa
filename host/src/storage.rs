//! The storage an embedder supplies, and the one place where its failures become the
//! component's `storage-error`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::bindings::types::{Instance, Membership, Org, StorageError, Token, User};
use crate::bindings::{storage, types};

/// A failed storage call, with its cause for the host's log. The component only learns
/// the kind; the cause never reaches it or a client.
#[derive(Debug)]
pub struct StorageFault {
    kind: StorageError,
    cause: anyhow::Error,
}

impl StorageFault {
    /// The store could not be reached or did not answer in time.
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: StorageError::Unavailable,
            cause: cause.into(),
        }
    }

    /// The store failed otherwise, or holds something it should not.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: StorageError::Internal,
            cause: cause.into(),
        }
    }

    /// What the component is told: unavailable or internal.
    pub fn kind(&self) -> StorageError {
        self.kind
    }

    /// The cause, for the host's own diagnostics.
    pub fn cause(&self) -> &anyhow::Error {
        &self.cause
    }
}

/// What a host keeps for the component. Every method but `find_instance` is scoped by the
/// instance id `find_instance` returned and must never answer with a record of another
/// instance. Tokens are found by the SHA-256 of their plain text, which the store never
/// holds. A call that fails returns a [`StorageFault`]; it must not panic (a panic is
/// caught and answered as an internal fault, but says the store has a bug).
///
/// Calls are blocking: a store that does network I/O is called from a thread that may
/// block (the server runs every component call on its bounded pool of blocking threads).
pub trait Storage: Send + Sync {
    /// The instance one of whose domains is `domain` (lower case, no port).
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageFault>;

    /// The token whose plain text has the SHA-256 digest `sha256`, expired or not.
    fn find_token(&self, instance: &str, sha256: &[u8]) -> Result<Option<Token>, StorageFault>;

    /// The organization `org_id`.
    fn find_org(&self, instance: &str, org_id: &str) -> Result<Option<Org>, StorageFault>;

    /// Every membership `user_id` holds, in any scope.
    fn list_memberships(
        &self,
        instance: &str,
        user_id: &str,
    ) -> Result<Vec<Membership>, StorageFault>;

    /// The user `user_id`, whatever its organization, kind or state.
    fn find_user(&self, instance: &str, user_id: &str) -> Result<Option<User>, StorageFault>;
}

/// What one component instance holds: its storage and its resource limits.
pub(crate) struct HostState {
    pub storage: Arc<dyn Storage>,
    pub limits: crate::runtime::Limits,
}

/// Runs one storage call for the component: a fault is logged and only its kind handed on.
/// A panic in the store is caught here and handed on as an internal fault, like any other
/// failed lookup: left to unwind, it would pass through the component's frames and take
/// down the thread that called the runtime, where it would be unexpected.
fn to_guest<T>(
    operation: &str,
    call: impl FnOnce() -> Result<T, StorageFault>,
) -> Result<T, StorageError> {
    // Unwind safety: the instance is fresh per call and dropped with its store after a
    // fault; the store is shared, and a store that panicked half-way may answer its next
    // calls with faults (a poisoned lock), which is what they then become.
    let result = panic::catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|payload| {
        let cause = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(StorageFault::internal(anyhow::anyhow!(
            "the store panicked: {cause}"
        )))
    });
    result.map_err(|fault| {
        tracing::warn!(
            operation,
            error = format!("{:#}", fault.cause),
            "storage call failed"
        );
        fault.kind
    })
}

impl types::Host for HostState {}

impl storage::Host for HostState {
    fn find_instance(&mut self, domain: String) -> Result<Option<Instance>, StorageError> {
        to_guest("find-instance", || self.storage.find_instance(&domain))
    }

    fn find_token(
        &mut self,
        instance: String,
        token_sha256: Vec<u8>,
    ) -> Result<Option<Token>, StorageError> {
        to_guest("find-token", || {
            self.storage.find_token(&instance, &token_sha256)
        })
    }

    fn find_org(&mut self, instance: String, org_id: String) -> Result<Option<Org>, StorageError> {
        to_guest("find-org", || self.storage.find_org(&instance, &org_id))
    }

    fn list_memberships(
        &mut self,
        instance: String,
        user_id: String,
    ) -> Result<Vec<Membership>, StorageError> {
        to_guest("list-memberships", || {
            self.storage.list_memberships(&instance, &user_id)
        })
    }

    fn find_user(
        &mut self,
        instance: String,
        user_id: String,
    ) -> Result<Option<User>, StorageError> {
        to_guest("find-user", || self.storage.find_user(&instance, &user_id))
    }
}
