//! The store snapshot: one JSON document holding instances, organizations, users,
//! memberships and tokens. Parsing checks every rule of the format and names the JSON
//! path of the first value that breaks one (`instances[0].users[3].sequence: ...`), so a
//! store is only ever loaded from a whole, valid document. Plain tokens are hashed here
//! and never kept.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::bindings::types::{
    Instance, MemberScope, Membership, Org, ProjectGrantMembership, ProjectMembership, Timestamp,
    Token, User, UserKind, UserState,
};

/// A snapshot that broke a rule: where, and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError {
    /// The JSON path of the offending value, as `instances[0].users[3].sequence`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for SnapshotError {}

/// A valid snapshot, in the shapes the component reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every instance with everything it holds.
    pub instances: Vec<InstanceData>,
}

/// One instance and its records.
#[derive(Debug, Clone)]
pub struct InstanceData {
    /// The instance itself.
    pub instance: Instance,
    /// Its domains: lower-case host names without port.
    pub domains: Vec<String>,
    /// Its organizations.
    pub orgs: Vec<Org>,
    /// Its users.
    pub users: Vec<User>,
    /// Its memberships, each with the id of the user holding it.
    pub memberships: Vec<(String, Membership)>,
    /// Its tokens, each with the SHA-256 of its plain text.
    pub tokens: Vec<([u8; 32], Token)>,
}

impl Snapshot {
    /// Parses and checks a snapshot document.
    pub fn from_json(text: &str) -> Result<Self, SnapshotError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let raw: RawSnapshot =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let message = strip_position(&inner);
                SnapshotError { path, message }
            })?;
        deserializer.end().map_err(|e| SnapshotError {
            path: ".".into(),
            message: e.to_string(),
        })?;
        raw.check()
    }
}

/// serde_json appends "at line L column C"; the JSON path says more.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) if error.line() > 0 => text[..at].to_string(),
        _ => text,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshot {
    instances: Vec<RawInstance>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawInstance {
    id: String,
    #[serde(default)]
    domains: Vec<String>,
    default_language: Option<String>,
    #[serde(default)]
    orgs: Vec<RawOrg>,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    members: Vec<RawMember>,
    #[serde(default)]
    tokens: Vec<RawToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrg {
    id: String,
    #[serde(rename = "name")]
    _name: Option<String>,
    state: Option<OrgState>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum OrgState {
    Active,
    Inactive,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawUser {
    id: String,
    resource_owner: String,
    #[serde(rename = "type")]
    kind: Kind,
    state: State,
    #[serde(rename = "userName")]
    _user_name: Option<String>,
    preferred_language: Option<String>,
    phone: Option<String>,
    is_phone_verified: Option<bool>,
    #[serde(default, deserialize_with = "sequence")]
    sequence: u64,
    #[serde(default, deserialize_with = "date")]
    creation_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "date")]
    change_date: Option<Timestamp>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Kind {
    Human,
    Machine,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum State {
    Active,
    Inactive,
    Locked,
    Initial,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawMember {
    user_id: String,
    scope: Scope,
    org_id: Option<String>,
    project_id: Option<String>,
    grant_id: Option<String>,
    granted_org_id: Option<String>,
    roles: Vec<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Scope {
    Instance,
    Org,
    Project,
    ProjectGrant,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawToken {
    token: Option<String>,
    token_sha256: Option<String>,
    user_id: String,
    #[serde(default, deserialize_with = "date")]
    expiration_date: Option<Timestamp>,
}

/// A `sequence`: a JSON number or a decimal string, 0 to 2^64-1.
fn sequence<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Sequence {
        Number(u64),
        Text(String),
    }
    match Sequence::deserialize(deserializer) {
        Ok(Sequence::Number(n)) => Ok(n),
        Ok(Sequence::Text(text))
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            text.parse()
                .map_err(|_| de::Error::custom("must be at most 18446744073709551615"))
        }
        _ => Err(de::Error::custom(
            "must be an integer from 0 to 18446744073709551615",
        )),
    }
}

/// A date: RFC 3339 with an offset and at most nine fractional digits, within
/// `google.protobuf.Timestamp`'s range, kept to the nanosecond.
fn date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Timestamp>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_date(&text).map(Some).map_err(de::Error::custom)
}

/// Parses one RFC 3339 date into a UTC timestamp.
pub fn parse_date(text: &str) -> Result<Timestamp, String> {
    let invalid = || format!("{text:?} is not an RFC 3339 date with offset");
    let fraction = text
        .split_once('.')
        .map(|(_, rest)| rest.bytes().take_while(u8::is_ascii_digit).count());
    if fraction.is_some_and(|digits| digits > 9) {
        return Err(format!("{text:?} has more than nine fractional digits"));
    }
    let date = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| invalid())?;
    let seconds = date.unix_timestamp();
    // google.protobuf.Timestamp spans 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
    if !(-62_135_596_800..=253_402_300_799).contains(&seconds) {
        return Err(format!(
            "{text:?} is outside 0001-01-01 to 9999-12-31 in UTC"
        ));
    }
    Ok(Timestamp {
        seconds,
        nanos: date.nanosecond(),
    })
}

/// Collects the first broken rule while walking the document.
struct Checker {
    path: String,
}

impl Checker {
    fn at(path: impl Into<String>) -> Self {
        Self { path: path.into() }
    }

    fn fail<T>(&self, field: &str, message: impl Into<String>) -> Result<T, SnapshotError> {
        let path = if field.is_empty() {
            self.path.clone()
        } else {
            format!("{}.{field}", self.path)
        };
        Err(SnapshotError {
            path,
            message: message.into(),
        })
    }

    fn id(&self, field: &str, value: &str) -> Result<(), SnapshotError> {
        if value.is_empty() {
            self.fail(field, "must not be empty")
        } else {
            Ok(())
        }
    }

    fn unique(&self, seen: &mut HashSet<String>, id: &str) -> Result<(), SnapshotError> {
        if seen.insert(id.to_string()) {
            Ok(())
        } else {
            self.fail("id", format!("{id:?} is used twice"))
        }
    }

    fn language(&self, field: &str, tag: &str) -> Result<(), SnapshotError> {
        let valid = !tag.is_empty()
            && tag.split('-').all(|part| {
                (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if valid {
            Ok(())
        } else {
            self.fail(field, format!("{tag:?} is not a BCP 47 tag"))
        }
    }
}

impl RawSnapshot {
    fn check(self) -> Result<Snapshot, SnapshotError> {
        let mut instance_ids = HashSet::new();
        let mut domains = HashSet::new();
        let mut instances = Vec::with_capacity(self.instances.len());
        for (i, raw) in self.instances.into_iter().enumerate() {
            let at = Checker::at(format!("instances[{i}]"));
            at.id("id", &raw.id)?;
            at.unique(&mut instance_ids, &raw.id)?;
            for (d, domain) in raw.domains.iter().enumerate() {
                let field = format!("domains[{d}]");
                let valid = !domain.is_empty()
                    && domain.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b)
                    });
                if !valid {
                    return at.fail(&field, format!("{domain:?} is not a lower-case host name"));
                }
                if !domains.insert(domain.clone()) {
                    return at.fail(&field, format!("{domain:?} belongs to another instance"));
                }
            }
            let default_language = raw.default_language.clone().unwrap_or_else(|| "en".into());
            at.language("defaultLanguage", &default_language)?;
            instances.push(raw.check(&at, default_language)?);
        }
        Ok(Snapshot { instances })
    }
}

impl RawInstance {
    fn check(self, at: &Checker, default_language: String) -> Result<InstanceData, SnapshotError> {
        let instance = Instance {
            id: self.id,
            default_language,
        };

        let mut org_ids = HashSet::new();
        let mut orgs = Vec::with_capacity(self.orgs.len());
        for (o, raw) in self.orgs.into_iter().enumerate() {
            let at = Checker::at(format!("{}.orgs[{o}]", at.path));
            at.id("id", &raw.id)?;
            at.unique(&mut org_ids, &raw.id)?;
            let active = raw.state.unwrap_or(OrgState::Active) == OrgState::Active;
            orgs.push(Org { id: raw.id, active });
        }

        let mut user_ids = HashSet::new();
        let mut users = Vec::with_capacity(self.users.len());
        for (u, raw) in self.users.into_iter().enumerate() {
            let at = Checker::at(format!("{}.users[{u}]", at.path));
            users.push(raw.check(&at, &instance.id, &mut user_ids)?);
        }

        let mut memberships = Vec::with_capacity(self.members.len());
        for (m, raw) in self.members.into_iter().enumerate() {
            let at = Checker::at(format!("{}.members[{m}]", at.path));
            memberships.push(raw.check(&at)?);
        }

        let mut digests = HashSet::new();
        let mut tokens = Vec::with_capacity(self.tokens.len());
        for (t, raw) in self.tokens.into_iter().enumerate() {
            let at = Checker::at(format!("{}.tokens[{t}]", at.path));
            let digest = raw.digest(&at)?;
            if !digests.insert(digest) {
                return at.fail("", "the same token is listed twice");
            }
            at.id("userId", &raw.user_id)?;
            tokens.push((
                digest,
                Token {
                    user_id: raw.user_id,
                    expiration: raw.expiration_date,
                },
            ));
        }

        Ok(InstanceData {
            instance,
            domains: self.domains,
            orgs,
            users,
            memberships,
            tokens,
        })
    }
}

impl RawUser {
    fn check(
        self,
        at: &Checker,
        instance: &str,
        ids: &mut HashSet<String>,
    ) -> Result<User, SnapshotError> {
        at.id("id", &self.id)?;
        at.unique(ids, &self.id)?;
        at.id("resourceOwner", &self.resource_owner)?;
        if let Some(tag) = &self.preferred_language {
            at.language("preferredLanguage", tag)?;
        }
        let kind = match self.kind {
            Kind::Human => UserKind::Human,
            Kind::Machine => UserKind::Machine,
        };
        if matches!(self.kind, Kind::Machine) {
            if self.phone.is_some() {
                return at.fail("phone", "a machine user has no phone");
            }
            if self.is_phone_verified.is_some() {
                return at.fail("isPhoneVerified", "a machine user has no phone");
            }
        }
        let phone = self.phone.unwrap_or_default();
        let is_phone_verified = self.is_phone_verified.unwrap_or(false);
        if is_phone_verified && phone.is_empty() {
            return at.fail("isPhoneVerified", "an empty phone cannot be verified");
        }
        let state = match self.state {
            State::Active => UserState::Active,
            State::Inactive => UserState::Inactive,
            State::Locked => UserState::Locked,
            State::Initial => UserState::Initial,
        };
        Ok(User {
            id: self.id,
            instance_id: instance.to_string(),
            resource_owner: self.resource_owner,
            kind,
            state,
            preferred_language: self.preferred_language,
            phone,
            is_phone_verified,
            sequence: self.sequence,
            creation_date: self.creation_date,
            change_date: self.change_date,
        })
    }
}

impl RawMember {
    fn check(self, at: &Checker) -> Result<(String, Membership), SnapshotError> {
        at.id("userId", &self.user_id)?;
        let required = |field: &str, value: Option<String>| match value {
            Some(value) if !value.is_empty() => Ok(value),
            _ => at.fail(field, "is required for this scope"),
        };
        let unexpected = |field: &str, value: &Option<String>| match value {
            Some(_) => at.fail(field, "does not belong to this scope"),
            None => Ok(()),
        };
        let scope = match self.scope {
            Scope::Instance => {
                unexpected("orgId", &self.org_id)?;
                unexpected("projectId", &self.project_id)?;
                unexpected("grantId", &self.grant_id)?;
                unexpected("grantedOrgId", &self.granted_org_id)?;
                MemberScope::Instance
            }
            Scope::Org => {
                unexpected("projectId", &self.project_id)?;
                unexpected("grantId", &self.grant_id)?;
                unexpected("grantedOrgId", &self.granted_org_id)?;
                MemberScope::Org(required("orgId", self.org_id)?)
            }
            Scope::Project => {
                unexpected("grantId", &self.grant_id)?;
                unexpected("grantedOrgId", &self.granted_org_id)?;
                MemberScope::Project(ProjectMembership {
                    project_id: required("projectId", self.project_id)?,
                    owner_org_id: required("orgId", self.org_id)?,
                })
            }
            Scope::ProjectGrant => MemberScope::ProjectGrant(ProjectGrantMembership {
                project_id: required("projectId", self.project_id)?,
                grant_id: required("grantId", self.grant_id)?,
                owner_org_id: required("orgId", self.org_id)?,
                granted_org_id: required("grantedOrgId", self.granted_org_id)?,
            }),
        };
        Ok((
            self.user_id,
            Membership {
                scope,
                roles: self.roles,
            },
        ))
    }
}

impl RawToken {
    fn digest(&self, at: &Checker) -> Result<[u8; 32], SnapshotError> {
        match (&self.token, &self.token_sha256) {
            (Some(plain), None) if !plain.is_empty() => Ok(Sha256::digest(plain.as_bytes()).into()),
            (Some(_), None) => at.fail("token", "must not be empty"),
            (None, Some(hex_digest)) => {
                let mut digest = [0; 32];
                let lower = hex_digest.bytes().all(|b| !b.is_ascii_uppercase());
                match hex::decode_to_slice(hex_digest, &mut digest) {
                    Ok(()) if lower => Ok(digest),
                    _ => at.fail("tokenSha256", "must be 64 lower-case hex digits"),
                }
            }
            (Some(_), Some(_)) => at.fail("", "has both token and tokenSha256; give one"),
            (None, None) => at.fail("", "needs token or tokenSha256"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(json: &str) -> String {
        Snapshot::from_json(json)
            .expect_err("the snapshot must be rejected")
            .to_string()
    }

    const USER: &str = r#""id":"u","resourceOwner":"o","type":"human","state":"active""#;

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let json = format!(r#"{{"instances":[{{"id":"i","users":[{{{USER},"phon":"1"}}]}}]}}"#);
        let error = error_of(&json);
        assert!(error.starts_with("instances[0].users[0]"), "{error}");
        assert!(error.contains("unknown field `phon`"), "{error}");
    }

    #[test]
    fn bad_sequence_names_its_path() {
        let json = format!(r#"{{"instances":[{{"id":"i","users":[{{{USER},"sequence":-1}}]}}]}}"#);
        assert!(error_of(&json).starts_with("instances[0].users[0].sequence: "));
    }

    #[test]
    fn sequence_takes_the_whole_u64_range_as_number_or_string() {
        let json = format!(
            r#"{{"instances":[{{"id":"i","users":[{{{USER},"sequence":18446744073709551615}},
            {{"id":"v","resourceOwner":"o","type":"human","state":"active",
            "sequence":"18446744073709551614"}}]}}]}}"#
        );
        let snapshot = Snapshot::from_json(&json).unwrap();
        let sequences: Vec<u64> = snapshot.instances[0]
            .users
            .iter()
            .map(|u| u.sequence)
            .collect();
        assert_eq!(sequences, [u64::MAX, u64::MAX - 1]);
    }

    #[test]
    fn dates_are_kept_to_the_nanosecond_in_utc() {
        let date = parse_date("2025-03-25T12:28:47.123456789+02:00").unwrap();
        assert_eq!((date.seconds, date.nanos), (1_742_898_527, 123_456_789));
        assert!(parse_date("2025-03-25T10:28:47.1234567891Z").is_err());
        assert!(parse_date("2025-03-25 10:28:47").is_err());
    }

    #[test]
    fn duplicate_ids_and_domains_are_rejected() {
        let json = r#"{"instances":[{"id":"i","orgs":[{"id":"o"},{"id":"o"}]}]}"#;
        assert_eq!(
            error_of(json),
            r#"instances[0].orgs[1].id: "o" is used twice"#
        );
        let json = r#"{"instances":[{"id":"a","domains":["x"]},{"id":"b","domains":["x"]}]}"#;
        assert_eq!(
            error_of(json),
            r#"instances[1].domains[0]: "x" belongs to another instance"#
        );
    }

    #[test]
    fn machine_users_have_no_phone() {
        let json = r#"{"instances":[{"id":"i","users":[{"id":"m","resourceOwner":"o",
            "type":"machine","state":"active","phone":"+1"}]}]}"#;
        assert_eq!(
            error_of(json),
            "instances[0].users[0].phone: a machine user has no phone"
        );
    }

    #[test]
    fn plain_tokens_are_kept_only_as_their_digest() {
        let json = r#"{"instances":[{"id":"i","tokens":[{"token":"secret","userId":"u"}]}]}"#;
        let snapshot = Snapshot::from_json(json).unwrap();
        let expected: [u8; 32] = Sha256::digest(b"secret").into();
        assert_eq!(snapshot.instances[0].tokens[0].0, expected);
        assert!(!format!("{snapshot:?}").contains("secret"));
    }

    #[test]
    fn tokens_need_exactly_one_form() {
        let json = r#"{"instances":[{"id":"i","tokens":[{"userId":"u"}]}]}"#;
        assert_eq!(
            error_of(json),
            "instances[0].tokens[0]: needs token or tokenSha256"
        );
        let json = r#"{"instances":[{"id":"i","tokens":[{"tokenSha256":"AB","userId":"u"}]}]}"#;
        assert!(error_of(json).starts_with("instances[0].tokens[0].tokenSha256: "));
    }

    #[test]
    fn scopes_require_their_ids() {
        let json = r#"{"instances":[{"id":"i","members":[{"userId":"u","scope":"project",
            "orgId":"o","roles":[]}]}]}"#;
        assert_eq!(
            error_of(json),
            "instances[0].members[0].projectId: is required for this scope"
        );
    }
}
