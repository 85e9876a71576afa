//! The typed export's records, made from the endpoint's outcome.

use alloc::string::ToString;

use crate::User;
use crate::endpoint::Refusal;
use crate::exports::user_phone::endpoint::lookup::{Error, ObjectDetails, Phone, UserPhone};

/// The `user-phone` record of a found human.
pub fn user_phone(user: User) -> UserPhone {
    UserPhone {
        details: ObjectDetails {
            sequence: user.sequence,
            creation_date: user.creation_date,
            change_date: user.change_date,
            resource_owner: user.resource_owner,
        },
        phone: Phone {
            phone: user.phone,
            is_phone_verified: user.is_phone_verified,
        },
    }
}

/// The `error` record of a refused call.
pub fn error(refusal: &Refusal) -> Error {
    Error {
        code: refusal.failure.code(),
        id: refusal.failure.id().map(ToString::to_string),
        message: refusal.failure.text(refusal.language).into_owned(),
    }
}
