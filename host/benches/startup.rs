//! Start-up: how long `user-phone serve` takes from being started until it has answered
//! its first request, with the component compiled at start and with it loaded from the
//! cache of compiled components. Each run starts the server on a free loopback port with
//! the demo data in memory, sends the demo REST request as soon as the server names its
//! address, and stops the server once the answer is in.
//!
//! Run with `cargo bench -p user-phone --bench startup`; `STARTUP_RUNS` sets the runs per
//! variant (default 15).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const TARGET: Duration = Duration::from_millis(100);

fn main() {
    // `cargo bench` passes `--bench` and any filter; this benchmark takes neither.
    let runs = std::env::var("STARTUP_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(15);
    let cache = tempfile::tempdir().expect("a temporary cache directory");
    let cache_dir = cache.path().join("cache");

    // One start fills the cache; the cold runs turn it off.
    first_answer(Some(&cache_dir));
    let cold: Vec<Duration> = (0..runs).map(|_| first_answer(None)).collect();
    let cached: Vec<Duration> = (0..runs).map(|_| first_answer(Some(&cache_dir))).collect();

    println!("serve until its first answer, {runs} runs each:");
    report("compiled at start", cold, None);
    report("precompiled (cache)", cached, Some(TARGET));
}

/// Starts the server, sends one request as soon as it listens, and returns the time from
/// start to the complete answer.
fn first_answer(cache_dir: Option<&Path>) -> Duration {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo.json");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_user-phone"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env(
            "USER_PHONE_CACHE_DIR",
            cache_dir.map(|d| d.as_os_str()).unwrap_or_default(),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start user-phone serve");

    let address = listening_address(child.stderr.take().expect("stderr is piped"));
    let status = request(&address);
    let elapsed = started.elapsed();
    assert_eq!(
        status, "HTTP/1.1 200 OK",
        "the first answer is the demo user's phone"
    );

    child.kill().expect("failed to stop the server");
    child.wait().expect("failed to reap the server");
    elapsed
}

/// The address the server prints once it listens; its stderr is drained afterwards so
/// that it never blocks on a full pipe.
fn listening_address(stderr: impl Read + Send + 'static) -> String {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some((_, address)) = line.split_once("http://") {
                let _ = sender.send(address.trim().to_string());
            }
        }
    });
    receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("the server names its address")
}

/// Sends the demo REST request and returns the answer's status line.
fn request(address: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("the server accepts connections");
    let head = "GET /management/v1/users/69629026806489455/phone HTTP/1.1\r\n\
                host: localhost\r\nauthorization: Bearer demo-bot-token\r\n\
                connection: close\r\n\r\n";
    stream
        .write_all(head.as_bytes())
        .expect("the request is sent");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("the answer is read");
    answer.lines().next().unwrap_or_default().to_string()
}

fn report(name: &str, mut times: Vec<Duration>, target: Option<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[times.len() / 2];
    let target = target.map_or("-".to_string(), |t| format!("≤ {:.0} ms", ms(t)));
    println!(
        "  {name:<22} median {:>7.1} ms  min {:>7.1} ms  max {:>7.1} ms  target {target}",
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
}
