//! The scenario table (`tests/scenarios/*.json` at the workspace root), loaded for the
//! tests that run it: each row's request, its expectation and the store it runs against.
//! Test crates that only need the rows include this file alone (`#[path]`), so that none
//! of them compiles helpers it does not use.

#![allow(
    dead_code,
    reason = "each test crate uses a different part of these helpers"
)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use serde_json::Value;
use user_phone::Storage;
use user_phone::bindings::types::Timestamp;
use user_phone::bindings::wire::{Request, Response};
use user_phone::snapshot::parse_date;

const ROUTE_PREFIX: &str = "/management/v1/users/";
const ROUTE_SUFFIX: &str = "/phone";

/// One row of the table.
pub struct Case {
    /// The file the row is in.
    pub file: String,
    /// The row's name.
    pub name: String,
    /// The HTTP request of the row.
    pub request: Request,
    /// What the REST answer must be: `status`, `headers`, `body`.
    pub expect: Value,
    /// The store of the row's snapshot.
    pub store: Arc<dyn Storage>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
}

/// Every row of every file of the table, files in name order, each with the store
/// `store_for` makes of its snapshot (the snapshot's path and text). Snapshots shared by
/// several files are loaded once.
pub fn load_cases(mut store_for: impl FnMut(&Path, &str) -> Arc<dyn Storage>) -> Vec<Case> {
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

/// The user id a request asks for when it is a well-formed call of the REST route: a GET
/// on `/management/v1/users/{id}/phone` with a single-segment id that percent-decodes to
/// UTF-8.
pub fn route_user_id(request: &Request) -> Option<String> {
    let path = request.path.split('?').next()?;
    let raw = path
        .strip_prefix(ROUTE_PREFIX)?
        .strip_suffix(ROUTE_SUFFIX)?;
    if request.method != "GET" || raw.contains('/') {
        return None;
    }
    Some(percent_decode_str(raw).decode_utf8().ok()?.into_owned())
}

/// One failed row for a test's report: where it is and every problem found with it.
pub fn failed_row(case: &Case, problems: &[String]) -> String {
    format!("{} › {}\n  {}", case.file, case.name, problems.join("\n  "))
}

/// Differences between a REST answer and a row's expectation: status, the expected
/// headers, and the body byte for byte.
pub fn check_rest(expect: &Value, got: &Response) -> Vec<String> {
    let mut problems = Vec::new();
    let status = expect["status"].as_u64().unwrap();
    if u64::from(got.status) != status {
        problems.push(format!("status: expected {status}, got {}", got.status));
    }
    for (name, value) in expect["headers"].as_object().into_iter().flatten() {
        let found = got
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        if found != value.as_str() {
            problems.push(format!("header {name}: expected {value}, got {found:?}"));
        }
    }
    let expected = serde_json::to_string(&expect["body"]).unwrap();
    let body = String::from_utf8_lossy(&got.body);
    if body != expected {
        problems.push(format!(
            "body:\n    expected {expected}\n    got      {body}"
        ));
    }
    problems
}
