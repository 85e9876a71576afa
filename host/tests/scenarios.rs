//! Runs every row of the scenario table (`tests/scenarios/*.json` at the workspace root)
//! through the real component, with each snapshot held in memory: the wire export for each
//! request, and the typed export for each request on the REST route. Every failing row is
//! printed with what was expected and what came back, then the test fails.

mod common;

use std::sync::Arc;

use user_phone::MemoryStore;

#[test]
fn every_scenario_row_answers_as_the_table_says() {
    common::assert_every_row_passes(|snapshot, text| {
        Arc::new(MemoryStore::from_json(text).unwrap_or_else(|e| panic!("{snapshot:?}: {e}")))
    });
}
