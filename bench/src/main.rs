//! `tanis-bench`: command line over the scenarios in the library. Progress goes to stderr every second; the
//! result is JSON (stdout or `--json FILE`) and one Markdown table row (stderr, or appended to `--markdown FILE`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tanis_bench::connections::{self, ConnectionsOptions};
use tanis_bench::cpu::CpuWatch;
use tanis_bench::echo::{self, EchoOptions};
use tanis_bench::hold::{self, HoldArgs, HoldOptions};
use tanis_bench::login_storm::{self, LoginStormOptions};
use tanis_bench::matching::{self, MatchingOptions};
use tanis_bench::mix::{self, MixArgs, MixOptions};
use tanis_bench::open_loop::{self, OpenLoopOptions};
use tanis_bench::relay::{self, RelayOptions};
use tanis_bench::turn_churn::{self, TurnChurnOptions};
use tanis_bench::{Report, load_users};

#[derive(Parser)]
#[command(name = "tanis-bench", about = "Load generator for a tanis server on loopback")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    output: Output,
}

#[derive(Args)]
struct Output {
    /// Write the JSON result here instead of stdout.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Append the Markdown row here (with a header when the file is new) instead of stderr.
    #[arg(long, global = true)]
    markdown: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct Target {
    /// Seeded users: lines `<user_id> <phone> <access_token>` from `tanis dev seed-users`.
    #[arg(long)]
    users: PathBuf,
    /// The server; relay, matching, login-storm, mix and hold also take several nodes of one cluster,
    /// comma-separated.
    #[arg(long, default_value = "ws://127.0.0.1:8080/v1/ws")]
    url: String,
    /// A server process whose CPU is read at the start and end of the window; repeat it for every node.
    /// connections also reads its memory (one process only).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Also count the CPU of every process with this name, e.g. `postgres` (all its backends); repeatable.
    #[arg(long = "db-processes")]
    db_processes: Vec<String>,
    /// The protocol version the clients offer: 2 (cumulative acknowledgements riding on sends, one `msg.ack`
    /// per conversation per 150 ms otherwise) or 1 (one `msg.ack` per message, as before version 2), for an A/B
    /// against a server that predates version 2 (which selects 1 whatever is offered). Not `TANIS_…`: bench/run.sh
    /// passes its environment to the server, which refuses `TANIS_` keys it does not know.
    #[arg(long, env = "BENCH_PROTOCOL", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=2))]
    protocol: u32,
}

impl Target {
    fn urls(&self) -> Vec<String> {
        self.url.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect()
    }

    fn cpu(&self) -> CpuWatch {
        CpuWatch { server_pids: self.server_pids.clone(), db_processes: self.db_processes.clone() }
    }

    /// `connections` measures one server process's memory: one URL only.
    fn single_url(&self) -> anyhow::Result<String> {
        match self.urls().as_slice() {
            [url] => Ok(url.clone()),
            _ => anyhow::bail!("this scenario takes exactly one --url, not {:?}", self.url),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// N authenticated idle sockets; server memory per socket.
    Connections {
        count: usize,
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 5)]
        hold_secs: u64,
        #[arg(long, default_value_t = 500)]
        concurrency: usize,
    },
    /// P text matches exchanging E2E messages, K in flight per side, every message acknowledged by its receiver;
    /// send → msg.accepted and send → peer's msg.
    Relay {
        pairs: usize,
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 10)]
        in_flight: usize,
        #[arg(long, default_value_t = 5)]
        duration_secs: u64,
    },
    /// P text pairs offered R messages a second in all (Poisson arrivals, whatever the answers do), every message
    /// acknowledged by its receiver; scheduled send → msg.accepted and → peer's msg.
    OpenLoop {
        pairs: usize,
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
    },
    /// U users looping find → found → leave; matches/s and time to match.
    Matching {
        users_count: usize,
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 5)]
        duration_secs: u64,
        /// Give each user N interests out of the vocabulary's first POOL (`N/POOL`, e.g. `3/50`) before the run.
        #[arg(long)]
        interests: Option<String>,
        /// Give each user N languages out of the first POOL of `tr en de fr es ar ru it` (`N/POOL`, e.g. `2/4`).
        #[arg(long)]
        languages: Option<String>,
        /// How every `match.find` matches on interests: off, prefer or only.
        #[arg(long, default_value = "off")]
        interest_matching: String,
        /// Every user declares a gender (woman and man alternately) and this share of them (percent) is premium
        /// and asks only for the other one (`seeking`). The first user must be an admin: it grants the premium
        /// (bench/run.sh makes it one with `tanis set-role` when MATCH_SEEKING is set).
        #[arg(long, default_value_t = 0)]
        seeking_percent: u32,
    },
    /// U users behaving like traffic, open loop: arrive, ask for matches, chat, skip, drop and reconnect; every
    /// part of the cluster measured on its own (per node CPU, memory, sockets, messages, matches; Redis; proxy).
    Mix {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        mix: MixArgs,
    },
    /// N idle authenticated sockets sending the protocol's keep-alives: server memory per socket and CPU per
    /// second of keep-alive, a relay's latency beside them, and (with --restart-cmd) the reconnect storm after a
    /// kill -9 of the node, with the SDK's backoff.
    Hold {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        hold: HoldArgs,
    },
    /// The outcomes several `hold --sync-dir DIR` processes left in DIR, added up into one result.
    HoldMerge {
        sync_dir: PathBuf,
        #[arg(long)]
        processes: usize,
    },
    /// The relay measurement alone and then under C concurrent login loops.
    LoginStorm {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        http: String,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        pairs: usize,
        #[arg(long, default_value_t = 10)]
        in_flight: usize,
        #[arg(long, default_value_t = 5)]
        duration_secs: u64,
    },
    /// A storm of short video calls against any TURN server with TURN REST credentials (coturn, tanis):
    /// allocations/s, permission and channel-binding setups/s, time to first relayed packet, and whether the
    /// server's descriptors come back afterwards.
    TurnChurn {
        /// The TURN server's UDP address (loopback).
        #[arg(long)]
        turn: SocketAddr,
        /// The TURN REST shared secret (coturn's static-auth-secret, TANIS_VIDEO__TURN_SECRET).
        #[arg(long)]
        secret: String,
        #[arg(long, default_value = "tanis")]
        realm: String,
        /// The server's name in the report.
        #[arg(long, default_value = "turn")]
        label: String,
        /// Calls of two allocations each.
        #[arg(long, default_value_t = 500)]
        calls: usize,
        /// Calls started per second (open loop).
        #[arg(long, default_value_t = 50.0)]
        rate: f64,
        #[arg(long, default_value_t = 200)]
        concurrency: usize,
        /// How long a call lasts after its first relayed packet.
        #[arg(long, default_value_t = 1500)]
        hold_ms: u64,
        /// One packet each way this often while a call lasts.
        #[arg(long, default_value_t = 100)]
        packet_interval_ms: u64,
        /// How long to wait for the server's descriptors to come back to their baseline.
        #[arg(long, default_value_t = 30)]
        settle_secs: u64,
        /// Clients bind to 127.0.0.1, .2, … up to this many addresses, like clients from many hosts; 1 makes the
        /// kernel reuse a just-closed client's port soon.
        #[arg(long, default_value_t = 64)]
        source_addresses: u8,
        /// The TURN server process: its CPU over the storm, its memory and descriptors before, at peak, after.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// The same round trip against an in-process tokio-tungstenite echo server: the machine's ceiling.
    EchoBaseline {
        pairs: usize,
        #[arg(long, default_value_t = 10)]
        in_flight: usize,
        #[arg(long, default_value_t = 5)]
        duration_secs: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let secs = Duration::from_secs;
    let report = match cli.command {
        Command::Connections { count, target, hold_secs, concurrency } => {
            let users = load_users(&target.users)?;
            anyhow::ensure!(target.server_pids.len() <= 1, "connections reads one server's memory: one --server-pid");
            let (url, cpu) = (target.single_url()?, target.cpu());
            let opts = ConnectionsOptions { url, count, cpu, hold: secs(hold_secs), concurrency };
            connections::run(&users, &opts).await?
        }
        Command::Relay { pairs, target, in_flight, duration_secs } => {
            let users = load_users(&target.users)?;
            let (urls, cpu, protocol) = (target.urls(), target.cpu(), target.protocol);
            let opts = RelayOptions { urls, pairs, in_flight, duration: secs(duration_secs), cpu, protocol };
            relay::run(&users, &opts).await?
        }
        Command::OpenLoop { pairs, target, rate, duration_secs } => {
            let users = load_users(&target.users)?;
            let (urls, cpu, protocol) = (target.urls(), target.cpu(), target.protocol);
            let opts = OpenLoopOptions { urls, pairs, rate, duration: secs(duration_secs), cpu, protocol };
            open_loop::run(&users, &opts).await?
        }
        Command::Matching {
            users_count,
            target,
            duration_secs,
            interests,
            languages,
            interest_matching,
            seeking_percent,
        } => {
            let users = load_users(&target.users)?;
            let (urls, cpu) = (target.urls(), target.cpu());
            let mut profiles =
                matching::Profiles::parse(interests.as_deref(), languages.as_deref(), &interest_matching)?;
            anyhow::ensure!(seeking_percent <= 100, "--seeking-percent is a percentage");
            profiles.seeking_percent = seeking_percent;
            let opts = MatchingOptions { urls, users: users_count, duration: secs(duration_secs), cpu, profiles };
            matching::run(&users, &opts).await?
        }
        Command::Mix { target, mix } => {
            let users = load_users(&target.users)?;
            mix::run(&users, &MixOptions { urls: target.urls(), cpu: target.cpu(), args: mix }).await?
        }
        Command::Hold { target, hold } => {
            let users = load_users(&target.users)?;
            let restart = hold.restart_cmd.clone().map(hold::shell);
            hold::run(&users, &HoldOptions { urls: target.urls(), cpu: target.cpu(), args: hold, restart }).await?
        }
        Command::HoldMerge { sync_dir, processes } => hold::merge(&sync_dir, processes)?,
        Command::LoginStorm { target, http, concurrency, pairs, in_flight, duration_secs } => {
            let users = load_users(&target.users)?;
            let (urls, cpu, protocol) = (target.urls(), target.cpu(), target.protocol);
            let relay = RelayOptions { urls, pairs, in_flight, duration: secs(duration_secs), cpu, protocol };
            login_storm::run(&users, &LoginStormOptions { relay, http, concurrency }).await?
        }
        Command::TurnChurn {
            turn,
            secret,
            realm,
            label,
            calls,
            rate,
            concurrency,
            hold_ms,
            packet_interval_ms,
            settle_secs,
            source_addresses,
            server_pid,
        } => {
            let millis = Duration::from_millis;
            let cpu = CpuWatch { server_pids: server_pid.into_iter().collect(), db_processes: vec![] };
            let opts = TurnChurnOptions {
                turn,
                secret,
                realm,
                label,
                calls,
                rate,
                concurrency,
                hold: millis(hold_ms),
                packet_interval: millis(packet_interval_ms),
                settle: secs(settle_secs),
                source_addresses,
                cpu,
            };
            turn_churn::run(&opts).await?
        }
        Command::EchoBaseline { pairs, in_flight, duration_secs } => {
            echo::run(&EchoOptions { pairs, in_flight, duration: secs(duration_secs) }).await?
        }
    };
    write_outputs(&report, &cli.output)
}

fn write_outputs(report: &Report, output: &Output) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    match &output.json {
        Some(path) => std::fs::write(path, json + "\n")?,
        None => println!("{json}"),
    }
    let row = report.markdown_row();
    match &output.markdown {
        Some(path) => {
            let new = !path.exists();
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            if new {
                writeln!(file, "{}", Report::markdown_header())?;
            }
            writeln!(file, "{row}")?;
        }
        None => eprintln!("{}\n{row}", Report::markdown_header()),
    }
    Ok(())
}
