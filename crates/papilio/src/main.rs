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

#[allow(clippy::print_stdout)]
fn say(text: &str) {
    println!("{text}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    match cli.command {
        Command::Serve { listen, admin_password, secure_cookies } => {
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
            let mut state = papilio_web::AppState::new(db);
            state.secure_cookies = secure_cookies;
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
        Command::Import { kind, file } => {
            let db = open(&cli.database).await?;
            let _ = (&db, &kind, &file);
            bail!("import is not wired yet");
        }
        Command::Export { kind, file } => {
            let db = open(&cli.database).await?;
            let _ = (&db, &kind, &file);
            bail!("export is not wired yet");
        }
        Command::Openapi => {
            let doc = papilio_web::openapi::document(&papilio_web::standard_documents());
            say(&serde_json::to_string_pretty(&doc)?);
        }
    }
    Ok(())
}
