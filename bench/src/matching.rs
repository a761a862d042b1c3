//! `matching`: U users loop `match.find` → `match.found` → leave. The initiator of each match leaves and the
//! other side waits for `match.ended`, so nobody queues while still in a match (`already_in_match`).
//! The server must run with `TANIS_MATCHING__RECENT_PARTNER_HOURS=0` or pairs run out after one round.
//! Given several URLs (nodes of one cluster), user i connects to `urls[i % n]`; who meets whom is the
//! matchmaker's choice, so about half the matches cross nodes with two.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tanis_client::{Connection, Identity};
use tanis_proto::{ClientFrame, Gender, InterestMatching, MatchId, MatchKind, PreferenceMode, Seeking, ServerFrame};
use tokio::sync::Barrier;
use tokio::time::{Instant as Deadline, timeout_at};

use crate::cpu::CpuWatch;
use crate::{Latency, Progress, Report, SeededUser, histogram, rate, record, relay::leave_active};

#[derive(Debug, Clone)]
pub struct MatchingOptions {
    /// One server, or several nodes of one cluster.
    pub urls: Vec<String>,
    pub users: usize,
    pub duration: Duration,
    pub cpu: CpuWatch,
    /// Interests and languages given to every user before the run, and how finds match on them.
    pub profiles: Profiles,
}

/// What each user's profile holds in the run (issue 29's scenario): `interests` topics out of the vocabulary's
/// first `interest_pool`, `languages` out of the first `language_pool` of [`LANGUAGES`], picked per user by a
/// fixed formula so every run gives everyone the same profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct Profiles {
    pub interests: usize,
    pub interest_pool: usize,
    pub languages: usize,
    pub language_pool: usize,
    pub matching: InterestMatching,
    /// Percent of the users who are premium and ask only for the other declared gender (issue 64); everyone
    /// declares one when it is above 0.
    pub seeking_percent: u32,
}

/// The languages handed out, most spoken here first.
pub const LANGUAGES: [&str; 8] = ["tr", "en", "de", "fr", "es", "ar", "ru", "it"];

impl Profiles {
    /// `N/POOL` for each, and `off`, `prefer` or `only`.
    pub fn parse(interests: Option<&str>, languages: Option<&str>, matching: &str) -> anyhow::Result<Self> {
        let split = |s: Option<&str>| -> anyhow::Result<(usize, usize)> {
            let Some(s) = s else { return Ok((0, 0)) };
            let (n, pool) = s.split_once('/').ok_or_else(|| anyhow::anyhow!("{s}: expected N/POOL"))?;
            let (n, pool) = (n.parse()?, pool.parse()?);
            anyhow::ensure!(n <= pool, "{s}: more than the pool");
            Ok((n, pool))
        };
        let (interests, interest_pool) = split(interests)?;
        let (languages, language_pool) = split(languages)?;
        anyhow::ensure!(language_pool <= LANGUAGES.len(), "at most {} languages in the pool", LANGUAGES.len());
        let matching = serde_json::from_value(serde_json::Value::String(matching.to_owned()))?;
        Ok(Profiles { interests, interest_pool, languages, language_pool, matching, seeking_percent: 0 })
    }

    fn any(&self) -> bool {
        self.interests > 0 || self.languages > 0
    }

    /// `count` distinct indexes below `pool` for user `i`: the pool ordered by a hash of (index, user, salt), the
    /// same every run.
    fn pick(i: usize, count: usize, pool: usize, salt: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..pool).collect();
        // splitmix64's finaliser: a well-mixed key per (index, user, salt).
        let mix = |x: usize| {
            let mut z = (x as u64) ^ ((i as u64) << 24) ^ ((salt as u64) << 48);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        order.sort_by_key(|&x| mix(x));
        order.truncate(count);
        order
    }

    /// User `i`'s declared gender: woman and man alternately.
    fn gender(i: usize) -> Gender {
        if i.is_multiple_of(2) { Gender::Woman } else { Gender::Man }
    }

    /// What user `i` asks for: the other gender, `only`, for `seeking_percent` of every hundred users.
    fn seeking(&self, i: usize) -> Option<Seeking> {
        let other = if Self::gender(i) == Gender::Woman { Gender::Man } else { Gender::Woman };
        ((i % 100) < self.seeking_percent as usize)
            .then(|| Seeking { genders: vec![other], mode: PreferenceMode::Only })
    }

    /// Declares user `i`'s gender and, when they seek, makes them premium through the admin API (as `admin`).
    async fn declare(&self, http: &str, user: &SeededUser, i: usize, admin: &str) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let body = serde_json::json!({ "gender": Self::gender(i), "consent": true });
        let response = client.put(format!("{http}/v1/me/gender")).bearer_auth(&user.token).json(&body).send().await?;
        anyhow::ensure!(response.status().is_success(), "PUT /v1/me/gender: {}", response.status());
        if self.seeking(i).is_some() {
            let grant = serde_json::json!({ "plan": "premium_support", "days": 30 });
            let path = format!("{http}/v1/admin/users/{}/subscription", user.id);
            let response = client.put(path).bearer_auth(admin).json(&grant).send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "granting premium (is the first user an admin?): {}",
                response.status()
            );
        }
        Ok(())
    }

    /// Sets user `i`'s profile through `PATCH /v1/me`, as the app would.
    async fn apply(&self, http: &str, token: &str, i: usize, topics: &[String]) -> anyhow::Result<()> {
        let mut body = serde_json::Map::new();
        if self.interests > 0 {
            let ids: Vec<&str> =
                Self::pick(i, self.interests, self.interest_pool, 0).into_iter().map(|t| topics[t].as_str()).collect();
            body.insert("interests".into(), serde_json::json!(ids));
        }
        if self.languages > 0 {
            let codes: Vec<&str> =
                Self::pick(i, self.languages, self.language_pool, 3).into_iter().map(|l| LANGUAGES[l]).collect();
            body.insert("languages".into(), serde_json::json!(codes));
        }
        let response =
            reqwest::Client::new().patch(format!("{http}/v1/me")).bearer_auth(token).json(&body).send().await?;
        anyhow::ensure!(response.status().is_success(), "PATCH /v1/me: {}", response.status());
        Ok(())
    }
}

/// The server's REST base for a WebSocket URL (`ws://host:port/v1/ws` → `http://host:port`).
fn http_base(ws: &str) -> String {
    ws.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1).trim_end_matches("/v1/ws").to_owned()
}

/// The vocabulary's topic ids, in order.
async fn topics(http: &str) -> anyhow::Result<Vec<String>> {
    let body: serde_json::Value = reqwest::get(format!("{http}/v1/interests")).await?.json().await?;
    let topics = body["topics"].as_array().ok_or_else(|| anyhow::anyhow!("GET /v1/interests: no topics"))?;
    Ok(topics.iter().filter_map(|t| t["id"].as_str().map(str::to_owned)).collect())
}

pub async fn run(users: &[SeededUser], opts: &MatchingOptions) -> anyhow::Result<Report> {
    anyhow::ensure!(
        users.len() >= opts.users,
        "matching needs {} distinct users, the file has {}",
        opts.users,
        users.len()
    );
    anyhow::ensure!(!opts.urls.is_empty(), "matching needs a server URL");
    let profiles = opts.profiles;
    let topics = Arc::new(if profiles.interests > 0 { topics(&http_base(&opts.urls[0])).await? } else { Vec::new() });
    anyhow::ensure!(topics.len() >= profiles.interest_pool, "the vocabulary has {} topics", topics.len());
    if profiles.any() {
        for (i, user) in users[..opts.users].iter().enumerate() {
            profiles.apply(&http_base(&opts.urls[i % opts.urls.len()]), &user.token, i, &topics).await?;
        }
    }
    if profiles.seeking_percent > 0 {
        for (i, user) in users[..opts.users].iter().enumerate() {
            profiles.declare(&http_base(&opts.urls[i % opts.urls.len()]), user, i, &users[0].token).await?;
        }
    }
    let progress = Progress::start("matching");
    let barrier = Arc::new(Barrier::new(opts.users + 1));
    let mut tasks = Vec::new();
    for (i, user) in users[..opts.users].iter().enumerate() {
        let url = opts.urls[i % opts.urls.len()].clone();
        let (token, opts, barrier, progress) = (user.token.clone(), opts.clone(), barrier.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let setup = async {
                let (mut conn, hello) = Connection::connect(&url, &token).await?;
                // The deadline bounds every wait; the client's own 10 s limit would cut a long queue wait short.
                conn.wait = Duration::from_secs(3600);
                leave_active(&mut conn, &hello).await?;
                anyhow::Ok(conn)
            }
            .await;
            barrier.wait().await;
            let mut conn = setup?;
            let deadline = Deadline::now() + opts.duration;
            let mut hist = histogram();
            let wish = (opts.profiles.matching, opts.profiles.seeking(i));
            let result = user_loop(&mut conn, deadline, &mut hist, &progress, wish).await;
            // Whatever state the loop stopped in, leave nothing behind in the queue or a match.
            let _ = conn.send(&ClientFrame::MatchCancel { id: Some("cancel".into()) }).await;
            if let Some(match_id) = result.as_ref().ok().copied().flatten() {
                let _ = conn.send(&ClientFrame::MatchLeave { id: Some("end".into()), match_id }).await;
            }
            result.map(|_| hist)
        }));
    }
    // Sampled while every user waits at the barrier: the connecting is not part of the window.
    let cpu_start = opts.cpu.sample();
    barrier.wait().await;
    let started = Instant::now();
    let mut hist = histogram();
    let (mut failed_users, mut first_error) = (0u64, None);
    for task in tasks {
        match task.await? {
            Ok(h) => hist.add(&h)?,
            Err(e) => {
                failed_users += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let cpu = opts.cpu.used_since(cpu_start);
    let elapsed = started.elapsed();
    let (_, failures) = progress.finish();
    // Every match is seen by both of its users: count it once.
    let matches = hist.len() / 2;
    let mut extra = serde_json::json!({"failed_users": failed_users, "first_error": first_error});
    cpu.add_to(&mut extra, "cpu_ms_per_match", matches);
    Ok(Report {
        scenario: "matching".into(),
        params: serde_json::json!({
            "users": opts.users, "duration_secs": opts.duration.as_secs_f64(), "nodes": opts.urls.len(),
            "interests": format!("{}/{}", profiles.interests, profiles.interest_pool),
            "languages": format!("{}/{}", profiles.languages, profiles.language_pool),
            "interest_matching": profiles.matching,
            "seeking_percent": profiles.seeking_percent,
        }),
        elapsed_secs: elapsed.as_secs_f64(),
        ops: matches,
        failures: failures + failed_users,
        rate_per_sec: rate(matches, opts.duration.min(elapsed)),
        latency: Some(Latency::from_histogram(&hist)),
        extra,
    })
}

/// Returns the match the user is still in when time ran out, if any.
async fn user_loop(
    conn: &mut Connection,
    deadline: Deadline,
    hist: &mut Histogram<u64>,
    progress: &Progress,
    (interests, seeking): (InterestMatching, Option<Seeking>),
) -> anyhow::Result<Option<MatchId>> {
    let mut round = 0u64;
    loop {
        round += 1;
        let find = ClientFrame::MatchFind {
            id: Some(format!("f{round}")),
            kind: MatchKind::Text,
            public_key: Identity::generate().public_key_b64(),
            nearby: false,
            interests,
            region: Default::default(),
            seeking: seeking.clone(),
        };
        let sent = Instant::now();
        conn.send(&find).await?;
        let info = loop {
            let Ok(frame) = timeout_at(deadline, conn.next()).await else { return Ok(None) };
            match frame? {
                ServerFrame::MatchFound { info, .. } => break info,
                // A peer's leave can race our next find by a hair; queue again shortly.
                ServerFrame::Error { code, message, .. } => {
                    progress.fail();
                    tracing_free_log(&format!("find error {code:?}: {message}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    conn.send(&find).await?;
                }
                _ => {}
            }
        };
        record(hist, sent);
        if info.initiator {
            // Only one side counts the match in the progress line; the histogram has both sides.
            progress.add(1);
            conn.send(&ClientFrame::MatchLeave { id: Some(format!("l{round}")), match_id: info.match_id }).await?;
            wait_for(conn, deadline, |f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await?;
        } else {
            let ended = wait_for(conn, deadline, |f| matches!(f, ServerFrame::MatchEnded { .. })).await?;
            if !ended {
                return Ok(Some(info.match_id));
            }
        }
        if Deadline::now() >= deadline {
            return Ok(None);
        }
    }
}

/// Waits for a frame; `false` when the deadline came first.
async fn wait_for(
    conn: &mut Connection,
    deadline: Deadline,
    wanted: impl Fn(&ServerFrame) -> bool,
) -> anyhow::Result<bool> {
    match timeout_at(deadline, conn.next_where(wanted)).await {
        Ok(frame) => frame.map(|_| true).map_err(Into::into),
        Err(_) => Ok(false),
    }
}

fn tracing_free_log(line: &str) {
    eprintln!("[matching] {line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_gets_distinct_picks_from_the_pool_the_same_every_run() {
        for pool in 1..=8 {
            for i in 0..50 {
                let picked = Profiles::pick(i, pool.min(3), pool, 0);
                assert_eq!(picked.len(), pool.min(3));
                assert!(picked.iter().all(|&p| p < pool));
                let mut unique = picked.clone();
                unique.sort_unstable();
                unique.dedup();
                assert_eq!(unique.len(), picked.len(), "pool {pool}, user {i}: {picked:?}");
                assert_eq!(picked, Profiles::pick(i, pool.min(3), pool, 0));
            }
        }
        assert_ne!(Profiles::pick(1, 3, 50, 0), Profiles::pick(2, 3, 50, 0), "users differ");
    }
}
