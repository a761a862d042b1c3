//! PostgreSQL's backup procedure as docs/operations.md ("Backups") gives it, rehearsed: a cluster of its own with
//! its WAL archived, a base backup taken while two people chat, more messages after it, the primary lost
//! (`pg_ctl stop -m immediate`), and a new cluster recovered from the base backup and the archive. tanis started on
//! it finds every message acknowledged before the last archived segment: those before the base backup and those
//! after it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use tanis::domain::Seq;
use tanis_client::Connection;

use crate::backup::{WITHIN, Writing, access, post, serving, stored, ws};
use crate::binary::{secrets_for, tanis};
use crate::helpers::{Backend, PASSWORD, eventually};
use crate::redis_outage::reserve_port;

/// PostgreSQL's server programs: where Debian keeps them (off PATH), as scripts/test finds them.
fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/test installs it)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("an initdb under /usr/lib/postgresql")
}

/// A PostgreSQL program run as the cluster's owner: `postgres` when the tests run as root (initdb refuses root).
fn pg(program: &str, args: &[&str]) {
    let path = pg_bin().join(program);
    let root = is_root();
    let mut command = if root { Command::new("runuser") } else { Command::new(&path) };
    if root {
        command.args(["-u", "postgres", "--"]).arg(&path);
    }
    let output = command.args(args).current_dir("/").output().unwrap();
    assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

fn is_root() -> bool {
    // The owner of our own process's directory in /proc is our user.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A directory the cluster's owner may use.
fn owned(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    if is_root() {
        assert!(Command::new("chown").args(["-R", "postgres:"]).arg(path).status().unwrap().success());
    }
}

/// A running cluster, stopped (immediately) when dropped, whatever the test did: nothing it started outlives it.
struct Cluster(PathBuf);

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.0.join("postmaster.pid").exists() {
            let _ =
                std::panic::catch_unwind(|| pg("pg_ctl", &["stop", "-m", "immediate", "-D", self.0.to_str().unwrap()]));
        }
    }
}

/// Starts the cluster in `data` on `port`, with `settings` (`-c` pairs).
fn start(data: &Path, port: u16, log: &Path, settings: &[String]) -> Cluster {
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {} {}",
        data.parent().unwrap().display(),
        settings.iter().map(|s| format!("-c {s}")).collect::<Vec<_>>().join(" ")
    );
    pg("pg_ctl", &["start", "-w", "-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-o", &options]);
    Cluster(data.to_owned())
}

async fn query(url: &str, sql: &'static str) -> Option<String> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
    let value: Option<String> = sqlx::query_scalar(sql).fetch_one(&mut conn).await.ok()?;
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_backup_and_the_archived_wal_recover_every_acknowledged_message_after_the_primary_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    owned(root);
    let (primary, archive, base, restored) =
        (root.join("primary"), root.join("archive"), root.join("base"), root.join("restored"));
    owned(&archive);
    pg("initdb", &["-D", primary.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
    // Held to the end: other tests reserving ports leave these alone.
    let (port, _held) = reserve_port();
    let archiving = vec![
        "wal_level=replica".to_owned(),
        "archive_mode=on".to_owned(),
        format!("archive_command='cp %p {}/%f'", archive.display()),
    ];
    let primary_cluster = start(&primary, port, &root.join("primary.log"), &archiving);
    let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    query(&admin, "SELECT 'x' FROM (SELECT 1) s").await.expect("the primary answers");
    {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query("CREATE DATABASE tanis").execute(&mut conn).await.unwrap();
    }
    let url = format!("postgres://postgres@127.0.0.1:{port}/tanis");

    // tanis on the primary; A writes to B on and on.
    let mut command = tanis(root);
    secrets_for(Backend::Postgres, &mut command).env("TANIS_DATABASE_URL", &url);
    let (mut node, address) = serving(command).await;
    let mut writing = Writing::start(&address).await;
    let mut acknowledged: Vec<Seq> = Vec::new();
    while acknowledged.len() < 10 {
        acknowledged.push(writing.acknowledged().await);
    }

    // The base backup, taken while A writes; then ten more acknowledged after it, which only the archive holds.
    owned(&base);
    let base_dir = base.join("data");
    pg(
        "pg_basebackup",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-D",
            base_dir.to_str().unwrap(),
            "-X",
            "stream",
            // A checkpoint at once, not one spread over the next checkpoint_timeout.
            "--checkpoint=fast",
            "--no-sync",
        ],
    );
    let after_base = acknowledged.len() + 10;
    while acknowledged.len() < after_base {
        acknowledged.push(writing.acknowledged().await);
    }
    let phone_b = writing.phone_b.clone();
    let (rest, mut chat_b) = writing.stop().await;
    acknowledged.extend(rest);
    // The segment holding the last acknowledgement closed and archived (what `archive_timeout` does on its own).
    let segment = query(&admin, "SELECT pg_walfile_name(pg_switch_wal())").await.unwrap();
    eventually(WITHIN, "the last segment is archived", || {
        let admin = admin.clone();
        let segment = segment.clone();
        async move { query(&admin, "SELECT last_archived_wal FROM pg_stat_archiver").await.as_deref() == Some(&segment) }
    })
    .await;

    // The primary is lost.
    node.kill().await.unwrap();
    drop(primary_cluster);

    // Recovery: the base backup in a new data directory, the archive as its restore_command, until the archive ends.
    assert!(Command::new("cp").arg("-a").arg(&base_dir).arg(&restored).status().unwrap().success());
    let restore = format!("restore_command = 'cp {}/%f %p'\n", archive.display());
    std::fs::write(restored.join("recovery.signal"), "").unwrap();
    let mut auto = std::fs::read_to_string(restored.join("postgresql.auto.conf")).unwrap_or_default();
    auto.push_str(&restore);
    std::fs::write(restored.join("postgresql.auto.conf"), auto).unwrap();
    owned(&restored);
    let (port, _held_too) = reserve_port();
    let _restored_cluster = start(&restored, port, &root.join("restored.log"), &[]);
    let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    eventually(WITHIN, "recovery ends and the cluster is promoted", || {
        let admin = admin.clone();
        async move { query(&admin, "SELECT pg_is_in_recovery()::text").await.as_deref() == Some("false") }
    })
    .await;

    // tanis on the recovered cluster: B signs in and reads every message acknowledged before the primary was lost.
    let mut command = tanis(root);
    secrets_for(Backend::Postgres, &mut command)
        .env("TANIS_DATABASE_URL", format!("postgres://postgres@127.0.0.1:{port}/tanis"));
    let (_node, address) = serving(command).await;
    let b = access(&post(&address, "/v1/auth/login", &json!({ "phone": phone_b, "password": PASSWORD })).await);
    let (mut sb, _) = Connection::connect(&ws(&address), &b).await.unwrap();
    let read: Vec<Seq> = stored(&mut sb, &mut chat_b).await.into_iter().map(|(seq, _)| seq).collect();
    let lost: Vec<&Seq> = acknowledged.iter().filter(|seq| !read.contains(seq)).collect();
    assert!(lost.is_empty(), "acknowledged and not recovered: {lost:?} (read {read:?})");
}
