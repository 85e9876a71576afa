//! The `user-phone` command: ask the component once (`get`), serve it over HTTP (`serve`),
//! or load a snapshot into the database (`import`).
//!
//! Exit codes: 0 success; 1 the endpoint answered with an error (`get`); 2 the command
//! could not run (bad arguments, unreadable snapshot, database failure).

use std::fs;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use tracing_subscriber::EnvFilter;
use user_phone::bindings::wire::Request;
use user_phone::server::{self, App, ServerConfig};
use user_phone::{MemoryStore, Runtime, RuntimeConfig, Snapshot, SqliteStore, Storage};

/// The demo data a new database is seeded with, and `get` answers from by default.
const DEMO_SNAPSHOT: &str = include_str!("../data/demo.json");

/// Characters escaped in a path segment: everything but RFC 3986's unreserved set.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

#[derive(Parser)]
#[command(
    name = "user-phone",
    version,
    about = "ZITADEL's GetHumanPhone as a WebAssembly component"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Asks the endpoint once and prints what the REST route answers: the body on stdout,
    /// the HTTP status on stderr.
    Get(GetArgs),
    /// Serves REST, gRPC and gRPC-web on one port.
    Serve(ServeArgs),
    /// Loads a snapshot into the database in one transaction, replacing what the
    /// instances in it held.
    Import(ImportArgs),
}

#[derive(Args)]
struct StoreArgs {
    /// The SQLite database; created with the demo data when it does not exist.
    #[arg(long, value_name = "PATH", default_value = "user-phone.db")]
    db: PathBuf,
    /// Answer from this snapshot, held in memory, instead of the database.
    #[arg(long, value_name = "FILE", conflicts_with = "db")]
    data: Option<PathBuf>,
}

#[derive(Args)]
struct GetArgs {
    /// The id of the user whose phone to read.
    user_id: String,
    /// The bearer token of the caller; without it the request has no `authorization`.
    #[arg(long, env = "USER_PHONE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The organization to read in (`x-zitadel-orgid`); the caller's own by default.
    #[arg(long)]
    org: Option<String>,
    /// The `accept-language` to send.
    #[arg(long)]
    lang: Option<String>,
    /// The host the request is addressed to, which selects the instance.
    #[arg(long, default_value = "localhost")]
    host: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// How many requests may run at once; more are answered 429 / ResourceExhausted.
    #[arg(long, default_value_t = 64)]
    max_instances: u32,
    /// How long one request may take, in milliseconds, before it is answered 504.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// How many threads run calls into the component; default: one per CPU. Calls beyond
    /// them wait for a thread, within their deadline. A store whose lookups wait on the
    /// network wants more, up to `--max-instances`.
    #[arg(long, value_name = "N")]
    blocking_threads: Option<usize>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct ImportArgs {
    /// The snapshot document to load.
    file: PathBuf,
    /// The SQLite database; created when it does not exist.
    #[arg(long, value_name = "PATH", default_value = "user-phone.db")]
    db: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never escape codes in a log file.
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let outcome = match cli.command {
        Command::Get(args) => get(args),
        Command::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
        Command::Import(args) => import(args).map(|()| ExitCode::SUCCESS),
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("user-phone: {error:#}");
        ExitCode::from(2)
    })
}

/// The store the command answers from: a snapshot in memory, or the database (seeded
/// with the demo data when new).
fn open_store(args: &StoreArgs) -> Result<Arc<dyn Storage>> {
    if let Some(path) = &args.data {
        let text = fs::read_to_string(path).with_context(|| format!("failed to read {path:?}"))?;
        let store = MemoryStore::from_json(&text)
            .with_context(|| format!("failed to load snapshot {path:?}"))?;
        return Ok(Arc::new(store));
    }
    let store = SqliteStore::open(&args.db)?;
    if store.is_new() {
        store
            .import_json(DEMO_SNAPSHOT)
            .with_context(|| format!("failed to seed {:?} with the demo data", args.db))?;
        eprintln!(
            "user-phone: created {} with the demo data",
            args.db.display()
        );
    }
    Ok(Arc::new(store))
}

fn get(args: GetArgs) -> Result<ExitCode> {
    let storage = open_store(&args.store)?;
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 1,
        ..RuntimeConfig::default()
    })?;
    let mut headers = vec![("host".to_string(), args.host.into_bytes())];
    let optional = [
        ("authorization", args.token.map(|t| format!("Bearer {t}"))),
        ("x-zitadel-orgid", args.org),
        ("accept-language", args.lang),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            headers.push((name.to_string(), value.into_bytes()));
        }
    }
    let request = Request {
        method: "GET".into(),
        path: format!(
            "/management/v1/users/{}/phone",
            utf8_percent_encode(&args.user_id, SEGMENT)
        ),
        headers,
        body: Vec::new(),
        now: server::now(),
    };
    let answer = runtime.handle(storage, &request);

    let reason = hyper::StatusCode::from_u16(answer.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    eprintln!("{} {reason}", answer.status);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&answer.body)?;
    if stdout.is_terminal() {
        writeln!(stdout)?;
    }
    Ok(if answer.status == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn serve(args: ServeArgs) -> Result<()> {
    let storage = open_store(&args.store)?;
    let runtime_config = RuntimeConfig {
        max_instances: args.max_instances.max(1),
        ..RuntimeConfig::default()
    };
    let runtime = Arc::new(Runtime::new(runtime_config)?);
    let config = ServerConfig {
        call_timeout: Duration::from_millis(args.timeout_ms),
        ..Default::default()
    };
    let app = Arc::new(App::new(runtime, storage, config));

    // Calls into the component and the store run on tokio's pool of blocking threads, never
    // on the threads that drive connections. Each thread more than the CPUs can keep busy
    // costs context switches, and with a fresh instance per call, contention on the
    // process's memory map: on 2 CPUs, 2 threads serve a third more requests than 72.
    let cpus = thread::available_parallelism().map_or(1, usize::from);
    let threads = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(args.blocking_threads.unwrap_or(cpus).max(1))
        .build()
        .context("failed to start the async runtime")?;
    threads.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("failed to listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        eprintln!("user-phone: serving REST, gRPC and gRPC-web on http://{address}");
        server::serve(listener, app, shutdown_signal()).await
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn import(args: ImportArgs) -> Result<()> {
    let text = fs::read_to_string(&args.file)
        .with_context(|| format!("failed to read {:?}", args.file))?;
    let snapshot = Snapshot::from_json(&text)
        .with_context(|| format!("failed to load snapshot {:?}", args.file))?;
    let store = SqliteStore::open(&args.db)?;

    // A bar on a terminal only: in a pipe or a log it would be noise.
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = store.import(&snapshot, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let summary = summary.with_context(|| format!("failed to import into {:?}", args.db))?;
    eprintln!("user-phone: imported {summary} into {}", args.db.display());
    Ok(())
}
