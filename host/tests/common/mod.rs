//! What the scenario-table tests share: loading every row of the table
//! (`tests/scenarios/*.json` at the workspace root) with a store built from its snapshot,
//! and running each through the real component, the wire export for every request and
//! the typed export for every request on the REST route. Every failing row is reported
//! with what was expected and what came back.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use serde_json::Value;
use user_phone::bindings::lookup::{Caller, Error, UserPhone};
use user_phone::bindings::types::{Code, Timestamp};
use user_phone::bindings::wire::{Request, Response};
use user_phone::snapshot::parse_date;
use user_phone::{Runtime, RuntimeConfig, Storage};

const ROUTE_PREFIX: &str = "/management/v1/users/";
const ROUTE_SUFFIX: &str = "/phone";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
}

/// One row of the table.
struct Case {
    file: String,
    name: String,
    request: Request,
    expect: Value,
    store: Arc<dyn Storage>,
}

/// Every row of the table, each with the store `store_for(snapshot_path, snapshot_text)`
/// built for its snapshot; one store per snapshot file.
fn load_cases(mut store_for: impl FnMut(&Path, &str) -> Arc<dyn Storage>) -> Vec<Case> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("scenarios"))
        .expect("the scenario folder exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut stores: HashMap<PathBuf, Arc<dyn Storage>> = HashMap::new();
    let mut cases = Vec::new();
    for file in files {
        let group: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{file:?} is not JSON: {e}"));
        let snapshot = file
            .parent()
            .unwrap()
            .join(group["snapshot"].as_str().unwrap());
        let store = stores.entry(snapshot.clone()).or_insert_with(|| {
            let text = fs::read_to_string(&snapshot).unwrap();
            store_for(&snapshot, &text)
        });
        let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
        for case in group["cases"].as_array().expect("cases is a list") {
            let now = case.get("now").unwrap_or(&group["now"]).as_str().unwrap();
            cases.push(Case {
                file: file_name.clone(),
                name: case["name"].as_str().unwrap().to_string(),
                request: request(&case["request"], parse_date(now).unwrap()),
                expect: case["expect"].clone(),
                store: store.clone(),
            });
        }
    }
    cases
}

fn request(value: &Value, now: Timestamp) -> Request {
    let mut headers = Vec::new();
    for (name, values) in value["headers"].as_object().into_iter().flatten() {
        let values = match values {
            Value::Array(list) => list.iter().map(|v| v.as_str().unwrap()).collect(),
            other => vec![other.as_str().unwrap()],
        };
        headers.extend(
            values
                .into_iter()
                .map(|v| (name.clone(), v.as_bytes().to_vec())),
        );
    }
    Request {
        method: value["method"].as_str().unwrap().to_string(),
        path: value["path"].as_str().unwrap().to_string(),
        headers,
        body: value
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or("")
            .as_bytes()
            .to_vec(),
        now,
    }
}

/// Differences between the wire answer and the row's expectation.
fn check_wire(case: &Case, got: &Response) -> Vec<String> {
    let mut problems = Vec::new();
    let status = case.expect["status"].as_u64().unwrap();
    if u64::from(got.status) != status {
        problems.push(format!("status: expected {status}, got {}", got.status));
    }
    for (name, value) in case.expect["headers"].as_object().into_iter().flatten() {
        let found = got
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        if found != value.as_str() {
            problems.push(format!("header {name}: expected {value}, got {found:?}"));
        }
    }
    let expected = serde_json::to_string(&case.expect["body"]).unwrap();
    let body = String::from_utf8_lossy(&got.body);
    if body != expected {
        problems.push(format!(
            "body:\n    expected {expected}\n    got      {body}"
        ));
    }
    problems
}

/// The typed call a row's request stands for, when it is a well-formed call of the route.
fn typed_call(request: &Request) -> Option<(Caller, String)> {
    let path = request.path.split('?').next()?;
    let raw = path
        .strip_prefix(ROUTE_PREFIX)?
        .strip_suffix(ROUTE_SUFFIX)?;
    if request.method != "GET" || raw.contains('/') {
        return None;
    }
    let user_id = percent_decode_str(raw).decode_utf8().ok()?.into_owned();
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
        let mut problems = check_wire(case, &got);
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
            failures.push(format!(
                "{} › {}\n  {}",
                case.file,
                case.name,
                problems.join("\n  ")
            ));
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
