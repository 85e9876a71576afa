//! What the fuzz targets share: the scenario table's snapshot as a store the component's
//! logic reads natively, the plain-text request format the corpus is written in, and the
//! checks every answer must pass. A target fails on a panic of the code under test and
//! on an answer that is not well formed.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use user_phone::bindings::types as host;
use user_phone_guest::endpoint::Storage;
use user_phone_guest::exports::user_phone::endpoint::wire::{Request, Response};
use user_phone_guest::{
    Instance, MemberScope, Membership, Org, ProjectGrantMembership, ProjectMembership,
    StorageError, Timestamp, Token, User, UserKind, UserState,
};

/// The snapshot every row of the scenario table runs against.
const SNAPSHOT: &str = include_str!("../../tests/snapshots/base.json");

/// The table's default `now`: 2026-06-01T12:00:00Z.
pub const NOW: Timestamp = Timestamp { seconds: 1_780_315_200, nanos: 0 };

/// HTTP statuses the spec's table allows, with 204 for preflights and 405 for a wrong
/// method on the route.
const STATUSES: [u16; 13] = [200, 204, 400, 401, 403, 404, 405, 413, 429, 500, 501, 503, 504];

/// gRPC codes the spec's table allows.
const CODES: [&str; 11] = ["0", "3", "4", "5", "7", "8", "9", "12", "13", "14", "16"];

/// The scenario snapshot, indexed as the component asks for it.
#[derive(Default)]
pub struct Store {
    domains: HashMap<String, Instance>,
    orgs: HashMap<(String, String), Org>,
    users: HashMap<(String, String), User>,
    memberships: HashMap<(String, String), Vec<Membership>>,
    tokens: HashMap<(String, Vec<u8>), Token>,
}

/// The store, loaded once per process.
pub fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| {
        let snapshot = user_phone::Snapshot::from_json(SNAPSHOT).expect("the snapshot loads");
        let mut store = Store::default();
        for data in snapshot.instances {
            let id = data.instance.id.clone();
            let instance = Instance {
                id: id.clone(),
                default_language: data.instance.default_language.clone(),
            };
            for domain in data.domains {
                store.domains.insert(domain, instance.clone());
            }
            for org in data.orgs {
                let org = Org { id: org.id, active: org.active };
                store.orgs.insert((id.clone(), org.id.clone()), org);
            }
            for user in data.users {
                store.users.insert((id.clone(), user.id.clone()), convert_user(user));
            }
            for (user, membership) in data.memberships {
                let entry = store.memberships.entry((id.clone(), user)).or_default();
                entry.push(convert_membership(membership));
            }
            for (digest, token) in data.tokens {
                let token = Token { user_id: token.user_id, expiration: token.expiration.map(ts) };
                store.tokens.insert((id.clone(), digest.to_vec()), token);
            }
        }
        store
    })
}

fn ts(t: host::Timestamp) -> Timestamp {
    Timestamp { seconds: t.seconds, nanos: t.nanos }
}

fn convert_user(user: host::User) -> User {
    User {
        id: user.id,
        instance_id: user.instance_id,
        resource_owner: user.resource_owner,
        kind: match user.kind {
            host::UserKind::Human => UserKind::Human,
            host::UserKind::Machine => UserKind::Machine,
        },
        state: match user.state {
            host::UserState::Active => UserState::Active,
            host::UserState::Inactive => UserState::Inactive,
            host::UserState::Locked => UserState::Locked,
            host::UserState::Initial => UserState::Initial,
        },
        preferred_language: user.preferred_language,
        phone: user.phone,
        is_phone_verified: user.is_phone_verified,
        sequence: user.sequence,
        creation_date: user.creation_date.map(ts),
        change_date: user.change_date.map(ts),
    }
}

fn convert_membership(membership: host::Membership) -> Membership {
    let scope = match membership.scope {
        host::MemberScope::Instance => MemberScope::Instance,
        host::MemberScope::Org(id) => MemberScope::Org(id),
        host::MemberScope::Project(p) => MemberScope::Project(ProjectMembership {
            project_id: p.project_id,
            owner_org_id: p.owner_org_id,
        }),
        host::MemberScope::ProjectGrant(g) => MemberScope::ProjectGrant(ProjectGrantMembership {
            project_id: g.project_id,
            grant_id: g.grant_id,
            owner_org_id: g.owner_org_id,
            granted_org_id: g.granted_org_id,
        }),
    };
    Membership { scope, roles: membership.roles }
}

impl Storage for Store {
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageError> {
        Ok(self.domains.get(domain).cloned())
    }

    fn find_token(&self, instance: &str, sha256: &[u8]) -> Result<Option<Token>, StorageError> {
        Ok(self.tokens.get(&(instance.to_string(), sha256.to_vec())).cloned())
    }

    fn find_org(&self, instance: &str, org_id: &str) -> Result<Option<Org>, StorageError> {
        Ok(self.orgs.get(&(instance.to_string(), org_id.to_string())).cloned())
    }

    fn list_memberships(
        &self,
        instance: &str,
        user_id: &str,
    ) -> Result<Vec<Membership>, StorageError> {
        let key = (instance.to_string(), user_id.to_string());
        Ok(self.memberships.get(&key).cloned().unwrap_or_default())
    }

    fn find_user(&self, instance: &str, user_id: &str) -> Result<Option<User>, StorageError> {
        Ok(self.users.get(&(instance.to_string(), user_id.to_string())).cloned())
    }
}

/// Reads a request written as text, as the seed corpus is: `METHOD PATH` on the first
/// line, then one `name: value` per line (the value any bytes but a line feed), an empty
/// line, and the body. The header `x-fuzz-now: SECONDS` sets the request's clock instead
/// of being sent. Names are lower-cased, as every HTTP server hands them on.
pub fn parse_request(data: &[u8]) -> Request {
    let (head, body) = match find(data, b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let (method, path) = first.split_once(' ').unwrap_or((&first, "/"));
    let mut request = Request {
        method: method.to_string(),
        path: path.to_string(),
        headers: Vec::new(),
        body: body.to_vec(),
        now: NOW,
    };
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon]).trim().to_ascii_lowercase();
        let value = line[colon + 1..].strip_prefix(b" ").unwrap_or(&line[colon + 1..]);
        if name == "x-fuzz-now" {
            let seconds = std::str::from_utf8(value).ok().and_then(|v| v.trim().parse().ok());
            request.now.seconds = seconds.unwrap_or(NOW.seconds);
            continue;
        }
        request.headers.push((name, value.to_vec()));
    }
    request
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Panics, naming the problem, unless `answer` is well formed: a status from the spec's
/// table, header fields HTTP can carry, and a body of the answer's encoding.
pub fn check(request: &Request, answer: &Response) {
    let fail = |what: String| -> ! {
        panic!("{what}\nrequest: {request:?}\nanswer: {answer:?}");
    };
    if !STATUSES.contains(&answer.status) {
        fail(format!("status {}", answer.status));
    }
    for (name, value) in answer.headers.iter().chain(&answer.trailers) {
        let token = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            fail(format!("field name {name:?}"));
        }
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            fail(format!("value of {name}: {value:?}"));
        }
    }
    let content_type = answer.headers.iter().find(|(n, _)| n == "content-type");
    let content_type = content_type.map_or("", |(_, v)| v.as_str());
    if answer.status == 204 {
        if !answer.body.is_empty() || !content_type.is_empty() {
            fail("a 204 with content".into());
        }
    } else if content_type == "application/json" {
        check_rest(answer).unwrap_or_else(|what| fail(what));
    } else if content_type.starts_with("application/grpc-web") {
        let text = content_type.starts_with("application/grpc-web-text");
        check_grpc_web(answer, text).unwrap_or_else(|what| fail(what));
    } else if content_type.starts_with("application/grpc") {
        let status = answer.trailers.iter().find(|(n, _)| n == "grpc-status");
        if !status.is_some_and(|(_, code)| CODES.contains(&code.as_str())) {
            fail(format!("grpc-status {status:?}"));
        }
    } else {
        fail(format!("content type {content_type:?}"));
    }
}

fn check_rest(answer: &Response) -> Result<(), String> {
    let body: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|e| format!("body is not JSON: {e}"))?;
    let well_formed = if answer.status == 200 {
        body["phone"].is_object() && body["details"].is_object()
    } else {
        let code = body["code"].as_i64().map(|c| c.to_string());
        code.is_some_and(|c| c != "0" && CODES.contains(&c.as_str()))
            && body["message"].is_string()
            && body.get("details").is_none_or(|d| d.is_array())
    };
    if well_formed { Ok(()) } else { Err(format!("body {body}")) }
}

fn check_grpc_web(answer: &Response, text: bool) -> Result<(), String> {
    let body = if text {
        STANDARD.decode(&answer.body).map_err(|e| format!("-text body: {e}"))?
    } else {
        answer.body.clone()
    };
    let mut rest = &body[..];
    let mut trailers = None;
    while let [flag, a, b, c, d, tail @ ..] = rest {
        let length = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        let payload = tail.get(..length).ok_or("a frame longer than the body")?;
        if *flag == 0x80 {
            trailers = Some(String::from_utf8_lossy(payload).into_owned());
        }
        rest = &tail[length..];
    }
    let trailers = trailers.filter(|_| rest.is_empty()).ok_or("no trailer frame at the end")?;
    let status = trailers.split("\r\n").find_map(|line| line.strip_prefix("grpc-status:"));
    match status {
        Some(code) if CODES.contains(&code.trim()) => Ok(()),
        _ => Err(format!("trailers {trailers:?}")),
    }
}

/// A framed `GetHumanPhoneRequest` for `user_id`, as a client sends it.
pub fn framed_request(user_id: &str) -> Vec<u8> {
    use prost::Message;
    let message =
        user_phone_guest::proto::zitadel::management::v1::GetHumanPhoneRequest {
            user_id: user_id.into(),
        }
        .encode_to_vec();
    let mut framed = vec![0];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend(message);
    framed
}
