//! Runs every row of the scenario table that is a well-formed call of the REST route
//! through the real component again, as gRPC, gRPC-web and gRPC-web-text calls of
//! `GetHumanPhone`, and checks that each answer agrees with the row's REST answer: the
//! status code, the message, ZITADEL's error detail, and for a success the response
//! message field by field. Every disagreement is printed with what was expected and what
//! came back, then the test fails.

#[path = "common/table.rs"]
mod table;

#[path = "common/grpc.rs"]
mod grpc;

use std::sync::Arc;

use user_phone::{MemoryStore, Runtime, RuntimeConfig};

use grpc::{Variant, expected, grpc_request, outcome};

#[test]
fn every_route_row_answers_alike_in_grpc_grpc_web_and_grpc_web_text() {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("the component compiles");
    let cases = table::load_cases(|snapshot, text| {
        Arc::new(MemoryStore::from_json(text).unwrap_or_else(|e| panic!("{snapshot:?}: {e}")))
    });

    let (mut runs, mut failures) = (0, Vec::new());
    for case in &cases {
        let Some(user_id) = table::route_user_id(&case.request) else {
            continue;
        };
        let expected = expected(&case.expect);
        for variant in Variant::ALL {
            runs += 1;
            let request = grpc_request(&case.request, &user_id, variant);
            let got = outcome(variant, &runtime.handle(case.store.clone(), &request));
            if got.as_ref() != Ok(&expected) {
                failures.push(format!(
                    "{variant:?} › {} › {}\n    expected {expected:?}\n    got      {got:?}",
                    case.file, case.name
                ));
            }
        }
    }
    println!("{runs} calls: {} rows in 3 encodings", runs / 3);
    assert!(
        runs >= 150,
        "only {runs} calls; the table's route rows should all run"
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} calls disagree with REST:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
