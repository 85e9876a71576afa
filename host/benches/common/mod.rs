//! What the benchmarks share: the demo data, the requests they send, and the adapter
//! that lets the guest's logic, compiled natively, read the same in-memory store the
//! component reads through its imports.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use user_phone::MemoryStore;
use user_phone::bindings::lookup::Caller;
use user_phone::bindings::types::{self as host, Timestamp};
use user_phone::bindings::wire::Request;
use user_phone_guest as guest;
use user_phone_guest::exports::user_phone::endpoint::wire as guest_wire;

/// The host the demo instance answers on.
pub const HOST: &str = "localhost";
/// A token of the demo data whose user (a machine with `ORG_USER_MANAGER`) may read users
/// of its organization.
pub const TOKEN: &str = "demo-bot-token";
/// A human of that organization, with a phone: the answer is a 200 with a body.
pub const USER_ID: &str = "69629026806489455";
/// The gRPC method path.
pub const GRPC_PATH: &str = "/zitadel.management.v1.ManagementService/GetHumanPhone";

/// The demo data the CLI serves, loaded into memory.
pub fn demo_store() -> Arc<MemoryStore> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo.json");
    let text = std::fs::read_to_string(&path).expect("the demo data is readable");
    Arc::new(MemoryStore::from_json(&text).expect("the demo data is a valid snapshot"))
}

/// The wall clock, as the component reads it.
pub fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos(),
    }
}

/// The typed call's caller for the demo request.
pub fn caller() -> Caller {
    Caller {
        host: HOST.into(),
        authorization: Some(format!("Bearer {TOKEN}")),
        org_id: None,
        accept_language: None,
        now: now(),
    }
}

/// The REST request, as the server hands it to the component.
pub fn rest_request() -> Request {
    Request {
        method: "GET".into(),
        path: format!("/management/v1/users/{USER_ID}/phone"),
        headers: headers(&[]),
        body: Vec::new(),
        now: now(),
    }
}

/// The gRPC request: one length-prefixed `GetHumanPhoneRequest { user_id }`.
pub fn grpc_request() -> Request {
    Request {
        method: "POST".into(),
        path: GRPC_PATH.into(),
        headers: headers(&[("content-type", "application/grpc"), ("te", "trailers")]),
        body: grpc_frame(USER_ID),
        now: now(),
    }
}

/// The framed gRPC message asking for `user_id`: a zero flag byte, the big-endian length,
/// and the protobuf message with `user_id` as field 1.
pub fn grpc_frame(user_id: &str) -> Vec<u8> {
    let length = u8::try_from(user_id.len()).expect("a short id");
    let mut message = vec![0x0a, length];
    message.extend_from_slice(user_id.as_bytes());
    let mut frame = vec![0];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    frame
}

fn headers(extra: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    let authorization = format!("Bearer {TOKEN}");
    let mut headers = vec![
        ("host".to_string(), HOST.as_bytes().to_vec()),
        ("authorization".to_string(), authorization.into_bytes()),
        ("user-agent".to_string(), b"bench".to_vec()),
        ("accept".to_string(), b"*/*".to_vec()),
    ];
    headers.extend(
        extra
            .iter()
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec())),
    );
    headers
}

/// The same request in the guest's own types, for the native baseline.
pub fn guest_request(request: &Request) -> guest_wire::Request {
    guest_wire::Request {
        method: request.method.clone(),
        path: request.path.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
        now: guest::Timestamp {
            seconds: request.now.seconds,
            nanos: request.now.nanos,
        },
    }
}

/// The host's [`MemoryStore`] behind the guest's storage trait: the records cross the
/// same boundary the component's imports do, moved instead of copied into linear memory.
pub struct Native(pub Arc<MemoryStore>);

impl guest::endpoint::Storage for Native {
    fn find_instance(&self, domain: &str) -> Result<Option<guest::Instance>, guest::StorageError> {
        let found = user_phone::Storage::find_instance(&*self.0, domain).map_err(fault)?;
        Ok(found.map(|i| guest::Instance {
            id: i.id,
            default_language: i.default_language,
        }))
    }

    fn find_token(
        &self,
        instance: &str,
        sha256: &[u8],
    ) -> Result<Option<guest::Token>, guest::StorageError> {
        let found = user_phone::Storage::find_token(&*self.0, instance, sha256).map_err(fault)?;
        Ok(found.map(|t| guest::Token {
            user_id: t.user_id,
            expiration: t.expiration.map(timestamp),
        }))
    }

    fn find_org(
        &self,
        instance: &str,
        org_id: &str,
    ) -> Result<Option<guest::Org>, guest::StorageError> {
        let found = user_phone::Storage::find_org(&*self.0, instance, org_id).map_err(fault)?;
        Ok(found.map(|o| guest::Org {
            id: o.id,
            active: o.active,
        }))
    }

    fn list_memberships(
        &self,
        instance: &str,
        user_id: &str,
    ) -> Result<Vec<guest::Membership>, guest::StorageError> {
        let found =
            user_phone::Storage::list_memberships(&*self.0, instance, user_id).map_err(fault)?;
        Ok(found.into_iter().map(membership).collect())
    }

    fn find_user(
        &self,
        instance: &str,
        user_id: &str,
    ) -> Result<Option<guest::User>, guest::StorageError> {
        let found = user_phone::Storage::find_user(&*self.0, instance, user_id).map_err(fault)?;
        Ok(found.map(user))
    }
}

/// The in-memory store never fails; were it to, the component would learn no more than
/// this either.
fn fault(_: user_phone::StorageFault) -> guest::StorageError {
    guest::StorageError::Internal
}

fn timestamp(t: Timestamp) -> guest::Timestamp {
    guest::Timestamp {
        seconds: t.seconds,
        nanos: t.nanos,
    }
}

fn membership(m: host::Membership) -> guest::Membership {
    let scope = match m.scope {
        host::MemberScope::Instance => guest::MemberScope::Instance,
        host::MemberScope::Org(id) => guest::MemberScope::Org(id),
        host::MemberScope::Project(p) => guest::MemberScope::Project(guest::ProjectMembership {
            project_id: p.project_id,
            owner_org_id: p.owner_org_id,
        }),
        host::MemberScope::ProjectGrant(g) => {
            guest::MemberScope::ProjectGrant(guest::ProjectGrantMembership {
                project_id: g.project_id,
                grant_id: g.grant_id,
                owner_org_id: g.owner_org_id,
                granted_org_id: g.granted_org_id,
            })
        }
    };
    guest::Membership {
        scope,
        roles: m.roles,
    }
}

fn user(u: host::User) -> guest::User {
    guest::User {
        id: u.id,
        instance_id: u.instance_id,
        resource_owner: u.resource_owner,
        kind: match u.kind {
            host::UserKind::Human => guest::UserKind::Human,
            host::UserKind::Machine => guest::UserKind::Machine,
        },
        state: match u.state {
            host::UserState::Active => guest::UserState::Active,
            host::UserState::Inactive => guest::UserState::Inactive,
            host::UserState::Locked => guest::UserState::Locked,
            host::UserState::Initial => guest::UserState::Initial,
        },
        preferred_language: u.preferred_language,
        phone: u.phone,
        is_phone_verified: u.is_phone_verified,
        sequence: u.sequence,
        creation_date: u.creation_date.map(timestamp),
        change_date: u.change_date.map(timestamp),
    }
}
