//! Faults the host must survive, each followed by an ordinary request that the same
//! runtime (or server) must answer correctly: a store that fails at each of its five
//! calls, a store that panics, a store that answers with a user it was not asked for, a
//! component that outgrows its memory cap, and one that runs past its deadline.

#[path = "common/running.rs"]
mod running;

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use user_phone::bindings::types::{Instance, Membership, Org, Token, User};
use user_phone::bindings::wire::{Request, Response};
use user_phone::server::{App, ServerConfig};
use user_phone::{MemoryStore, Runtime, RuntimeConfig, Storage, StorageFault};

use running::{
    BOT, DEMO, NOW, PHONE_BODY, PHONE_PATH, Running, demo_store, grpc, grpc_status, rest, runtime,
};

/// The demo's verified human.
const HUMAN: &str = "69629026806489455";

/// A user id no store knows.
const UNKNOWN: &str = "404404404404404404";

/// The demo's bot, whose token the requests carry.
const BOT_USER: &str = "69629031106484123";

/// The Internal answer a failing store gets, over REST.
const INTERNAL_BODY: &str = concat!(
    r#"{"code":13,"message":"An internal error occurred (QUERY-Bmf2h)","#,
    r#""details":[{"@type":"type.googleapis.com/zitadel.v1.ErrorDetail","#,
    r#""id":"QUERY-Bmf2h","message":"An internal error occurred"}]}"#
);

/// What a failing store says about its failure: none of it may reach a client.
const CAUSE: &str = "connection to db.internal:5432 refused (password=hunter2)";

/// The five storage calls, in the order one successful request makes them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Call {
    FindInstance,
    FindToken,
    FindOrg,
    ListMemberships,
    FindUser,
}

/// What the store does at the call it is told to fail.
#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    Unavailable,
    Internal,
    Panic,
    Sleep(Duration),
}

/// The demo data, misbehaving at the `nth` call (from 1) of one kind; every other call is
/// answered honestly.
struct Faulty {
    inner: MemoryStore,
    call: Call,
    nth: usize,
    misbehaviour: Misbehaviour,
    seen: Mutex<Vec<Call>>,
}

impl Faulty {
    fn new(call: Call, nth: usize, misbehaviour: Misbehaviour) -> Arc<Self> {
        let inner = MemoryStore::from_json(DEMO).unwrap();
        Arc::new(Self {
            inner,
            call,
            nth,
            misbehaviour,
            seen: Mutex::new(Vec::new()),
        })
    }

    /// Notes the call and misbehaves when it is the one.
    fn enter(&self, call: Call) -> Result<(), StorageFault> {
        let count = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(call);
            seen.iter().filter(|&&c| c == call).count()
        };
        if call != self.call || count != self.nth {
            return Ok(());
        }
        match self.misbehaviour {
            Misbehaviour::Unavailable => Err(StorageFault::unavailable(anyhow::anyhow!(CAUSE))),
            Misbehaviour::Internal => Err(StorageFault::internal(anyhow::anyhow!(CAUSE))),
            Misbehaviour::Panic => panic!("store bug: {CAUSE}"),
            Misbehaviour::Sleep(delay) => {
                std::thread::sleep(delay);
                Ok(())
            }
        }
    }
}

impl Storage for Faulty {
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageFault> {
        self.enter(Call::FindInstance)?;
        self.inner.find_instance(domain)
    }
    fn find_token(&self, i: &str, sha256: &[u8]) -> Result<Option<Token>, StorageFault> {
        self.enter(Call::FindToken)?;
        self.inner.find_token(i, sha256)
    }
    fn find_org(&self, i: &str, org: &str) -> Result<Option<Org>, StorageFault> {
        self.enter(Call::FindOrg)?;
        self.inner.find_org(i, org)
    }
    fn list_memberships(&self, i: &str, user: &str) -> Result<Vec<Membership>, StorageFault> {
        self.enter(Call::ListMemberships)?;
        self.inner.list_memberships(i, user)
    }
    fn find_user(&self, i: &str, user: &str) -> Result<Option<User>, StorageFault> {
        self.enter(Call::FindUser)?;
        self.inner.find_user(i, user)
    }
}

/// Every call a successful request makes, each once but `find_user`: first for the
/// token's user, then for the user asked about.
const EVERY_CALL: [(Call, usize); 6] = [
    (Call::FindInstance, 1),
    (Call::FindToken, 1),
    (Call::FindUser, 1),
    (Call::FindOrg, 1),
    (Call::ListMemberships, 1),
    (Call::FindUser, 2),
];

/// Fails the test unless the runtime answers an ordinary request for the demo's human
/// correctly, over REST and over gRPC.
fn assert_still_answers(runtime: &Runtime, after: &str) {
    let answer = runtime.handle(demo_store(), &rest(PHONE_PATH));
    let body = String::from_utf8_lossy(&answer.body);
    assert_eq!((answer.status, &*body), (200, PHONE_BODY), "after {after}");
    let answer = runtime.handle(demo_store(), &grpc(HUMAN, "application/grpc"));
    assert_eq!(
        grpc_status(&answer).0,
        Some("0"),
        "after {after}: {answer:?}"
    );
}

fn assert_no_cause(answer: &Response, case: &str) {
    let text = format!("{answer:?}{}", String::from_utf8_lossy(&answer.body));
    for secret in ["hunter2", "db.internal", "5432", "refused", "store bug"] {
        assert!(
            !text.contains(secret),
            "{case}: the answer leaks {secret:?}: {text}"
        );
    }
}

#[test]
fn a_store_failing_at_any_of_its_calls_is_internal_without_its_cause() {
    let runtime = runtime(4);
    for (call, nth) in EVERY_CALL {
        for misbehaviour in [Misbehaviour::Unavailable, Misbehaviour::Internal] {
            let case = format!("{misbehaviour:?} at {call:?} #{nth}");

            let store = Faulty::new(call, nth, misbehaviour);
            let answer = runtime.handle(store.clone(), &rest(PHONE_PATH));
            let body = String::from_utf8_lossy(&answer.body);
            assert_eq!((answer.status, &*body), (500, INTERNAL_BODY), "{case}");
            assert_eq!(
                store.seen.lock().unwrap().last(),
                Some(&call),
                "{case}: stops there"
            );
            assert_no_cause(&answer, &case);

            let store = Faulty::new(call, nth, misbehaviour);
            let answer = runtime.handle(store, &grpc(HUMAN, "application/grpc"));
            let expected = (
                Some("13"),
                "An internal error occurred (QUERY-Bmf2h)".into(),
            );
            assert_eq!(grpc_status(&answer), expected, "{case} over gRPC");
            assert_no_cause(&answer, &case);

            assert_still_answers(&runtime, &case);
        }
    }
}

#[test]
fn a_store_failing_the_typed_export_is_internal_without_its_cause() {
    use user_phone::bindings::lookup::Caller;
    use user_phone::bindings::types::Code;

    let runtime = runtime(2);
    let caller = Caller {
        host: "localhost".into(),
        authorization: Some(BOT.into()),
        org_id: None,
        accept_language: None,
        now: NOW,
    };
    for (call, nth) in EVERY_CALL {
        let store = Faulty::new(call, nth, Misbehaviour::Unavailable);
        let error = runtime.get_user_phone(store, &caller, HUMAN).unwrap_err();
        let got = (error.code, error.id.as_deref(), error.message.as_str());
        let expected = (
            Code::Internal,
            Some("QUERY-Bmf2h"),
            "An internal error occurred",
        );
        assert_eq!(got, expected, "at {call:?} #{nth}");
    }
    let found = runtime
        .get_user_phone(demo_store(), &caller, HUMAN)
        .unwrap();
    assert_eq!(found.phone.phone, "+41 71 000 00 00");
}

#[test]
fn a_store_that_panics_is_internal_and_the_caller_goes_on() {
    let runtime = runtime(2);
    for (call, nth) in EVERY_CALL {
        let case = format!("panic at {call:?} #{nth}");
        let store = Faulty::new(call, nth, Misbehaviour::Panic);
        let call = AssertUnwindSafe(|| runtime.handle(store, &rest(PHONE_PATH)));
        let answer = std::panic::catch_unwind(call)
            .unwrap_or_else(|_| panic!("{case}: the store's panic reached the caller"));
        let body = String::from_utf8_lossy(&answer.body);
        assert_eq!((answer.status, &*body), (500, INTERNAL_BODY), "{case}");
        assert_no_cause(&answer, &case);
        assert_still_answers(&runtime, &case);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_store_fails_or_panics_answers_internal_and_the_next_request() {
    let http = reqwest::Client::new();
    for misbehaviour in [Misbehaviour::Unavailable, Misbehaviour::Panic] {
        // The store misbehaves at its first lookup of the user asked about, then never again.
        let store = Faulty::new(Call::FindUser, 2, misbehaviour);
        let server = Running::start(App::new(runtime(2), store, ServerConfig::default())).await;
        let get = || {
            http.get(server.url(PHONE_PATH))
                .header("authorization", BOT)
                .send()
        };

        let answer = get().await.unwrap();
        assert_eq!(answer.status(), 500, "{misbehaviour:?}");
        assert_eq!(
            answer.text().await.unwrap(),
            INTERNAL_BODY,
            "{misbehaviour:?}"
        );

        let answer = get().await.unwrap();
        assert_eq!(answer.status(), 200, "after {misbehaviour:?}");
        assert_eq!(
            answer.text().await.unwrap(),
            PHONE_BODY,
            "after {misbehaviour:?}"
        );
        server.shut_down().await;
    }
}

/// The demo data, but `find_user` answers with what `lie` makes of the honest answer.
struct Liar {
    inner: MemoryStore,
    lie: fn(&MemoryStore, &str, &str) -> Option<User>,
}

impl Storage for Liar {
    fn find_instance(&self, domain: &str) -> Result<Option<Instance>, StorageFault> {
        self.inner.find_instance(domain)
    }
    fn find_token(&self, i: &str, sha256: &[u8]) -> Result<Option<Token>, StorageFault> {
        self.inner.find_token(i, sha256)
    }
    fn find_org(&self, i: &str, org: &str) -> Result<Option<Org>, StorageFault> {
        self.inner.find_org(i, org)
    }
    fn list_memberships(&self, i: &str, user: &str) -> Result<Vec<Membership>, StorageFault> {
        self.inner.list_memberships(i, user)
    }
    fn find_user(&self, i: &str, user: &str) -> Result<Option<User>, StorageFault> {
        Ok((self.lie)(&self.inner, i, user))
    }
}

fn honest(store: &MemoryStore, instance: &str, id: &str) -> Option<User> {
    store.find_user(instance, id).unwrap()
}

/// The demo's Globex employee, in another organization than the bot's.
fn globex_user(store: &MemoryStore, instance: &str) -> User {
    honest(store, instance, "69629040000000001").unwrap()
}

#[test]
fn a_store_answering_with_a_user_of_another_scope_is_not_found_like_an_unknown_id() {
    type Lie = fn(&MemoryStore, &str, &str) -> Option<User>;
    let lies: [(&str, &str, Lie); 5] = [
        (
            "another organization's user for an unknown id",
            UNKNOWN,
            |s, i, id| {
                if id == BOT_USER {
                    honest(s, i, id)
                } else {
                    Some(globex_user(s, i))
                }
            },
        ),
        (
            "another organization's user under the asked id",
            UNKNOWN,
            |s, i, id| {
                if id == BOT_USER {
                    return honest(s, i, id);
                }
                Some(User {
                    id: id.into(),
                    ..globex_user(s, i)
                })
            },
        ),
        (
            "the asked user, claimed by another organization",
            HUMAN,
            |s, i, id| {
                let mut user = honest(s, i, id)?;
                if id != BOT_USER {
                    user.resource_owner = "69629023906488999".into();
                }
                Some(user)
            },
        ),
        ("the asked user, of another instance", HUMAN, |s, i, id| {
            let mut user = honest(s, i, id)?;
            if id != BOT_USER {
                user.instance_id = "230000000000000002".into();
            }
            Some(user)
        }),
        (
            "another user of the organization for an unknown id",
            UNKNOWN,
            |s, i, id| honest(s, i, id).or_else(|| honest(s, i, HUMAN)),
        ),
    ];
    let runtime = runtime(2);
    let variants = [
        "application/grpc",
        "application/grpc-web+proto",
        "application/grpc-web-text",
    ];
    for (name, asked, lie) in lies {
        let liar = Arc::new(Liar {
            inner: MemoryStore::from_json(DEMO).unwrap(),
            lie,
        });
        let mut requests = vec![rest(&format!("/management/v1/users/{asked}/phone"))];
        requests.extend(variants.iter().map(|variant| grpc(asked, variant)));
        let mut unknown = vec![rest(&format!("/management/v1/users/{UNKNOWN}/phone"))];
        unknown.extend(variants.iter().map(|variant| grpc(UNKNOWN, variant)));

        for (request, unknown) in requests.iter().zip(&unknown) {
            let got = runtime.handle(liar.clone(), request);
            let expected = runtime.handle(demo_store(), unknown);
            assert_eq!(got, expected, "{name}, {:?}", content_type_of(request));
        }
        let answer = runtime.handle(liar, &requests[0]);
        assert_eq!(answer.status, 404, "{name}");
    }
    assert_still_answers(&runtime, "lying stores");
}

#[test]
fn a_token_whose_user_the_store_finds_in_another_instance_is_an_invalid_token() {
    let liar = Arc::new(Liar {
        inner: MemoryStore::from_json(DEMO).unwrap(),
        lie: |s, i, id| {
            let mut user = honest(s, i, id)?;
            user.instance_id = "230000000000000002".into();
            Some(user)
        },
    });
    let runtime = runtime(2);
    let got = runtime.handle(liar, &rest(PHONE_PATH));
    let mut unknown_token = rest(PHONE_PATH);
    unknown_token.headers[1].1 = b"Bearer no-such-token".to_vec();
    let expected = runtime.handle(demo_store(), &unknown_token);
    assert_eq!(got, expected);
    assert_eq!(got.status, 401);
}

fn content_type_of(request: &Request) -> Option<String> {
    let value = request.headers.iter().find(|(n, _)| n == "content-type")?;
    Some(String::from_utf8_lossy(&value.1).into_owned())
}

#[test]
fn a_request_beyond_the_memory_cap_is_internal_and_the_runtime_goes_on() {
    // Every byte of the request is copied into the component's memory before it runs.
    let over = RuntimeConfig::default().memory_limit + (1 << 20);
    let runtime = runtime(2);

    let mut body = rest(PHONE_PATH);
    body.body = vec![b'{'; over];
    let mut header = rest(PHONE_PATH);
    header.headers.push(("x-big".into(), vec![b'a'; over]));
    for (what, request) in [("REST body", body), ("header value", header)] {
        let answer = runtime.handle(demo_store(), &request);
        let body = String::from_utf8_lossy(&answer.body);
        let expected = (500, r#"{"code":13,"message":"internal error"}"#);
        assert_eq!((answer.status, &*body), expected, "{what}");
        assert_still_answers(&runtime, &format!("a {what} beyond the memory cap"));
    }

    let mut request = grpc(HUMAN, "application/grpc");
    request.body.resize(over, 0);
    let answer = runtime.handle(demo_store(), &request);
    assert_eq!(
        answer.status, 200,
        "gRPC carries its status in the trailers"
    );
    assert_eq!(grpc_status(&answer), (Some("13"), "internal error".into()));
    assert_still_answers(&runtime, "a gRPC body beyond the memory cap");
}

#[test]
fn every_instance_slot_can_hold_an_instance_at_once() {
    // The pool must fit as many whole instances (memories, tables, core instances) as it
    // has slots, or the server's last free slot would answer Internal under load.
    for slots in [1, 3] {
        let runtime = runtime(slots);
        let mut held: Vec<_> = (0..slots)
            .map(|n| {
                runtime
                    .warm(demo_store())
                    .unwrap_or_else(|e| panic!("instance {n} of {slots}: {e:#}"))
            })
            .collect();
        for instance in &mut held {
            let answer = instance.handle(&rest(PHONE_PATH));
            let body = String::from_utf8_lossy(&answer.body);
            assert_eq!((answer.status, &*body), (200, PHONE_BODY), "{slots} slots");
        }
    }
}

#[test]
fn a_memory_cap_below_the_component_minimum_is_refused_at_start() {
    let config = RuntimeConfig {
        max_instances: 2,
        memory_limit: 64 << 10,
        cache_dir: None,
        ..RuntimeConfig::default()
    };
    let error = Runtime::new(config)
        .err()
        .expect("a cap below the component's minimum");
    let error = format!("{error:#}");
    assert!(error.contains("minimum byte size"), "{error}");
}

#[test]
fn a_memory_cap_the_component_cannot_work_in_answers_internal_for_every_call() {
    // The component's minimum memory, without a page to grow into.
    let config = RuntimeConfig {
        max_instances: 2,
        memory_limit: 128 << 10,
        cache_dir: None,
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(config).expect("the minimum fits");
    for _ in 0..3 {
        let answer = runtime.handle(demo_store(), &rest(PHONE_PATH));
        let body = String::from_utf8_lossy(&answer.body);
        assert_eq!(
            (answer.status, &*body),
            (500, r#"{"code":13,"message":"internal error"}"#)
        );
        let answer = runtime.handle(demo_store(), &grpc(HUMAN, "application/grpc-web-text"));
        assert_eq!(
            answer.status, 200,
            "gRPC-web carries its status in the body"
        );
        assert!(!answer.body.is_empty());
    }
}

#[test]
fn a_call_that_outlives_its_deadline_inside_the_component_is_deadline_exceeded() {
    // The store holds the component in the middle of its call, past the deadline; the
    // epoch check the component meets next, back in its own code, interrupts it.
    let config = RuntimeConfig {
        deadline: Duration::from_millis(50),
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(config).unwrap();
    for (call, nth) in EVERY_CALL {
        let case = format!("sleeping at {call:?} #{nth}");
        let store = Faulty::new(call, nth, Misbehaviour::Sleep(Duration::from_millis(200)));
        let answer = runtime.handle(store, &rest(PHONE_PATH));
        let body = String::from_utf8_lossy(&answer.body);
        assert_eq!(
            (answer.status, &*body),
            (504, r#"{"code":4,"message":"deadline exceeded"}"#),
            "{case}"
        );
        let store = Faulty::new(call, nth, Misbehaviour::Sleep(Duration::from_millis(200)));
        let answer = runtime.handle(store, &grpc(HUMAN, "application/grpc"));
        assert_eq!(
            grpc_status(&answer),
            (Some("4"), "deadline exceeded".into()),
            "{case}"
        );
        assert_still_answers(&runtime, &case);
    }
}
