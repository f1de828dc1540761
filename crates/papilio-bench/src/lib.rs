//! `papilio bench`: named workloads run against a fresh database and measured.
//!
//! For each workload the harness creates a new database (a temporary SQLite file, or a new
//! database on the PostgreSQL server named by URL), loads the demo company at the requested
//! scale, starts the real HTTP server on a loopback port in this process, and drives it from
//! client tasks over HTTP, bounded by a request count and a duration. It reports the rate, the
//! rate per CPU-second, CPU seconds, latency percentiles and peak memory, and checks the
//! workload's functional result at the end: a fast wrong answer fails the run.
//!
//! Workloads are added by the issue that builds their capability (W1 order-to-cash, W2
//! procure-to-pay, W3 MRP, W4 stock balances, W5 mixed API load, W6 costing close). What runs
//! today is listed by [`WORKLOADS`].

pub mod engineering;
pub mod measure;
pub mod sales;
pub mod stock;
pub mod workloads;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use papilio_store::{Db, users};

pub use measure::{Report, Row};

/// The workloads this build can run, with a line on what each measures.
pub const WORKLOADS: &[(&str, &str)] = &[
    (
        "W1",
        "order to cash over HTTP from --concurrency clients: a 5-line order priced by the \
         engine, credit-checked and approved, its delivery (stock posted), invoice and receipt; \
         rates are fully processed order lines",
    ),
    (
        "W1-then",
        "W1 with each document saved and approved in one request (?then=approve, one \
         transaction): four requests per order instead of twelve",
    ),
    (
        "api-mix",
        "W5, API latency under a mixed load: 80% reads (an item by id, a list of 40, a customer \
         by id), 20% writes, each one W1 order-to-cash chain of twelve durable requests",
    ),
    (
        "stock-post",
        "posting 5-line stock documents (create, submit, approve) over HTTP with one client and \
         with --concurrency clients, durable commits; rates are lines",
    ),
    (
        "W4",
        "stock balances over a large ledger (--ledger-rows, default 1,000,000): all balances \
         now, all as of a past date, one item as of a date",
    ),
    (
        "engineering",
        "a generated structure of 100,000 items over 10 levels (2,000 in a smoke run): full \
         explosion of the top items and the full standard cost roll-up, read to written, \
         checked against an independent recomputation",
    ),
];

/// What to run and how hard.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Workload names; empty means all.
    pub workloads: Vec<String>,
    /// `None` for a temporary SQLite file, else a PostgreSQL server URL
    /// (`postgres://user@host:port`): a new database is created on it per workload.
    pub postgres: Option<String>,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Longest run per workload.
    pub duration: Duration,
    /// Most requests per workload.
    pub requests: u64,
    /// Demo scale.
    pub scale: u32,
    /// Seed.
    pub seed: u64,
    /// A quick functional run with tiny sizes (CI): workloads shrink what they generate.
    pub smoke: bool,
    /// Ledger rows W4 generates; `None` for its default (1,000,000, or 20,000 in a smoke run).
    pub ledger_rows: Option<u64>,
}

/// A database made for one workload, removed when dropped (SQLite) or dropped by [`Bench::finish`].
pub struct Bench {
    /// The database.
    pub db: Db,
    /// Base URL of the running server.
    pub base: String,
    /// An administrator's API token.
    pub token: String,
    /// That administrator's user id.
    pub user_id: i64,
    home: Home,
    server: tokio::task::JoinHandle<()>,
}

enum Home {
    Sqlite(PathBuf),
    Postgres { server: String, name: String },
}

impl Bench {
    /// A fresh database with the demo company, and the server running on it.
    pub async fn start(options: &BenchOptions) -> anyhow::Result<Bench> {
        let name = format!("papilio_bench_{}", papilio_store::db::new_id());
        let (url, home) = match &options.postgres {
            Some(server) => {
                let server = server.trim_end_matches('/').to_owned();
                let admin = Db::connect(&format!("{server}/postgres"))
                    .await
                    .context("PostgreSQL server")?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(admin.pool())
                    .await?;
                admin.close().await;
                (format!("{server}/{name}"), Home::Postgres { server, name })
            }
            None => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                (format!("sqlite://{}?mode=rwc", path.display()), Home::Sqlite(path))
            }
        };
        let db = Db::connect(&url).await?;
        db.migrate().await?;
        users::seed_roles(&db).await?;
        papilio_store::company::ensure_company(&db, chrono::Utc::now().date_naive()).await?;
        let demo = papilio_demo::DemoOptions { seed: options.seed, scale: options.scale };
        papilio_demo::load(&db, demo, &|_, _| {}).await?;
        let admin = users::create_user(
            &db,
            "bench",
            "Bench",
            "bench-password",
            "en",
            &["administrator".into()],
            None,
        )
        .await?;
        let token = users::create_api_token(&db, admin.id, "bench").await?;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = papilio_web::app(papilio_web::AppState::new(db.clone()));
        let server = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, service).await {
                tracing::error!(error = %e, "bench server stopped");
            }
        });
        Ok(Bench { db, base: format!("http://{addr}"), token, user_id: admin.id, home, server })
    }

    /// Stops the server and removes the database.
    pub async fn finish(self) {
        self.server.abort();
        self.db.close().await;
        match self.home {
            Home::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Home::Postgres { server, name } => {
                if let Ok(admin) = Db::connect(&format!("{server}/postgres")).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(admin.pool()).await;
                    admin.close().await;
                }
            }
        }
    }
}

/// Runs the chosen workloads one after another and returns their reports.
pub async fn run(options: &BenchOptions) -> anyhow::Result<Report> {
    let chosen: Vec<&str> = if options.workloads.is_empty() {
        WORKLOADS.iter().map(|(name, _)| *name).collect()
    } else {
        options.workloads.iter().map(String::as_str).collect()
    };
    let mut report = Report::new(options);
    for name in chosen {
        let rows = match name {
            "W1" | "w1" => sales::w1(options, sales::Steps::Separate).await?,
            "W1-then" | "w1-then" => sales::w1(options, sales::Steps::SaveAndApprove).await?,
            "api-mix" => workloads::api_mix(options).await?,
            "stock-post" => stock::stock_post(options).await?,
            "W4" | "w4" => stock::w4(options).await?,
            "engineering" => engineering::engineering(options).await?,
            other => anyhow::bail!(
                "unknown workload {other}; this build has: {}",
                WORKLOADS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        };
        report.rows.extend(rows);
    }
    Ok(report)
}
