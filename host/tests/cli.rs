//! The `user-phone` binary as a user runs it: `get` against the demo data in a fresh
//! directory, `import` of good and bad snapshots, and `serve` started and stopped with
//! SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_user-phone");

/// The seed's example answer for its verified human, compact.
const SEED_EXAMPLE: &str = concat!(
    r#"{"details":{"sequence":"2","creationDate":"2025-03-25T10:28:47.419Z","#,
    r#""changeDate":"2025-03-25T10:28:47.419Z","resourceOwner":"69629023906488334"},"#,
    r#""phone":{"phone":"+41 71 000 00 00","isPhoneVerified":true}}"#
);

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BINARY)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn get_in_a_fresh_directory_answers_the_seed_example_from_the_demo_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["get", "69629026806489455", "--token", "demo-bot-token"],
    );
    assert_eq!(
        text(&out.stdout),
        SEED_EXAMPLE,
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("200 OK"),
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(out.status.success());
    assert!(
        dir.path().join("user-phone.db").exists(),
        "the database was created"
    );
}

#[test]
fn get_prints_the_error_body_and_exits_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["get", "69629026806489455"]);
    assert_eq!(
        text(&out.stdout),
        r#"{"code":16,"message":"auth header missing"}"#
    );
    assert!(
        text(&out.stderr).contains("401 Unauthorized"),
        "stderr: {}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1));

    let out = run(
        dir.path(),
        &["get", "69629031106484123", "--token", "demo-bot-token"],
    );
    let expected = concat!(
        r#"{"code":9,"message":"The User must be personal (QUERY-hliQl)","details":[{"#,
        r#""@type":"type.googleapis.com/zitadel.v1.ErrorDetail","id":"QUERY-hliQl","#,
        r#""message":"The User must be personal"}]}"#
    );
    assert_eq!(text(&out.stdout), expected);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn get_translates_by_accept_language() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["get", "404", "--token", "demo-bot-token", "--lang", "de-CH"];
    let out = run(dir.path(), &args);
    assert!(
        text(&out.stdout).contains("(QUERY-DAvb3)"),
        "stdout: {}",
        text(&out.stdout)
    );
    assert!(
        !text(&out.stdout).contains("User could not be found"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn get_answers_from_a_snapshot_file_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo.json");
    let args = [
        "get",
        "69629026806489455",
        "--token",
        "demo-bot-token",
        "--data",
    ];
    let out = run(dir.path(), &[&args[..], &[demo.to_str().unwrap()]].concat());
    assert_eq!(
        text(&out.stdout),
        SEED_EXAMPLE,
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(
        !dir.path().join("user-phone.db").exists(),
        "--data must not touch a database"
    );
}

#[test]
fn import_of_a_bad_snapshot_names_the_path_and_keeps_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/snapshots/base.json");
    let out = run(
        dir.path(),
        &["import", good.to_str().unwrap(), "--db", "store.db"],
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let before = std::fs::read(dir.path().join("store.db")).unwrap();

    let mut snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    snapshot["instances"][0]["users"][3]["sequence"] = serde_json::json!("minus one");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, snapshot.to_string()).unwrap();
    let out = run(
        dir.path(),
        &["import", bad.to_str().unwrap(), "--db", "store.db"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("instances[0].users[3].sequence: "),
        "stderr: {stderr}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("store.db")).unwrap(),
        before,
        "database changed"
    );
}

#[test]
fn serve_answers_rest_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(BINARY)
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let address = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the server exited early"
        );
        if let Some(at) = line.find("http://") {
            break line[at + 7..].trim().to_string();
        }
    };

    let mut stream = TcpStream::connect(&address).unwrap();
    let request = "GET /management/v1/users/69629026806489455/phone HTTP/1.1\r\n\
                   host: localhost\r\nauthorization: Bearer demo-bot-token\r\n\
                   connection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with(SEED_EXAMPLE), "{answer}");

    // SIGTERM, as a service manager stops it.
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    assert!(status.unwrap().success());
    let exit = server.wait().unwrap();
    assert!(exit.success(), "the server exited with {exit}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(
        !rest.contains("Bearer") && !rest.contains("demo-bot-token"),
        "log leaks: {rest}"
    );
    assert!(!rest.contains("+41 71"), "log leaks a phone number: {rest}");
}
