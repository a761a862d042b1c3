//! Statements of reasons: one per moderation decision, written by the decision's own transaction (bans.rs,
//! appeals.rs, reports/queue.rs) through the macros here, so a decision never exists without its statement; and the reads behind
//! what the user sees (ban status, export) and the operator's export.
//!
//! What this module must not store: a moderator's note, a reporter's identity, anyone's words. The facts are
//! generated ([`crate::domain::facts`]) from counts taken inside the transaction; the grounds and redress are the
//! [`Citations`] the store was given at start (`crate::statements::citations`, from `[moderation]`): the store
//! reads no configuration.

use chrono::{DateTime, Utc};

use super::system_logs::insert_system_log;
use super::{Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, Automation, BanReason, Category, Decision, Source, UserId};

/// What statements cite, resolved from `[moderation]` when the server starts ([`Store::with_citations`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Citations {
    /// The clause behind each ban reason code.
    pub grounds: Vec<CitedGround>,
    /// How a banned user contests a ban; every ban's statement carries it.
    pub appeal_instructions: String,
    /// What is left once a decision is final (a decided appeal or report).
    pub final_redress: String,
}

/// One clause of the operator's terms as a statement stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct CitedGround {
    pub key: BanReason,
    pub clause: String,
    pub text: String,
    pub url: String,
    /// The law relied on, when the conduct is also illegal.
    pub law: Option<String>,
}

impl Citations {
    /// The ground for `code`; a store never given its citations (a bare one, in tests) cites the code alone.
    pub fn ground(&self, code: BanReason) -> CitedGround {
        self.grounds.iter().find(|g| g.key == code).cloned().unwrap_or_else(|| CitedGround {
            key: code,
            clause: String::new(),
            text: String::new(),
            url: String::new(),
            law: None,
        })
    }
}

/// A statement to write.
#[derive(Debug, Clone)]
pub(crate) struct NewStatement {
    pub user_id: UserId,
    pub decision: Decision,
    pub ban_id: Option<i64>,
    pub report_id: Option<i64>,
    pub appeal_id: Option<i64>,
    pub facts: String,
    pub ground: CitedGround,
    pub category: Category,
    pub source: Source,
    pub automated_detection: bool,
    pub automation: Automation,
    pub content_date: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub redress: Option<String>,
    pub now: DateTime<Utc>,
}

/// The reports behind a ban, as counted when it is imposed: those the automatic ban counts (made since the
/// user's last clearance, not dismissed).
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Distinct reporters.
    pub reporters: i64,
    /// Reports with at least one verified piece of evidence (report_evidence).
    pub with_evidence: i64,
    /// How many reports named each reason.
    pub reasons: Vec<(String, i64)>,
    /// The first of them.
    pub first: Option<DateTime<Utc>>,
}

/// The rule the automatic ban counts by (src/store/jobs.rs `users_over_report_threshold`), for one user.
macro_rules! counted_reports {
    () => {
        "FROM reports r JOIN users u ON u.id = r.reported_id WHERE r.reported_id = $1 \
         AND (u.ban_cleared_at IS NULL OR r.created_at > u.ban_cleared_at) \
         AND (r.resolution IS NULL OR r.resolution <> 'dismissed')"
    };
}

/// Counts, inside the transaction `$tx`, the reports that count against `$user_id`; evaluates to a future of
/// `Result<Tally, sqlx::Error>`.
macro_rules! tally_reports {
    ($tx:expr, $user_id:expr) => {
        async {
            let (reporters, first): (i64, Option<DateTime<Utc>>) = sqlx::query_as(concat!(
                "SELECT COUNT(DISTINCT r.reporter_id), MIN(r.created_at) ",
                $crate::store::statements::counted_reports!()
            ))
            .bind($user_id)
            .fetch_one(&mut *$tx)
            .await?;
            let with_evidence: i64 = sqlx::query_scalar(concat!(
                "SELECT COUNT(*) ",
                $crate::store::statements::counted_reports!(),
                " AND EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = r.id)"
            ))
            .bind($user_id)
            .fetch_one(&mut *$tx)
            .await?;
            let reasons: Vec<(String, i64)> = sqlx::query_as(concat!(
                "SELECT r.reason, COUNT(*) ",
                $crate::store::statements::counted_reports!(),
                " GROUP BY r.reason"
            ))
            .bind($user_id)
            .fetch_all(&mut *$tx)
            .await?;
            Ok::<_, sqlx::Error>($crate::store::statements::Tally { reporters, with_evidence, reasons, first })
        }
    };
}

/// Inserts `$statement` (a [`NewStatement`]); evaluates to a query result future.
macro_rules! insert_statement {
    ($executor:expr, $statement:expr) => {{
        let s: &$crate::store::statements::NewStatement = $statement;
        sqlx::query(
            "INSERT INTO statements (user_id, decision, ban_id, report_id, appeal_id, facts, ground_key, \
             ground_clause, ground_text, ground_url, ground_law, category, source, automated_detection, \
             automated_decision, content_date, starts_at, ends_at, redress, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        )
        .bind(s.user_id)
        .bind(s.decision)
        .bind(s.ban_id)
        .bind(s.report_id)
        .bind(s.appeal_id)
        .bind(&s.facts)
        .bind(s.ground.key)
        .bind(&s.ground.clause)
        .bind(&s.ground.text)
        .bind(&s.ground.url)
        .bind(&s.ground.law)
        .bind(s.category)
        .bind(s.source)
        .bind(s.automated_detection)
        .bind(s.automation)
        .bind(s.content_date)
        .bind(s.now)
        .bind(s.ends_at)
        .bind(&s.redress)
        .bind(s.now)
        .execute($executor)
    }};
}
pub(crate) use {counted_reports, insert_statement, tally_reports};

/// A statement as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StatementRow {
    pub id: i64,
    pub user_id: UserId,
    pub decision: Decision,
    pub ban_id: Option<i64>,
    pub report_id: Option<i64>,
    pub appeal_id: Option<i64>,
    pub facts: String,
    pub ground_key: BanReason,
    pub ground_clause: String,
    pub ground_text: String,
    pub ground_url: String,
    pub ground_law: Option<String>,
    pub category: Category,
    pub source: Source,
    pub automated_detection: bool,
    pub automated_decision: Automation,
    pub content_date: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub redress: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A page of the operator's export.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementPage {
    pub rows: Vec<StatementRow>,
    /// Pass as `after` for the next page; `None` on the last.
    pub next_after: Option<i64>,
}

/// A statement's columns, in [`StatementRow`]'s order (a macro: `select!` takes only constant text).
macro_rules! columns {
    () => {
        "id, user_id, decision, ban_id, report_id, appeal_id, facts, ground_key, ground_clause, ground_text, \
         ground_url, ground_law, category, source, automated_detection, automated_decision, content_date, \
         starts_at, ends_at, redress, created_at"
    };
}

impl Store {
    /// The store with what the statements it writes cite (set once at start, before any decision).
    pub fn with_citations(mut self, citations: Citations) -> Self {
        self.citations = std::sync::Arc::new(citations);
        self
    }

    /// Every statement concerning the user, newest first, at most `limit`.
    pub async fn statements_of(&self, user_id: UserId, limit: i64) -> Result<Vec<StatementRow>, StoreError> {
        let query =
            select!(concat!("SELECT ", columns!(), " FROM statements WHERE user_id = $1 ORDER BY id DESC LIMIT $2"));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    /// The statement of ban `ban_id`'s imposition.
    pub async fn statement_of_ban(&self, ban_id: i64) -> Result<Option<StatementRow>, StoreError> {
        let query = select!(concat!(
            "SELECT ",
            columns!(),
            " FROM statements WHERE ban_id = $1 AND decision IN ('ban', 'temporary_ban') ORDER BY id LIMIT 1"
        ));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(ban_id).optional().await)?)
    }

    /// Records that statements were exported (`statements.exported`, `details`: the range and the count), by
    /// `admin` or, `None`, from the command line.
    pub async fn log_statements_export(
        &self,
        admin: Option<UserId>,
        details: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let action = AuditAction::StatementsExported;
        on_write_pool!(self, |pool| insert_system_log!(
            pool,
            action,
            None::<UserId>,
            details,
            now,
            actor = Some(admin)
        )
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Statements written in `[from, to)`, by id after `after`, at most `limit`.
    pub async fn statements_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: i64,
        limit: i64,
    ) -> Result<StatementPage, StoreError> {
        let query = select!(concat!(
            "SELECT ",
            columns!(),
            " FROM statements WHERE created_at >= $1 AND created_at < $2 AND id > $3 ORDER BY id LIMIT $4"
        ));
        let mut rows: Vec<StatementRow> =
            on_read_pool!(self, |pool| pool.rows(query).bind(from).bind(to).bind(after).bind(limit + 1).all().await)?;
        let next_after = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok(StatementPage { rows, next_after })
    }
}

/// The statements each decision writes, from what its transaction read. Pure: the ground and redress come from
/// the [`Citations`], the facts from [`crate::domain::facts`].
pub(crate) mod build {
    use chrono::{DateTime, Utc};

    use super::{Citations, NewStatement, Tally};
    use crate::domain::ground_of_reports;
    use crate::domain::{Automation, BanReason, Decision, Facts, Source, UserId, category, facts, ground_of_report};
    use crate::store::NewBan;

    /// A ban's statement. A job's ban (no moderator in `by`) is the automatic ban: its ground is the `reports`
    /// clause and its category what most of its reports named.
    pub fn ban(m: &Citations, ban: &NewBan<'_>, ban_id: i64, tally: &Tally, moderator: bool) -> NewStatement {
        let decision = if ban.ends_at.is_some() { Decision::TemporaryBan } else { Decision::Ban };
        let named = if moderator { ban.reason_code } else { ground_of_reports(&tally.reasons) };
        // The automatic ban names what the trust rules counted (only trusted reporters' reports, each once); a
        // moderator's ban, every report not dismissed.
        let counted = |key: &str| ban.by.get(key).and_then(serde_json::Value::as_i64);
        let ground = m.ground(ban.reason_code);
        let facts = facts(&Facts {
            decision,
            by_moderator: moderator,
            reason: named,
            clause: ground.clause.clone(),
            reporters: counted("reporters").unwrap_or(tally.reporters),
            with_evidence: counted("with_evidence").unwrap_or(tally.with_evidence),
            threshold: counted("threshold"),
            ends_at: ban.ends_at,
            lifted: false,
        });
        NewStatement {
            user_id: ban.user_id,
            decision,
            ban_id: Some(ban_id),
            report_id: None,
            appeal_id: None,
            facts,
            ground,
            category: category(named),
            source: if tally.reporters > 0 { Source::Notice } else { Source::Voluntary },
            // Reports are people's notices: nothing detected the conduct automatically.
            automated_detection: false,
            automation: if moderator { Automation::Not } else { Automation::Fully },
            content_date: tally.first.unwrap_or(ban.now),
            ends_at: ban.ends_at,
            redress: Some(m.appeal_instructions.clone()),
            now: ban.now,
        }
    }

    /// The ban `ban_id` (reason `reason`, imposed at `banned_at`) lifted by a moderator or, without one, by its
    /// time. Nothing is restricted any more: nothing to contest.
    pub fn lift(
        m: &Citations,
        user_id: UserId,
        (ban_id, reason, banned_at): (i64, BanReason, DateTime<Utc>),
        moderator: bool,
        now: DateTime<Utc>,
    ) -> NewStatement {
        let ground = m.ground(reason);
        let facts = facts(&Facts {
            decision: Decision::BanLifted,
            by_moderator: moderator,
            reason,
            clause: ground.clause.clone(),
            reporters: 0,
            with_evidence: 0,
            threshold: None,
            ends_at: None,
            lifted: true,
        });
        NewStatement {
            user_id,
            decision: Decision::BanLifted,
            ban_id: Some(ban_id),
            report_id: None,
            appeal_id: None,
            facts,
            ground,
            category: category(reason),
            source: Source::Voluntary,
            automated_detection: false,
            automation: if moderator { Automation::Not } else { Automation::Fully },
            content_date: banned_at,
            ends_at: None,
            redress: None,
            now,
        }
    }

    /// A moderator's decision on the appeal `appeal_id` against ban `ban_id`; `lifted`: the ban still held and
    /// the acceptance lifted it.
    pub fn appeal(
        m: &Citations,
        user_id: UserId,
        (ban_id, reason, banned_at): (i64, BanReason, DateTime<Utc>),
        (appeal_id, accepted, lifted): (i64, bool, bool),
        now: DateTime<Utc>,
    ) -> NewStatement {
        let decision = if accepted { Decision::AppealAccepted } else { Decision::AppealRejected };
        let ground = m.ground(reason);
        let facts = facts(&Facts {
            decision,
            by_moderator: true,
            reason,
            clause: ground.clause.clone(),
            reporters: 0,
            with_evidence: 0,
            threshold: None,
            ends_at: None,
            lifted,
        });
        NewStatement {
            user_id,
            decision,
            ban_id: Some(ban_id),
            report_id: None,
            appeal_id: Some(appeal_id),
            facts,
            ground,
            category: category(reason),
            // The user's complaint brought it (DSA Art. 20).
            source: Source::Notice,
            automated_detection: false,
            automation: Automation::Not,
            content_date: banned_at,
            ends_at: None,
            redress: Some(m.final_redress.clone()),
            now,
        }
    }

    /// A moderator's resolution of report `report_id` (its reason as stored, filed at `filed_at`), concerning
    /// `concerns`: the reported user when actioned, the reporter when dismissed.
    pub fn report(
        m: &Citations,
        concerns: UserId,
        (report_id, reason, filed_at): (i64, &str, DateTime<Utc>),
        actioned: bool,
        with_evidence: i64,
        now: DateTime<Utc>,
    ) -> NewStatement {
        let decision = if actioned { Decision::ReportActioned } else { Decision::ReportDismissed };
        let code = ground_of_report(reason);
        let ground = m.ground(code);
        let facts = facts(&Facts {
            decision,
            by_moderator: true,
            reason: code,
            clause: ground.clause.clone(),
            reporters: 1,
            with_evidence,
            threshold: None,
            ends_at: None,
            lifted: false,
        });
        NewStatement {
            user_id: concerns,
            decision,
            ban_id: None,
            report_id: Some(report_id),
            appeal_id: None,
            facts,
            ground,
            category: category(code),
            source: Source::Notice,
            automated_detection: false,
            automation: Automation::Not,
            content_date: filed_at,
            ends_at: None,
            redress: Some(m.final_redress.clone()),
            now,
        }
    }

    /// The suspension of a declaration's use in filtered matching: automatic, on people's reports (notices), under
    /// the `other` clause; `reporters` counted of `threshold` needed, the first of their reports at `first`.
    pub fn declaration_suspended(
        m: &Citations,
        user_id: UserId,
        (reporters, threshold): (i64, i64),
        first: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> NewStatement {
        declaration(m, user_id, Decision::DeclarationSuspended, (reporters, Some(threshold)), first, now)
    }

    /// A moderator's clearance of that suspension (imposed at `suspended_at`).
    pub fn declaration_cleared(
        m: &Citations,
        user_id: UserId,
        suspended_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> NewStatement {
        declaration(m, user_id, Decision::DeclarationCleared, (0, None), suspended_at, now)
    }

    /// Video matching held on child-safety report `report_id` (its reason as stored, filed at `filed_at`):
    /// automatic, on a notice, under that reason's clause.
    pub fn video_held(
        m: &Citations,
        user_id: UserId,
        (report_id, reason, filed_at): (i64, &str, DateTime<Utc>),
        now: DateTime<Utc>,
    ) -> NewStatement {
        video_hold(m, user_id, Decision::VideoHeld, (Some(report_id), ground_of_report(reason)), filed_at, now)
    }

    /// The end of that hold, by a moderator's decision on report `report_id` (its reason as stored), the hold
    /// imposed at `held_at`.
    pub fn video_hold_lifted(
        m: &Citations,
        user_id: UserId,
        (report_id, reason): (i64, &str),
        held_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> NewStatement {
        video_hold(m, user_id, Decision::VideoHoldLifted, (Some(report_id), ground_of_report(reason)), held_at, now)
    }

    fn video_hold(
        m: &Citations,
        user_id: UserId,
        decision: Decision,
        (report_id, code): (Option<i64>, BanReason),
        content_date: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> NewStatement {
        // A hold is contested by the moderator's review it waits for.
        let automatic = decision == Decision::VideoHeld;
        restriction(
            m,
            Restriction { user_id, decision, automatic, code, report_id, reporters: 1, threshold: None },
            content_date,
            now,
        )
    }

    fn declaration(
        m: &Citations,
        user_id: UserId,
        decision: Decision,
        (reporters, threshold): (i64, Option<i64>),
        content_date: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> NewStatement {
        // No ban reason names a declaration that people say is untrue: it is cited under `other`. A suspension is
        // contested by asking a moderator to clear it (docs/admin.md "Declarations").
        let automatic = decision == Decision::DeclarationSuspended;
        let code = BanReason::Other;
        restriction(
            m,
            Restriction { user_id, decision, automatic, code, report_id: None, reporters, threshold },
            content_date,
            now,
        )
    }

    /// A restriction short of a ban (a declaration's use suspended, video held) or its end, on people's reports:
    /// automatic with its redress, or a moderator's.
    fn restriction(m: &Citations, r: Restriction, content_date: DateTime<Utc>, now: DateTime<Utc>) -> NewStatement {
        let ground = m.ground(r.code);
        let facts = facts(&Facts {
            decision: r.decision,
            by_moderator: !r.automatic,
            reason: r.code,
            clause: ground.clause.clone(),
            reporters: r.reporters,
            with_evidence: 0,
            threshold: r.threshold,
            ends_at: None,
            lifted: false,
        });
        NewStatement {
            user_id: r.user_id,
            decision: r.decision,
            ban_id: None,
            report_id: r.report_id,
            appeal_id: None,
            facts,
            ground,
            category: category(r.code),
            source: Source::Notice,
            automated_detection: false,
            automation: if r.automatic { Automation::Fully } else { Automation::Not },
            content_date,
            ends_at: None,
            redress: r.automatic.then(|| m.final_redress.clone()),
            now,
        }
    }

    /// What [`restriction`] writes of.
    struct Restriction {
        user_id: UserId,
        decision: Decision,
        automatic: bool,
        code: BanReason,
        report_id: Option<i64>,
        reporters: i64,
        threshold: Option<i64>,
    }
}
