//! What the scenario-table tests share: loading every row of the table
//! (`tests/scenarios/*.json` at the workspace root) with a store built from its snapshot
//! (`table.rs`, which tests that only need the rows include on their own), and running
//! each through the real component, the wire export for every request and
//! the typed export for every request on the REST route. Every failing row is reported
//! with what was expected and what came back.

mod table;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use user_phone::bindings::lookup::{Caller, Error, UserPhone};
use user_phone::bindings::types::Code;
use user_phone::bindings::wire::Request;
use user_phone::snapshot::parse_date;
use user_phone::{Runtime, RuntimeConfig, Storage};

use table::{check_rest, failed_row, load_cases, route_user_id};

/// The typed call a row's request stands for, when it is a well-formed call of the route.
fn typed_call(request: &Request) -> Option<(Caller, String)> {
    let user_id = route_user_id(request)?;
    let single = |name: &str| -> Option<Option<String>> {
        let mut values = request.headers.iter().filter(|(n, _)| n == name);
        let first = values.next();
        if values.next().is_some() {
            return None;
        }
        Some(first.map(|(_, v)| String::from_utf8(v.clone()).unwrap()))
    };
    let caller = Caller {
        host: single("host")?.unwrap_or_default(),
        authorization: single("authorization")?,
        org_id: single("x-zitadel-orgid")?,
        accept_language: single("accept-language")?,
        now: request.now,
    };
    Some((caller, user_id))
}

/// The typed result a row's expected body stands for.
fn expected_typed(expect: &Value) -> Result<UserPhone, Error> {
    let body = &expect["body"];
    if expect["status"] == 200 {
        let details = &body["details"];
        let date = |name: &str| {
            details
                .get(name)
                .map(|d| parse_date(d.as_str().unwrap()).unwrap())
        };
        let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).unwrap_or("").into();
        return Ok(UserPhone {
            details: user_phone::bindings::lookup::ObjectDetails {
                sequence: details
                    .get("sequence")
                    .map_or(0, |s| s.as_str().unwrap().parse().unwrap()),
                creation_date: date("creationDate"),
                change_date: date("changeDate"),
                resource_owner: text(details, "resourceOwner"),
            },
            phone: user_phone::bindings::lookup::Phone {
                phone: text(&body["phone"], "phone"),
                is_phone_verified: body["phone"].get("isPhoneVerified") == Some(&Value::Bool(true)),
            },
        });
    }
    let detail = body.get("details").and_then(|d| d.get(0));
    let message = detail.unwrap_or(body)["message"]
        .as_str()
        .unwrap()
        .to_string();
    Err(Error {
        code: code_of(body["code"].as_i64().unwrap()),
        id: detail.map(|d| d["id"].as_str().unwrap().to_string()),
        message,
    })
}

fn code_of(number: i64) -> Code {
    match number {
        3 => Code::InvalidArgument,
        4 => Code::DeadlineExceeded,
        5 => Code::NotFound,
        7 => Code::PermissionDenied,
        8 => Code::ResourceExhausted,
        9 => Code::FailedPrecondition,
        12 => Code::Unimplemented,
        13 => Code::Internal,
        14 => Code::Unavailable,
        16 => Code::Unauthenticated,
        other => panic!("no gRPC code {other} in the spec"),
    }
}

/// Runs every row of the table against the stores `store_for` builds and fails with every
/// row that did not answer as the table says.
pub fn assert_every_row_passes(store_for: impl FnMut(&Path, &str) -> Arc<dyn Storage>) {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("the component compiles");
    let cases = load_cases(store_for);
    assert!(
        cases.len() >= 100,
        "the table has {} rows; it should cover the spec",
        cases.len()
    );

    let (mut typed_runs, mut failures) = (0, Vec::new());
    for case in &cases {
        let got = runtime.handle(case.store.clone(), &case.request);
        let mut problems = check_rest(&case.expect, &got);
        if let Some((caller, user_id)) = typed_call(&case.request) {
            typed_runs += 1;
            let got = runtime.get_user_phone(case.store.clone(), &caller, &user_id);
            let expected = expected_typed(&case.expect);
            if got != expected {
                problems.push(format!(
                    "typed:\n    expected {expected:?}\n    got      {got:?}"
                ));
            }
        }
        if !problems.is_empty() {
            failures.push(failed_row(case, &problems));
        }
    }
    println!(
        "{} rows through the wire export, {typed_runs} through the typed one",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
