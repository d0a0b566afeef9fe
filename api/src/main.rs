//! The `planledger` binary: serve, migrate, import, token, verify-log, openapi.

use clap::{Args, Parser, Subcommand};
use planledger_api::auth::{Authenticator, IdentityProvider, JwtSettings};
use planledger_api::telemetry::{self, LogFormat};
use planledger_api::webhooks::{parse_schedule, WebhookSettings};
use planledger_api::{Settings, DEMO_DATA};
use planledger_domain::ids::OrganizationId;
use planledger_domain::import::read_document;
use planledger_domain::permissions::Role;
use planledger_persistence::{Caller, PoolOptions, Store};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "planledger",
    version,
    about = "The system of record for regions' and municipalities' action plans"
)]
struct Cli {
    #[command(flatten)]
    database: DatabaseArgs,
    #[arg(
        long,
        env = "PLANLEDGER_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct DatabaseArgs {
    /// `sqlite://FILE` (the embedded default) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://planledger.db", global = true)]
    database_url: String,
    /// Largest number of database connections [default: 4 a core].
    #[arg(long, env = "PLANLEDGER_DB_POOL_SIZE", global = true)]
    db_pool_size: Option<u32>,
    /// PostgreSQL: how long one statement may run, waiting for a lock included, before it is
    /// cancelled and the request answered 503: seconds, or 30s, 2m; 0: no limit.
    #[arg(long, env = "PLANLEDGER_DB_STATEMENT_TIMEOUT", default_value = "30s", global = true)]
    db_statement_timeout: String,
}

#[derive(Args)]
struct JwtArgs {
    /// HS256 secret for bearer tokens, at least 32 bytes. Without it `serve` makes one
    /// that lives as long as the process.
    #[arg(long, env = "PLANLEDGER_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    #[arg(long, env = "PLANLEDGER_JWT_ISSUER", default_value = "planledger")]
    jwt_issuer: String,
    #[arg(long, env = "PLANLEDGER_JWT_AUDIENCE", default_value = "planledger")]
    jwt_audience: String,
    /// PEM file with the public key (RSA: RS256, EC P-256: ES256) of a region's identity
    /// provider whose tokens are accepted besides this service's own.
    #[arg(long, env = "PLANLEDGER_JWT_PUBLIC_KEY", requires = "jwt_public_key_issuer")]
    jwt_public_key: Option<std::path::PathBuf>,
    /// The `iss` of the identity provider's tokens.
    #[arg(long, env = "PLANLEDGER_JWT_PUBLIC_KEY_ISSUER")]
    jwt_public_key_issuer: Option<String>,
    /// Lifetime of the tokens API clients get: seconds, or 30m, 1h.
    #[arg(long, env = "PLANLEDGER_CLIENT_TOKEN_TTL", default_value = "15m")]
    client_token_ttl: String,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (migrates the database first).
    Serve {
        #[arg(long, env = "PLANLEDGER_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
        /// Serve public material without a token.
        #[arg(long, env = "PLANLEDGER_PUBLIC_READ", default_value_t = true, action = clap::ArgAction::Set)]
        public_read: bool,
        /// Largest request body in bytes.
        #[arg(long, env = "PLANLEDGER_BODY_LIMIT", default_value_t = 10 * 1024 * 1024)]
        body_limit: usize,
        /// Comma-separated origins browsers may call from, exact, e.g.
        /// `https://plan.example.se,http://localhost:5173`; empty: no CORS.
        #[arg(long, env = "PLANLEDGER_CORS_ORIGINS")]
        cors_origins: Option<String>,
        /// Requests per second one caller (token subject and organization, else
        /// client address) may make, sustained; 0 turns rate limiting off.
        #[arg(long, env = "PLANLEDGER_RATE_LIMIT", default_value_t = 50)]
        rate_limit: u32,
        /// Requests one caller may make at once before the rate applies.
        #[arg(long, env = "PLANLEDGER_RATE_BURST", default_value_t = 100)]
        rate_burst: u32,
        /// Take the client address from the last `X-Forwarded-For` entry (only behind a proxy that sets it).
        #[arg(long, env = "PLANLEDGER_TRUST_FORWARDED", default_value_t = false, action = clap::ArgAction::Set)]
        trust_forwarded: bool,
        /// Delays before each attempt at delivering an event to a webhook, comma-separated
        /// (ms, s, m, h, d); the first attempt is immediate, and when the last fails the
        /// subscription is disabled.
        #[arg(
            long,
            env = "PLANLEDGER_WEBHOOK_RETRY_SCHEDULE",
            default_value = "0s,5s,5m,30m,2h,5h,10h,10h"
        )]
        webhook_retry_schedule: String,
        /// Import the demo plans (Region Jämtland Härjedalen) and print an admin token.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        jwt: JwtArgs,
    },
    /// Run pending migrations and exit.
    Migrate,
    /// Import plans from a file in the import format.
    Import { file: std::path::PathBuf },
    /// Bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Recompute the event log's hash chain; exits 1 if it is broken.
    VerifyLog,
    /// Print the OpenAPI document.
    Openapi,
    /// Benchmark data: real activity status changes, each with its event, applied through
    /// the same write path as `PATCH /v1/activities/{id}` in transactions of `batch`
    /// changes, until the log holds `events` events.
    #[command(hide = true)]
    BenchFill {
        #[arg(long, default_value_t = 1_000_000)]
        events: i64,
        #[arg(long, default_value_t = 5000)]
        batch: usize,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token for an organization (by id or code) with roles.
    Issue {
        /// Organization id or code, e.g. `SE` for the root.
        #[arg(long)]
        org: String,
        /// Comma-separated roles: reader, editor, approver, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Lifetime: seconds, or with a unit: 30m, 12h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The token's subject.
        #[arg(long, default_value = "planledger-cli")]
        sub: String,
        #[command(flatten)]
        jwt: JwtArgs,
    },
}

/// A failure that stops the command with one clear line.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure(error.to_string())
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    telemetry::init_tracing(cli.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(Failure(message)) => {
            eprintln!("planledger: {message}");
            ExitCode::from(2)
        }
    }
}

/// glibc gives threads that allocate at once their own heaps (arenas), up to eight a core, and
/// each keeps what a burst of requests freed on it: with the blocking threads that run store
/// calls, that was 20 MB or more of peak memory. Two a core keep most of the speed.
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let arenas = libc::c_int::try_from(2 * cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets an allocator parameter; it is called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

fn open_store(database: &DatabaseArgs) -> Result<Store, Failure> {
    let defaults = PoolOptions::default();
    let options = PoolOptions {
        max_size: database.db_pool_size.unwrap_or(defaults.max_size).max(1),
        statement_timeout: parse_duration("--db-statement-timeout", &database.db_statement_timeout)?,
        ..defaults
    };
    let store = Store::open(&database.database_url, options)?;
    store.migrate()?;
    Ok(store)
}

fn jwt_settings(args: JwtArgs, allow_generated: bool) -> Result<JwtSettings, Failure> {
    let secret = match args.jwt_secret {
        Some(secret) if secret.len() >= 32 => secret.into_bytes(),
        Some(_) => return Err(Failure("PLANLEDGER_JWT_SECRET must be at least 32 bytes".into())),
        None if allow_generated => {
            tracing::warn!(
                "PLANLEDGER_JWT_SECRET is not set: tokens are signed with a secret that lives as long as this process"
            );
            format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()).into_bytes()
        }
        None => return Err(Failure("PLANLEDGER_JWT_SECRET is not set".into())),
    };
    let identity_provider = match (args.jwt_public_key, args.jwt_public_key_issuer) {
        (Some(path), Some(issuer)) => {
            let pem = std::fs::read(&path).map_err(|e| {
                Failure(format!(
                    "PLANLEDGER_JWT_PUBLIC_KEY: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            Some(
                IdentityProvider::from_pem(issuer, &pem)
                    .map_err(|e| Failure(format!("PLANLEDGER_JWT_PUBLIC_KEY: {e}")))?,
            )
        }
        (None, Some(_)) => {
            return Err(Failure(
                "PLANLEDGER_JWT_PUBLIC_KEY_ISSUER needs PLANLEDGER_JWT_PUBLIC_KEY".into(),
            ))
        }
        _ => None,
    };
    Ok(JwtSettings {
        secret,
        issuer: args.jwt_issuer,
        audience: args.jwt_audience,
        identity_provider,
        client_token_ttl: parse_duration("--client-token-ttl", &args.client_token_ttl)?,
    })
}

fn parse_duration(option: &str, text: &str) -> Result<Duration, Failure> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number
        .parse()
        .map_err(|_| Failure(format!("{option} {text:?} is not a duration like 3600, 30m, 12h or 7d")))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(Failure(format!(
                "{option} {text:?} has an unknown unit; use s, m, h or d"
            )))
        }
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Serve {
            bind,
            public_read,
            body_limit,
            cors_origins,
            rate_limit,
            rate_burst,
            trust_forwarded,
            webhook_retry_schedule,
            demo,
            jwt,
        } => {
            let settings = Settings {
                bind,
                jwt: jwt_settings(jwt, true)?,
                public_read,
                body_limit,
                cors_origins: planledger_api::guard::parse_origins(cors_origins.as_deref().unwrap_or_default())
                    .map_err(Failure)?,
                rate_limit,
                rate_burst,
                trust_forwarded,
                webhooks: WebhookSettings {
                    retry_schedule: parse_schedule(&webhook_retry_schedule)
                        .map_err(|e| Failure(format!("PLANLEDGER_WEBHOOK_RETRY_SCHEDULE: {e}")))?,
                    ..WebhookSettings::default()
                },
            };
            let store = open_store(&cli.database)?;
            if demo {
                let document = read_document(&serde_json::from_str(DEMO_DATA)?)
                    .map_err(|errors| Failure(format!("the demo data does not read: {errors:?}")))?;
                let summary = store.import_plans(&Caller::System, document)?;
                tracing::info!(
                    plans_created = summary.plans.created,
                    plans_unchanged = summary.plans.unchanged,
                    "demo data imported"
                );
            }
            serve(settings, store, demo)
        }
        Command::Migrate => {
            let options = PoolOptions {
                max_size: 1,
                ..PoolOptions::default()
            };
            let ran = Store::open(&cli.database.database_url, options)?.migrate()?;
            println!("{ran} migrations ran");
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { file } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| Failure(format!("cannot read {}: {e}", file.display())))?;
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| Failure(format!("{} is not JSON: {e}", file.display())))?;
            let document = match read_document(&value) {
                Ok(document) => document,
                Err(errors) => {
                    for error in &errors {
                        eprintln!("{}: {}", error.field, error.message);
                    }
                    return Err(Failure(format!(
                        "{} breaks the import format; nothing was imported",
                        file.display()
                    )));
                }
            };
            let summary = open_store(&cli.database)?.import_plans(&Caller::System, document)?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command:
                TokenCommand::Issue {
                    org,
                    roles,
                    ttl,
                    sub,
                    jwt,
                },
        } => {
            let settings = jwt_settings(jwt, false)?;
            let roles = roles
                .iter()
                .map(|role| {
                    Role::parse(role.trim())
                        .ok_or_else(|| Failure(format!("unknown role {role:?}; use reader, editor, approver, admin")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let store = open_store(&cli.database)?;
            let organization = store
                .organization_by_id_or_code(&org)?
                .ok_or_else(|| Failure(format!("no organization with id or code {org:?}")))?;
            let token =
                Authenticator::new(settings).issue(&sub, &organization.id, &roles, parse_duration("--ttl", &ttl)?)?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyLog => {
            let verification = open_store(&cli.database)?.verify_log()?;
            println!("{}", serde_json::to_string(&verification)?);
            Ok(if verification.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Openapi => {
            print!("{}", planledger_api::api_doc_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::BenchFill { events, batch } => bench_fill(&open_store(&cli.database)?, events, batch.max(1)),
    }
}

/// Moves activities round a cycle of statuses (planned, in progress, postponed, done; a
/// cancelled one is final and left alone) until the log's head reaches `target`.
fn bench_fill(store: &Store, target: i64, batch: usize) -> Result<ExitCode, Failure> {
    use planledger_domain::activity::ActivityStatus;
    const CYCLE: [ActivityStatus; 4] = [
        ActivityStatus::Planned,
        ActivityStatus::InProgress,
        ActivityStatus::Postponed,
        ActivityStatus::Done,
    ];
    let started = std::time::Instant::now();
    let mut activities = store.activity_statuses()?;
    activities.retain(|(_, status)| *status != ActivityStatus::Cancelled);
    if activities.is_empty() {
        return Err(Failure("no activity to change; import plans first".into()));
    }
    let first_head = store.head_seq()?;
    let mut head = first_head;
    let mut next = 0;
    while head < target {
        let wanted = usize::try_from(target - head).unwrap_or(usize::MAX).min(batch);
        let mut patches = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            let count = activities.len();
            let (id, status) = &mut activities[next];
            next = (next + 1) % count;
            let position = CYCLE.iter().position(|s| s == status).unwrap_or(0);
            *status = CYCLE[(position + 1) % CYCLE.len()];
            patches.push((id.clone(), *status, Some("Uppföljning (benchmark data)".to_owned())));
        }
        head += store.change_activity_statuses(&Caller::System, &patches)? as i64;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "events_appended": head - first_head,
            "head_seq": head,
            "seconds": seconds,
            "events_per_second": (head - first_head) as f64 / seconds.max(1e-9),
        })
    );
    Ok(ExitCode::SUCCESS)
}

fn serve(settings: Settings, store: Store, demo: bool) -> Result<ExitCode, Failure> {
    let backend = store.backend();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let running = planledger_api::start(&settings, store)?;
        let url = format!("http://{}", running.address);
        tracing::info!(%url, backend = backend.name(), "planledger is serving");
        if demo {
            let token = Authenticator::new(settings.jwt.clone()).issue(
                "demo-admin",
                &OrganizationId::root(),
                &Role::ALL,
                Duration::from_secs(24 * 3600),
            )?;
            println!("planledger is serving the demo plans at {url}");
            println!("API docs:     {url}/docs/");
            println!("Plans:        curl {url}/v1/plans");
            println!("Admin token (all roles, root organization, 24 h):");
            println!("export TOKEN={token}");
        }
        running.server.await?;
        Ok::<_, Failure>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
