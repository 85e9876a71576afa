//! The endpoint's order of checks, independent of how the request arrived: instance,
//! authentication, organization, permission, validation, lookup. The first step that fails
//! decides the answer, exactly as ZITADEL's interceptors do.

use alloc::string::String;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::authz::{self, Access};
use crate::failure::Failure;
use crate::i18n::Language;
use crate::{Instance, Membership, Org, StorageError, Timestamp, Token, User, UserKind, UserState};

/// Storage as the endpoint needs it: the imported interface in the component, any store
/// natively. Every call but `find_instance` is scoped by the instance id it is given.
pub trait Storage {
    /// The instance that owns `domain` (lower case, no port).
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageError>;
    /// The token whose plain text hashes to `sha256`.
    fn find_token(&self, instance: &str, sha256: &[u8]) -> Result<Option<Token>, StorageError>;
    /// The organization `org_id`.
    fn find_org(&self, instance: &str, org_id: &str) -> Result<Option<Org>, StorageError>;
    /// Every membership of `user_id`.
    fn list_memberships(
        &self,
        instance: &str,
        user_id: &str,
    ) -> Result<Vec<Membership>, StorageError>;
    /// The user `user_id`, of any organization.
    fn find_user(&self, instance: &str, user_id: &str) -> Result<Option<User>, StorageError>;
}

/// A request header as the endpoint sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header<'a> {
    /// Not sent.
    Absent,
    /// Sent once, with this value.
    Value(&'a str),
    /// Sent more than once, or with a value that is not UTF-8: unusable either way.
    Unusable,
}

impl<'a> Header<'a> {
    /// A header that was sent once or not at all.
    pub fn from_option(value: Option<&'a str>) -> Self {
        value.map_or(Self::Absent, Self::Value)
    }
}

/// One call of the endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// `Host` or `:authority`, port allowed.
    pub host: Header<'a>,
    /// The `authorization` header.
    pub authorization: Header<'a>,
    /// The `x-zitadel-orgid` header.
    pub org_id: Header<'a>,
    /// The `accept-language` header, its lines joined.
    pub accept_language: Option<&'a str>,
    /// The host's time of the request.
    pub now: Timestamp,
    /// The requested user id, percent-decoded.
    pub user_id: &'a str,
}

/// A refused call: why, and the language its message must be sent in.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The failing check.
    pub failure: Failure,
    /// The language chosen for the caller.
    pub language: Language,
}

/// What the steps learn that decides the language of an error message.
#[derive(Default)]
struct LanguageHints {
    instance_default: Option<String>,
    caller_preferred: Option<String>,
}

/// Runs every step for `call`; the user found, or why the call was refused.
pub fn get_user_phone(storage: &impl Storage, call: &Call<'_>) -> Result<User, Refusal> {
    let mut hints = LanguageHints::default();
    run(storage, call, &mut hints).map_err(|failure| Refusal {
        failure,
        language: Language::choose(
            hints.caller_preferred.as_deref(),
            call.accept_language,
            hints.instance_default.as_deref().unwrap_or("en"),
        ),
    })
}

fn run(
    storage: &impl Storage,
    call: &Call<'_>,
    hints: &mut LanguageHints,
) -> Result<User, Failure> {
    // Step 1: the instance, from the host the request was sent to.
    let host = match call.host {
        Header::Value(host) => host,
        Header::Absent | Header::Unusable => "",
    };
    let domain = domain_of(host);
    let instance = storage.find_instance(&domain).map_err(internal)?;
    let Some(instance) = instance else {
        return Err(Failure::UnknownInstance {
            host: String::from(host),
            domain,
        });
    };
    hints.instance_default = Some(instance.default_language);
    let instance = instance.id;

    // Step 2: the bearer token and the user it belongs to.
    let caller = authenticate(storage, &instance, call)?;
    hints.caller_preferred = caller.preferred_language;

    // Step 3: the organization the request is about.
    let org = match call.org_id {
        Header::Absent | Header::Value("") => caller.resource_owner,
        Header::Value(id) => String::from(id),
        Header::Unusable => return Err(Failure::AmbiguousOrg),
    };
    if storage
        .find_org(&instance, &org)
        .map_err(internal)?
        .is_none()
    {
        return Err(Failure::OrgNotFound);
    }

    // Step 4: a membership that applies there and grants `user.read`.
    let memberships = storage
        .list_memberships(&instance, &caller.id)
        .map_err(internal)?;
    match authz::user_read_access(&memberships, &org) {
        Access::NoMembership => return Err(Failure::MembershipNotFound),
        Access::NoPermission => return Err(Failure::PermissionMissing),
        Access::UserRead => {}
    }

    // Step 5: the request itself.
    if !(1..=200).contains(&call.user_id.chars().count()) {
        return Err(Failure::InvalidUserId);
    }

    // Step 6: the lookup, scoped again here so that a store that answers too much cannot
    // leak a user of another instance or organization.
    let user = storage
        .find_user(&instance, call.user_id)
        .map_err(internal)?;
    let user = user
        .filter(|u| u.id == call.user_id && u.instance_id == instance && u.resource_owner == org);
    let Some(user) = user else {
        return Err(Failure::UserNotFound);
    };
    if user.kind == UserKind::Machine {
        return Err(Failure::UserNotHuman);
    }
    // Dates the answer could not represent are a fault of the store, not of the request.
    let dates = [user.creation_date, user.change_date];
    if !dates.iter().flatten().all(crate::json::timestamp_is_valid) {
        return Err(Failure::Internal);
    }
    Ok(user)
}

/// Step 2: the active user behind the request's bearer token.
fn authenticate(storage: &impl Storage, instance: &str, call: &Call<'_>) -> Result<User, Failure> {
    let header = match call.authorization {
        // ZITADEL reads an empty value as no header at all.
        Header::Absent | Header::Value("") => return Err(Failure::AuthHeaderMissing),
        Header::Unusable => return Err(Failure::InvalidAuthHeader),
        Header::Value(value) => value,
    };
    let token = header
        .strip_prefix("Bearer ")
        .ok_or(Failure::InvalidAuthHeader)?;
    let digest = Sha256::digest(token.as_bytes());
    let token = storage.find_token(instance, &digest).map_err(internal)?;
    let token = token.filter(|t| t.expiration.is_none_or(|exp| is_before(call.now, exp)));
    let Some(token) = token else {
        return Err(Failure::TokenInvalid);
    };
    let user = storage
        .find_user(instance, &token.user_id)
        .map_err(internal)?;
    user.filter(|u| {
        u.id == token.user_id && u.instance_id == instance && u.state == UserState::Active
    })
    .ok_or(Failure::TokenInvalid)
}

/// Any storage error answers the same, so nothing of the store's state reaches a client.
fn internal(_: StorageError) -> Failure {
    Failure::Internal
}

fn is_before(a: Timestamp, b: Timestamp) -> bool {
    (a.seconds, a.nanos) < (b.seconds, b.nanos)
}

/// The instance domain a `Host` value names: port removed, lower case; an IPv6 literal
/// loses its brackets.
pub fn domain_of(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else if host.bytes().filter(|&b| b == b':').count() == 1 {
        host.split(':').next().unwrap_or_default()
    } else {
        host
    };
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_drops_port_and_case() {
        assert_eq!(domain_of("Acme.Example.com:8080"), "acme.example.com");
        assert_eq!(domain_of("localhost"), "localhost");
        assert_eq!(domain_of("[::1]:8080"), "::1");
        assert_eq!(domain_of("::1"), "::1");
    }

    #[test]
    fn a_token_expiring_now_is_expired() {
        let t = |seconds, nanos| Timestamp { seconds, nanos };
        assert!(is_before(t(9, 999_999_999), t(10, 0)));
        assert!(!is_before(t(10, 0), t(10, 0)));
    }
}
