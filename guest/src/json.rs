//! Protojson shaping, as ZITADEL's gateway marshals its answers: lowerCamelCase names in
//! field-number order, `uint64` as a string, default values left out, timestamps in
//! RFC 3339 UTC with 0, 3, 6 or 9 fractional digits.

use alloc::vec::Vec;
use core::fmt;

use serde::{Serialize, Serializer};

use crate::{Timestamp, User};

/// `google.protobuf.Timestamp`'s range: 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

/// The type URL of ZITADEL's error detail inside `google.rpc.Status.details`.
pub const ERROR_DETAIL_TYPE: &str = "type.googleapis.com/zitadel.v1.ErrorDetail";

/// Whether `ts` is a timestamp protojson can print.
pub fn timestamp_is_valid(ts: &Timestamp) -> bool {
    ts.nanos < 1_000_000_000 && (MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds)
}

/// A timestamp printed as protojson prints it; the value must be valid.
pub struct Rfc3339(pub Timestamp);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Timestamp { seconds, nanos } = self.0;
        let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        let (hour, minute, second) = (
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60,
        );
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
        )?;
        if nanos == 0 {
        } else if nanos % 1_000_000 == 0 {
            write!(f, ".{:03}", nanos / 1_000_000)?;
        } else if nanos % 1_000 == 0 {
            write!(f, ".{:06}", nanos / 1_000)?;
        } else {
            write!(f, ".{nanos:09}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[derive(Serialize)]
struct PhoneResponse<'a> {
    details: Details<'a>,
    phone: Phone<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Details<'a> {
    #[serde(skip_serializing_if = "is_zero", serialize_with = "as_string")]
    sequence: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_date: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    change_date: Option<Rfc3339>,
    #[serde(skip_serializing_if = "str::is_empty")]
    resource_owner: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Phone<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    phone: &'a str,
    #[serde(skip_serializing_if = "is_false")]
    is_phone_verified: bool,
}

#[derive(Serialize)]
struct Status<'a> {
    code: i32,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<[ErrorDetail<'a>; 1]>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    #[serde(rename = "@type")]
    type_url: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn as_string<S: Serializer>(n: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(n)
}

/// The `GetHumanPhoneResponse` of `user` in JSON. Its dates must be valid.
pub fn user_phone(user: &User) -> Vec<u8> {
    let body = PhoneResponse {
        details: Details {
            sequence: user.sequence,
            creation_date: user.creation_date.map(Rfc3339),
            change_date: user.change_date.map(Rfc3339),
            resource_owner: &user.resource_owner,
        },
        phone: Phone {
            phone: &user.phone,
            is_phone_verified: user.is_phone_verified,
        },
    };
    // Serializing plain structs into a vector cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// A `google.rpc.Status` in JSON: `code`, `message`, and the `ErrorDetail` when there is
/// an id.
pub fn status(code: i32, message: &str, detail: Option<(&str, &str)>) -> Vec<u8> {
    let details = detail.map(|(id, message)| {
        [ErrorDetail {
            type_url: ERROR_DETAIL_TYPE,
            id,
            message,
        }]
    });
    serde_json::to_vec(&Status {
        code,
        message,
        details,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    fn print(seconds: i64, nanos: u32) -> alloc::string::String {
        Rfc3339(Timestamp { seconds, nanos }).to_string()
    }

    #[test]
    fn timestamps_use_the_fewest_of_zero_three_six_or_nine_digits() {
        assert_eq!(print(1_742_898_527, 0), "2025-03-25T10:28:47Z");
        assert_eq!(
            print(1_742_898_527, 419_000_000),
            "2025-03-25T10:28:47.419Z"
        );
        assert_eq!(
            print(1_742_898_527, 100_000_000),
            "2025-03-25T10:28:47.100Z"
        );
        assert_eq!(
            print(1_742_898_527, 123_450_000),
            "2025-03-25T10:28:47.123450Z"
        );
        assert_eq!(print(1_742_898_527, 1), "2025-03-25T10:28:47.000000001Z");
    }

    #[test]
    fn timestamps_cover_the_whole_protobuf_range() {
        assert_eq!(print(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(print(-1, 0), "1969-12-31T23:59:59Z");
        assert_eq!(print(MIN_SECONDS, 0), "0001-01-01T00:00:00Z");
        assert_eq!(
            print(MAX_SECONDS, 999_999_999),
            "9999-12-31T23:59:59.999999999Z"
        );
        assert_eq!(print(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert!(!timestamp_is_valid(&Timestamp {
            seconds: MAX_SECONDS + 1,
            nanos: 0
        }));
        assert!(!timestamp_is_valid(&Timestamp {
            seconds: 0,
            nanos: 1_000_000_000
        }));
    }

    #[test]
    fn status_without_id_has_no_details() {
        let body = status(16, "auth header missing", None);
        assert_eq!(body, br#"{"code":16,"message":"auth header missing"}"#);
    }

    #[test]
    fn status_with_id_carries_one_error_detail() {
        let body = status(
            5,
            "User could not be found (QUERY-DAvb3)",
            Some(("QUERY-DAvb3", "x")),
        );
        let expected = concat!(
            r#"{"code":5,"message":"User could not be found (QUERY-DAvb3)","details":"#,
            r#"[{"@type":"type.googleapis.com/zitadel.v1.ErrorDetail","id":"QUERY-DAvb3","#,
            r#""message":"x"}]}"#
        );
        assert_eq!(core::str::from_utf8(&body).unwrap(), expected);
    }
}
