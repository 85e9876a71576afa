//! An in-memory store loaded from a snapshot: for tests, the `get` command and embedders
//! that keep their data in the process.

use std::collections::HashMap;

use crate::bindings::types::{Instance, Membership, Org, Token, User};
use crate::snapshot::Snapshot;
use crate::storage::{Storage, StorageFault};

/// Everything of one instance, indexed for the component's lookups.
#[derive(Debug, Default)]
struct InstanceIndex {
    orgs: HashMap<String, Org>,
    users: HashMap<String, User>,
    memberships: HashMap<String, Vec<Membership>>,
    tokens: HashMap<[u8; 32], Token>,
}

/// A read-only store held in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    domains: HashMap<String, Instance>,
    instances: HashMap<String, InstanceIndex>,
}

impl MemoryStore {
    /// Indexes a valid snapshot.
    pub fn new(snapshot: Snapshot) -> Self {
        let mut store = Self::default();
        for data in snapshot.instances {
            for domain in data.domains {
                store.domains.insert(domain, data.instance.clone());
            }
            let mut index = InstanceIndex {
                orgs: data.orgs.into_iter().map(|o| (o.id.clone(), o)).collect(),
                users: data.users.into_iter().map(|u| (u.id.clone(), u)).collect(),
                tokens: data.tokens.into_iter().collect(),
                ..InstanceIndex::default()
            };
            for (user_id, membership) in data.memberships {
                index
                    .memberships
                    .entry(user_id)
                    .or_default()
                    .push(membership);
            }
            store.instances.insert(data.instance.id, index);
        }
        store
    }

    /// Parses and indexes a snapshot document.
    pub fn from_json(text: &str) -> Result<Self, crate::snapshot::SnapshotError> {
        Snapshot::from_json(text).map(Self::new)
    }

    fn instance(&self, id: &str) -> Option<&InstanceIndex> {
        self.instances.get(id)
    }
}

impl Storage for MemoryStore {
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageFault> {
        Ok(self.domains.get(domain).cloned())
    }

    fn find_token(&self, instance: &str, sha256: &[u8]) -> Result<Option<Token>, StorageFault> {
        let Ok(digest) = <[u8; 32]>::try_from(sha256) else {
            return Ok(None);
        };
        Ok(self
            .instance(instance)
            .and_then(|i| i.tokens.get(&digest))
            .cloned())
    }

    fn find_org(&self, instance: &str, org_id: &str) -> Result<Option<Org>, StorageFault> {
        Ok(self
            .instance(instance)
            .and_then(|i| i.orgs.get(org_id))
            .cloned())
    }

    fn list_memberships(
        &self,
        instance: &str,
        user_id: &str,
    ) -> Result<Vec<Membership>, StorageFault> {
        let found = self
            .instance(instance)
            .and_then(|i| i.memberships.get(user_id));
        Ok(found.cloned().unwrap_or_default())
    }

    fn find_user(&self, instance: &str, user_id: &str) -> Result<Option<User>, StorageFault> {
        Ok(self
            .instance(instance)
            .and_then(|i| i.users.get(user_id))
            .cloned())
    }
}
