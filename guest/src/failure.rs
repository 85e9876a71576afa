//! Every way the endpoint can fail, and what each one answers: the gRPC code, ZITADEL's
//! error id and the message. This is the one place a failure becomes a client-visible
//! error, so ids and texts cannot drift apart between the typed and the wire exports.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;

use crate::Code;
use crate::i18n::{Key, Language};

/// Why a request was refused, in the order the endpoint checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Step 1: no instance has the request's host among its domains.
    UnknownInstance {
        /// The `Host` value as sent; empty when there was none.
        host: String,
        /// The domain looked up: the host without port, lower case.
        domain: String,
    },
    /// Step 2: no `authorization` header.
    AuthHeaderMissing,
    /// Step 2: an `authorization` header that is not `Bearer <token>`, or more than one.
    InvalidAuthHeader,
    /// Step 2: unknown, expired or revoked token, or its user is missing or not active.
    TokenInvalid,
    /// Step 3: more than one `x-zitadel-orgid` header; which one was meant is unknown.
    AmbiguousOrg,
    /// Step 3: the selected organization does not exist in the instance.
    OrgNotFound,
    /// Step 4: no membership of the caller applies to the organization.
    MembershipNotFound,
    /// Step 4: memberships apply, but none of their roles grants `user.read`.
    PermissionMissing,
    /// Step 5: `user_id` is not 1 to 200 Unicode scalar values long.
    InvalidUserId,
    /// Step 6: no such user in the organization.
    UserNotFound,
    /// Step 6: the user is a machine.
    UserNotHuman,
    /// The store failed, or answered something the endpoint cannot use. The cause stays
    /// with the host.
    Internal,
}

impl Failure {
    /// The gRPC status code.
    pub fn code(&self) -> Code {
        match self {
            Self::UnknownInstance { .. } | Self::MembershipNotFound | Self::UserNotFound => {
                Code::NotFound
            }
            Self::AuthHeaderMissing | Self::InvalidAuthHeader | Self::TokenInvalid => {
                Code::Unauthenticated
            }
            Self::OrgNotFound | Self::PermissionMissing => Code::PermissionDenied,
            Self::AmbiguousOrg | Self::InvalidUserId => Code::InvalidArgument,
            Self::UserNotHuman => Code::FailedPrecondition,
            Self::Internal => Code::Internal,
        }
    }

    /// ZITADEL's error id; `None` for errors that carry no `ErrorDetail`.
    pub fn id(&self) -> Option<&'static str> {
        match self {
            Self::UnknownInstance { .. }
            | Self::AuthHeaderMissing
            | Self::AmbiguousOrg
            | Self::InvalidUserId => None,
            Self::InvalidAuthHeader | Self::TokenInvalid => Some("AUTH-7fs1e"),
            Self::OrgNotFound => Some("AUTH-Bs7Ds"),
            Self::MembershipNotFound => Some("AUTHZ-cdgFk"),
            Self::PermissionMissing => Some("AUTH-5mWD2"),
            Self::UserNotFound => Some("QUERY-DAvb3"),
            Self::UserNotHuman => Some("QUERY-hliQl"),
            Self::Internal => Some("QUERY-Bmf2h"),
        }
    }

    /// The message in `language`, without the id. ZITADEL translates only i18n keys; the
    /// plain English texts of the authorization layer are sent as they are.
    pub fn text(&self, language: Language) -> Cow<'static, str> {
        let fixed = match self {
            // The instance interceptor wraps the query's own error, id and all, into a
            // plain status message without an `ErrorDetail`.
            Self::UnknownInstance { host, domain } => {
                return Cow::Owned(format!(
                    "unable to set instance using origin {host} (ExternalDomain is {domain}): \
                     ID=QUERY-1kIjX Message=Instance not found"
                ));
            }
            Self::AuthHeaderMissing => "auth header missing",
            Self::InvalidAuthHeader => "invalid auth header",
            Self::AmbiguousOrg => "x-zitadel-orgid must be sent at most once",
            Self::OrgNotFound => "Organisation doesn't exist",
            Self::MembershipNotFound => "membership not found",
            Self::PermissionMissing => "No matching permissions found",
            Self::InvalidUserId => {
                "invalid GetHumanPhoneRequest.UserId: value length must be between 1 and 200 \
                 runes, inclusive"
            }
            Self::TokenInvalid => language.text(Key::TokenInvalid),
            Self::UserNotFound => language.text(Key::UserNotFound),
            Self::UserNotHuman => language.text(Key::UserNotHuman),
            Self::Internal => language.text(Key::Internal),
        };
        Cow::Borrowed(fixed)
    }
}
