//! `papilio`: the one binary. It serves the web UI and API and carries the administrative
//! commands (migrations, users, import and export, the OpenAPI document).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use papilio_store::{Db, users};
use tracing_subscriber::EnvFilter;

/// The database used when none is named: a SQLite file in the working directory.
const DEFAULT_DATABASE: &str = "sqlite://papilio.db?mode=rwc";

#[derive(Parser)]
#[command(name = "papilio", version, about = "Papilio, a manufacturing ERP")]
struct Cli {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(long, global = true, env = "PAPILIO_DATABASE_URL", default_value = DEFAULT_DATABASE)]
    database: String,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web UI and the API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PAPILIO_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Password of the administrator created on an empty database (else one is generated
        /// and printed once).
        #[arg(long, env = "PAPILIO_ADMIN_PASSWORD")]
        admin_password: Option<String>,
        /// Mark cookies Secure (when served behind HTTPS).
        #[arg(long)]
        secure_cookies: bool,
        /// Take the client address for login throttling from the first `X-Forwarded-For`
        /// hop (only behind a proxy that sets it).
        #[arg(long)]
        trust_proxy: bool,
        /// Load the demo company first when the database has no items.
        #[arg(long)]
        demo: bool,
    },
    /// Run benchmark workloads against a fresh database and report rates and latencies.
    Bench {
        /// Workloads to run (all when none is named).
        workloads: Vec<String>,
        /// Run on a new database on this PostgreSQL server (postgres://user@host:port)
        /// instead of a temporary SQLite file.
        #[arg(long)]
        postgres: Option<String>,
        /// Concurrent clients.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Longest run per workload, in seconds.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Most requests per workload.
        #[arg(long, default_value_t = 50_000)]
        requests: u64,
        /// Demo scale of the database the workloads run on.
        #[arg(long, default_value_t = 1)]
        scale: u32,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Where the JSON report goes.
        #[arg(long, default_value = "bench-results/bench.json")]
        out: PathBuf,
        /// A quick functional run with tiny sizes (for CI): checks results, not speed.
        #[arg(long)]
        smoke: bool,
        /// Ledger rows the W4 workload generates (default 1,000,000; 20,000 with --smoke).
        #[arg(long)]
        ledger_rows: Option<u64>,
    },
    /// Load the demo company (蝴蝶电器, a fan maker) into an empty database.
    Demo {
        /// Seed of the generated data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// 1 for the showroom company; N adds (N-1)×1,000 parts and (N-1)×100 customers.
        #[arg(long, default_value_t = 1)]
        scale: u32,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Import master data from a CSV or XLSX file: all rows or none.
    Import {
        /// Entity kind (item, customer, supplier...).
        kind: String,
        /// The file (.csv or .xlsx).
        file: PathBuf,
        /// User the audit trail names (default: the first administrator).
        #[arg(long)]
        user: Option<String>,
    },
    /// Export master data to a CSV or XLSX file.
    Export {
        /// Entity kind.
        kind: String,
        /// The file to write (.csv or .xlsx).
        file: PathBuf,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user.
    Add {
        /// Sign-in name.
        username: String,
        /// Roles, comma-separated (e.g. salesperson,buyer).
        #[arg(long, value_delimiter = ',', default_value = "")]
        roles: Vec<String>,
        /// Display name (defaults to the user name).
        #[arg(long)]
        name: Option<String>,
        /// Password (else one is generated and printed).
        #[arg(long, env = "PAPILIO_USER_PASSWORD")]
        password: Option<String>,
        /// `zh-CN` or `en`.
        #[arg(long, default_value = "zh-CN")]
        locale: String,
    },
    /// Set a user's password.
    Passwd {
        /// Sign-in name.
        username: String,
        /// New password (else one is generated and printed).
        #[arg(long, env = "PAPILIO_USER_PASSWORD")]
        password: Option<String>,
    },
    /// List users.
    List,
}

fn init_logging(json: bool) {
    let filter =
        EnvFilter::try_from_env("PAPILIO_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// A random password of 16 characters that are easy to read aloud.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..16)
        .map(|_| {
            let i = usize::from(rand::random::<u8>()) % ALPHABET.len();
            char::from(ALPHABET.get(i).copied().unwrap_or(b'x'))
        })
        .collect()
}

/// Connects, migrates and seeds what every database needs (roles, company, periods).
async fn open(url: &str) -> anyhow::Result<Db> {
    let db = Db::connect(url).await.with_context(|| format!("cannot open database {url}"))?;
    db.migrate().await.context("migrations failed")?;
    users::seed_roles(&db).await?;
    papilio_store::company::ensure_company(&db, chrono_today()).await?;
    Ok(db)
}

fn chrono_today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn say(text: &str) {
    use std::io::Write;
    // A closed pipe (`papilio openapi | head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// Loads the demo company and prints its users. With `skip_if_loaded`, a database that already
/// has items is left as it is (so `serve --demo` can be run again on the same file).
async fn load_demo(
    db: &Db,
    options: papilio_demo::DemoOptions,
    skip_if_loaded: bool,
) -> anyhow::Result<()> {
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    let progress = |kind: &str, rows: u64| bar.set_message(format!("{kind}: {rows} rows"));
    match papilio_demo::load(db, options, &progress).await {
        Ok(summary) => {
            bar.finish_and_clear();
            let docs = summary.rows.get("stock_document").copied().unwrap_or(0);
            let total: u64 = summary.rows.values().sum::<u64>() - docs;
            say(&format!(
                "Loaded the demo company: {total} master-data rows, {docs} stock documents."
            ));
            say(&format!("Demo users (password '{}'):", papilio_demo::DEMO_PASSWORD));
            for (user, role) in &summary.users {
                say(&format!("  {user:<22} {role}"));
            }
            Ok(())
        }
        Err(papilio_demo::DemoError::NotEmpty) if skip_if_loaded => {
            bar.finish_and_clear();
            say("The database already has data; the demo was not loaded again.");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The master-data entity called `kind`.
fn entity_def(kind: &str) -> anyhow::Result<&'static papilio_core::schema::EntityDef> {
    papilio_core::entities::by_kind(kind).with_context(|| {
        let kinds: Vec<&str> = papilio_core::entities::ALL.iter().map(|d| d.kind).collect();
        format!("unknown kind {kind}; one of: {}", kinds.join(", "))
    })
}

/// Imports `file` into `kind` as `user` (default: the first administrator), with a progress
/// bar on a terminal. A refused file prints its problems and fails.
async fn import_file(
    db: &Db,
    kind: &str,
    file: &std::path::Path,
    user: Option<&str>,
) -> anyhow::Result<usize> {
    use papilio_web::transfer::{self, FileFormat, Phase, Upload};
    let def = entity_def(kind)?;
    let users = users::list_users(db).await?;
    let actor = match user {
        Some(name) => users.iter().find(|u| u.username == name),
        None => users
            .iter()
            .filter(|u| u.active && u.roles.iter().any(|r| r == "administrator"))
            .min_by_key(|u| u.id),
    };
    let Some(actor) = actor else {
        bail!("no such user {}; name one with --user", user.unwrap_or("(administrator)"));
    };
    let size =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if size.len() > u64::try_from(transfer::MAX_FILE_BYTES).unwrap_or(u64::MAX) {
        bail!(
            "{} is larger than {} MB; split it into smaller files",
            file.display(),
            transfer::MAX_FILE_MB
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let Some(format) = FileFormat::detect(Some(&name), None, &bytes) else {
        bail!("{}: the file must be a .csv or .xlsx file", file.display());
    };

    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let style =
        indicatif::ProgressStyle::with_template("{msg:9} [{bar:40}] {pos}/{len} rows ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    let shown = bar.clone();
    let progress: transfer::Progress = std::sync::Arc::new(move |phase, done, total| {
        shown.set_message(match phase {
            Phase::Reading => "reading",
            Phase::Checking => "checking",
            Phase::Writing => "writing",
        });
        shown.set_length(u64::try_from(total).unwrap_or(0));
        shown.set_position(u64::try_from(done).unwrap_or(0));
    });
    let upload = Upload { name, format, bytes };
    let result = transfer::import(db, def, upload, actor.id, progress).await;
    bar.finish_and_clear();
    match result {
        Ok(n) => Ok(n),
        Err(papilio_web::error::AppError::ImportRefused { kind, errors }) => {
            for e in &errors {
                eprintln!("{}", e.message("en", &kind));
            }
            bail!("nothing was imported: {} has the problems above", file.display())
        }
        Err(e) => bail!("{}", e.message("en")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match cli.command {
        Command::Serve { listen, admin_password, secure_cookies, trust_proxy, demo } => {
            let db = open(&cli.database).await?;
            if users::count_users(&db).await? == 0 {
                let (password, generated) = match admin_password {
                    Some(p) => (p, false),
                    None => (generate_password(), true),
                };
                users::create_user(
                    &db,
                    "admin",
                    "Administrator",
                    &password,
                    "zh-CN",
                    &["administrator".to_owned()],
                    None,
                )
                .await
                .context("cannot create the administrator")?;
                if generated {
                    say(&format!(
                        "Created user 'admin' with password: {password}\n(shown once; change it with `papilio user passwd admin`)"
                    ));
                } else {
                    say("Created user 'admin' with the password given.");
                }
            }
            if demo {
                load_demo(&db, papilio_demo::DemoOptions::default(), true).await?;
            }
            let mut state = papilio_web::AppState::new(db);
            state.secure_cookies = secure_cookies;
            state.trust_proxy = trust_proxy;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            say(&format!("Papilio is serving on http://{}", listener.local_addr()?));
            axum::serve(
                listener,
                papilio_web::app(state).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        }
        Command::Bench {
            workloads,
            postgres,
            concurrency,
            seconds,
            requests,
            scale,
            seed,
            out,
            smoke,
            ledger_rows,
        } => {
            let mut options = papilio_bench::BenchOptions {
                workloads,
                postgres,
                concurrency,
                duration: std::time::Duration::from_secs(seconds),
                requests,
                scale,
                seed,
                smoke,
                ledger_rows,
            };
            if smoke {
                options.concurrency = options.concurrency.min(4);
                options.requests = options.requests.min(400);
                options.duration = options.duration.min(std::time::Duration::from_secs(30));
            }
            let report = papilio_bench::run(&options).await?;
            say(&report.table());
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&out, serde_json::to_string_pretty(&report.json())?)?;
            say(&format!("JSON report written to {}", out.display()));
        }
        Command::Demo { seed, scale } => {
            let db = open(&cli.database).await?;
            load_demo(&db, papilio_demo::DemoOptions { seed, scale }, false).await?;
        }
        Command::Migrate => {
            open(&cli.database).await?;
            say("Database is up to date.");
        }
        Command::User { command } => {
            let db = open(&cli.database).await?;
            match command {
                UserCommand::Add { username, roles, name, password, locale } => {
                    let roles: Vec<String> = roles.into_iter().filter(|r| !r.is_empty()).collect();
                    let (password, generated) = match password {
                        Some(p) => (p, false),
                        None => (generate_password(), true),
                    };
                    let display = name.unwrap_or_else(|| username.clone());
                    users::create_user(&db, &username, &display, &password, &locale, &roles, None)
                        .await?;
                    if generated {
                        say(&format!("Created user '{username}' with password: {password}"));
                    } else {
                        say(&format!("Created user '{username}'."));
                    }
                }
                UserCommand::Passwd { username, password } => {
                    let (password, generated) = match password {
                        Some(p) => (p, false),
                        None => (generate_password(), true),
                    };
                    users::set_password(&db, &username, &password, None).await?;
                    if generated {
                        say(&format!("New password for '{username}': {password}"));
                    } else {
                        say(&format!("Password of '{username}' changed."));
                    }
                }
                UserCommand::List => {
                    for u in users::list_users(&db).await? {
                        let state = if u.active { "active" } else { "inactive" };
                        say(&format!(
                            "{:<20} {:<24} {:<6} {:<8} {}",
                            u.username,
                            u.display_name,
                            u.locale,
                            state,
                            u.roles.join(",")
                        ));
                    }
                }
            }
        }
        Command::Import { kind, file, user } => {
            let db = open(&cli.database).await?;
            let n = import_file(&db, &kind, &file, user.as_deref()).await?;
            say(&format!("Imported {n} rows from {}.", file.display()));
        }
        Command::Export { kind, file } => {
            use papilio_web::transfer::{self, FileFormat};
            let db = open(&cli.database).await?;
            let def = entity_def(&kind)?;
            let Some(format) = FileFormat::from_name(&file.to_string_lossy()) else {
                bail!("{}: the file name must end in .csv or .xlsx", file.display());
            };
            let q =
                papilio_store::master::ListQuery { page: 1, per_page: 500, ..Default::default() };
            let exported = transfer::export(&db, def, &q, format)
                .await
                .map_err(|e| anyhow::anyhow!(e.message("en")))?;
            std::fs::write(&file, &exported.bytes)
                .with_context(|| format!("cannot write {}", file.display()))?;
            say(&format!("Exported {} rows to {}.", exported.rows, file.display()));
        }
        Command::Openapi => {
            let doc = papilio_web::openapi::document(&papilio_web::standard_documents());
            say(&serde_json::to_string_pretty(&doc)?);
        }
    }
    Ok(())
}
