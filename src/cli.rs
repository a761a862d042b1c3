//! The `tanis` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Process};
use crate::domain::{Phone, Role, UserId};
use crate::phones::PhoneVault;
use crate::startup::{self, Application};
use crate::store::Store;
use crate::telemetry;

#[derive(Parser)]
#[command(name = "tanis", version, about = "Anonymous text and video matching chat server")]
struct Cli {
    /// A TOML configuration file; `TANIS_*` environment variables override it.
    #[arg(long, global = true, env = "TANIS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (with no configuration: SQLite in ./data, listening on 127.0.0.1:8080).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Copy the SQLite database (consistently, while tanis runs) and the keys generated in the data directory into
    /// DESTINATION, a new directory from which tanis starts as from its data directory (docs/operations.md,
    /// "Backups"). On PostgreSQL, use base backups with WAL archiving instead.
    Backup {
        /// A directory that does not exist yet (or is empty).
        destination: std::path::PathBuf,
    },
    /// Run only the background jobs (set `jobs.enabled = false` on the serving nodes).
    Worker,
    /// Development helpers (refused in production mode).
    #[command(subcommand)]
    Dev(DevCommand),
    /// Phone numbers at rest (docs/operations.md, "Phone numbers").
    #[command(subcommand)]
    Phones(PhonesCommand),
    /// Statements of reasons (docs/admin.md "Statements of reasons").
    #[command(subcommand)]
    Statements(StatementsCommand),
    /// Give an account a role: user, moderator or admin.
    SetRole {
        /// The account's phone number.
        phone: String,
        role: Role,
    },
}

#[derive(Subcommand)]
enum DevCommand {
    /// Create N accounts sharing one precomputed password hash (for the load generator), and write
    /// `<user id> <phone> <access token>` lines to FILE. Tokens are valid for 24 hours.
    SeedUsers {
        count: usize,
        /// Where to write the accounts and their access tokens.
        #[arg(long)]
        out: PathBuf,
        /// The shared password (so a login storm can use the seeded accounts).
        #[arg(long, default_value = "bench-password-1")]
        password: String,
        #[arg(long, default_value = "bench")]
        prefix: String,
    },
}

#[derive(Subcommand)]
enum PhonesCommand {
    /// Reseal every phone number under `phones.encryption_key` and rebuild every blind index under
    /// `phones.index_key`, opening the old rows with `phones.previous_encryption_keys` (and finding them with
    /// `phones.previous_index_key`). Safe beside running servers and safe to repeat; afterwards the previous
    /// keys can be removed from the configuration.
    RotateKey,
}

#[derive(Subcommand)]
enum StatementsCommand {
    /// Write the statements of the UTC days FROM to TO (included, at most 366 days apart) to standard output as
    /// JSON Lines, the same lines as `GET /v1/admin/statements` (no personal data); audited.
    Export {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day, YYYY-MM-DD.
        #[arg(long)]
        to: chrono::NaiveDate,
    },
}

/// `set-role`'s argument: the domain's roles, spelled as they are stored.
impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &Role::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let process = match cli.command {
        Command::Worker => Process::Worker,
        Command::Migrate => Process::Migration,
        _ => Process::Node,
    };
    let config = match Config::load_for(cli.config.as_deref(), process) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tanis: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logs(config.log_format);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.runtime_workers(cores))
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("tanis: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(config).await,
        Command::Worker => {
            // No phone keys: the worker reads no number (Process::Worker), so it neither checks them nor seals.
            let store = startup::open_store(&config, None).await?;
            let clock: crate::clock::SharedClock = std::sync::Arc::new(SystemClock);
            let shutdown = tokio_util::sync::CancellationToken::new();
            // Without Redis this process reaches no socket; with it, bans and expiries reach every node.
            let delivery = startup::delivery(&config, Default::default(), shutdown.clone()).await?;
            let push = crate::push::client(&config.push)?;
            let live = crate::jobs::Detached { store: store.clone(), clock: clock.clone(), delivery, push };
            let ctx = crate::jobs::context(store.clone(), live, clock, &config);
            let storage =
                crate::jobs::storage(&store, &config).await.map_err(|e| anyhow::anyhow!("job storage: {e}"))?;
            tokio::spawn(startup::cancel_on_signal(shutdown.clone()));
            tracing::info!("running background jobs");
            startup::run_workers(ctx, storage, shutdown).await;
            store.close().await;
            Ok(())
        }
        Command::Migrate => {
            let (store, _) = open(&config).await?;
            // Today's message partitions and the ones ahead, so that a deploy's migration job leaves a database
            // every node can write to (each node also checks them at its start).
            store.ensure_partitions(SystemClock.now()).await?;
            tracing::info!(database = %startup::redact(&config.effective_database_url()), "migrations applied");
            Ok(())
        }
        Command::Backup { destination } => {
            let copied = crate::backup::backup(&config, &destination).await?;
            tracing::info!(destination = %destination.display(), keys = ?copied.keys, "backup written");
            if !copied.configured.is_empty() {
                tracing::warn!(
                    configured = ?copied.configured,
                    "these secrets are configured, not generated, and are not in the backup: keep them with it"
                );
            }
            Ok(())
        }
        Command::Dev(DevCommand::SeedUsers { count, out, password, prefix }) => {
            if config.production {
                anyhow::bail!("dev seed-users is refused in production mode");
            }
            seed_users(&config, count, &out, &password, &prefix).await
        }
        Command::Phones(PhonesCommand::RotateKey) => rotate_phone_keys(&config).await,
        Command::Statements(StatementsCommand::Export { from, to }) => {
            let range = crate::statements::day_range(from, to)
                .ok_or_else(|| anyhow::anyhow!("--from must not be after --to, and at most 366 days before it"))?;
            let (store, _) = open(&config).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let now = SystemClock.now();
            let lines = crate::statements::export(&store, &config.moderation, range, None, now, &mut out).await?;
            std::io::Write::flush(&mut out)?;
            tracing::info!(lines, "statements exported");
            store.close().await;
            Ok(())
        }
        Command::SetRole { phone, role } => {
            let (store, phones) = open(&config).await?;
            let phone = Phone::parse(&phone).map_err(|e| anyhow::anyhow!("{e}"))?;
            let user =
                store.user_by_phone(&phones.lookup(&phone)).await?.ok_or_else(|| anyhow::anyhow!("no such account"))?;
            store.set_role(user.id, role, SystemClock.now()).await?;
            tracing::info!(user_id = user.id.get(), role = role.as_str(), "role set");
            Ok(())
        }
    }
}

async fn seed_users(
    config: &Config,
    count: usize,
    out: &std::path::Path,
    password: &str,
    prefix: &str,
) -> anyhow::Result<()> {
    use std::io::Write;
    let (store, vault) = open(config).await?;
    let now = SystemClock.now();
    let hash = bcrypt::hash(password, config.auth.bcrypt_cost)?;
    let day = now.with_timezone(&config.quotas.zone()).date_naive().to_string();
    let phones: Vec<String> = (0..count).map(crate::store::seed_phone).collect();
    let sealed = phones
        .iter()
        .map(|p| Phone::parse(p).map(|phone| vault.seal(&phone)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| anyhow::anyhow!("seeded phone numbers run out at 10 000 000 users"))?;
    let version = &config.auth.privacy_notice_version;
    let ids = store.seed_users(prefix, &sealed, &hash, version, &day, now).await?;
    let users: Vec<(UserId, &String)> = ids.into_iter().zip(&phones).collect();
    let secret = crate::secrets::jwt_secret(config.auth.jwt_secret.as_deref(), &config.data_dir)?;
    let keys = crate::auth::JwtKeys::new(&secret, chrono::TimeDelta::hours(24));
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    for (id, phone) in &users {
        // A real session each, so the token is one the server accepts and a sign-out or ban reaches it.
        let token = crate::accounts::seeded_session(&store, &keys, *id, now).await?;
        writeln!(file, "{id} {phone} {token}")?;
    }
    file.flush()?;
    tracing::info!(count = users.len(), out = %out.display(), "seeded users");
    Ok(())
}

/// The database as every command opens it: migrated, its phone keys checked, any plaintext phones sealed.
async fn open(config: &Config) -> anyhow::Result<(Store, PhoneVault)> {
    let phones = PhoneVault::load(&config.phones, &config.data_dir)?;
    Ok((startup::open_store(config, Some(&phones)).await?, phones))
}

/// `tanis phones rotate-key`: opening the store has already sealed any plaintext and checked that the keys fit.
async fn rotate_phone_keys(config: &Config) -> anyhow::Result<()> {
    let (store, phones) = open(config).await?;
    let report = crate::reseal::rotate(&store, &phones).await?;
    for column in &report {
        tracing::info!(column = column.column.name(), examined = column.examined, resealed = column.resealed, "phones");
    }
    let resealed: u64 = report.iter().map(|c| c.resealed).sum();
    let examined: u64 = report.iter().map(|c| c.examined).sum();
    tracing::info!(
        examined,
        resealed,
        key_id = %phones.key_id(),
        "phone numbers resealed; the previous phone keys can now be removed from the configuration"
    );
    store.close().await;
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let data_dir = std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let database = startup::redact(&config.effective_database_url());
    // At every start, where an operator reads: video goes without an assured age, and why (docs/operations.md).
    if let Some(waiver) = config.age_assurance.video_waiver() {
        tracing::warn!(waiver, "video is offered without asking an assured age: age_assurance.waiver");
    }
    crate::descriptors::raise_limit();
    let app = Application::build(config).await?;
    tracing::info!(address = %app.local_addr(), data_dir = %data_dir.display(), %database, "tanis is listening");
    tokio::spawn(startup::stop_on_signal(app.stopper()));
    app.run_until_stopped().await?;
    Ok(())
}
