//! A small store and request builders for the wire tests: one instance at
//! `acme.example.com`, an organization owner calling with `Bearer owner-token`, a human
//! with a verified phone and a machine.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use alloc::borrow::ToOwned;

use prost::Message;
use sha2::{Digest, Sha256};

use super::framing::{self, MESSAGE};
use crate::endpoint::Storage;
use crate::exports::user_phone::endpoint::wire::Request;
use crate::proto::zitadel::management::v1::GetHumanPhoneRequest;
use crate::{
    Instance, MemberScope, Membership, Org, StorageError, Timestamp, Token, User, UserKind,
    UserState,
};

/// The instance's domain.
pub const HOST: &str = "acme.example.com";

/// The gRPC path of `GetHumanPhone`.
pub const PATH: &str = "/zitadel.management.v1.ManagementService/GetHumanPhone";

/// When the human was created and last changed: 2025-03-25T10:28:47.419Z.
pub const DATE: Timestamp = Timestamp {
    seconds: 1_742_898_527,
    nanos: 419_000_000,
};

/// The fixture's store.
pub struct Store;

/// A gRPC message frame holding `GetHumanPhoneRequest { user_id }`.
pub fn framed(user_id: &str) -> Vec<u8> {
    let message = GetHumanPhoneRequest {
        user_id: user_id.to_owned(),
    }
    .encode_to_vec();
    framing::frame(MESSAGE, &message)
}

fn user(id: &str, kind: UserKind, phone: &str) -> User {
    User {
        id: id.to_string(),
        instance_id: "instance".to_string(),
        resource_owner: "org".to_string(),
        kind,
        state: UserState::Active,
        preferred_language: None,
        phone: phone.to_string(),
        is_phone_verified: !phone.is_empty(),
        sequence: 2,
        creation_date: Some(DATE),
        change_date: Some(DATE),
    }
}

impl Storage for Store {
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageError> {
        let instance = Instance {
            id: "instance".to_string(),
            default_language: "en".to_string(),
        };
        Ok((domain == HOST).then_some(instance))
    }

    fn find_token(&self, _: &str, sha256: &[u8]) -> Result<Option<Token>, StorageError> {
        let token = Token {
            user_id: "owner".to_string(),
            expiration: None,
        };
        Ok((sha256 == Sha256::digest(b"owner-token").as_slice()).then_some(token))
    }

    fn find_org(&self, _: &str, org_id: &str) -> Result<Option<Org>, StorageError> {
        Ok((org_id == "org").then(|| Org {
            id: org_id.to_string(),
            active: true,
        }))
    }

    fn list_memberships(&self, _: &str, user_id: &str) -> Result<Vec<Membership>, StorageError> {
        let owner = Membership {
            scope: MemberScope::Org("org".to_string()),
            roles: vec!["ORG_OWNER".to_string()],
        };
        Ok(if user_id == "owner" {
            vec![owner]
        } else {
            Vec::new()
        })
    }

    fn find_user(&self, _: &str, user_id: &str) -> Result<Option<User>, StorageError> {
        Ok(match user_id {
            "owner" => Some(user("owner", UserKind::Human, "")),
            "human" => Some(user("human", UserKind::Human, "+41 71 000 00 00")),
            "machine" => Some(user("machine", UserKind::Machine, "")),
            _ => None,
        })
    }
}

/// A request from the owner with `content_type`, plus `extra` headers.
pub fn request(
    method: &str,
    path: &str,
    content_type: &str,
    extra: &[(&str, &str)],
    body: Vec<u8>,
) -> Request {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("host".into(), HOST.into()),
        ("authorization".into(), b"Bearer owner-token".to_vec()),
        ("content-type".into(), content_type.into()),
    ];
    headers.extend(
        extra
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())),
    );
    Request {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body,
        now: Timestamp {
            seconds: 1_780_000_000,
            nanos: 0,
        },
    }
}

/// The value of the header or trailer `name` in `fields`.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
