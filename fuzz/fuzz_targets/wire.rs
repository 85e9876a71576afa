//! Any request, as text (see `parse_request`), through the component's wire handler
//! compiled natively, against the scenario table's snapshot: the handler must not panic
//! and its answer must be well formed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use user_phone_fuzz::{check, parse_request, store};

fuzz_target!(|data: &[u8]| {
    let request = parse_request(data);
    let answer = user_phone_guest::wire::handle(store(), &request);
    check(&request, &answer);
});
