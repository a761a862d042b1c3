-- "Not as declared" (issue 64 point 4; docs/privacy.md "Gender", docs/admin.md "Declarations"): someone matched with
-- a user may report, in one tap, that they were not the gender they declared. The report refunds the reporter's unit
-- for that match (once per match, a few a day) and counts the reporter, once per reported user, with the trust
-- rules' brigade defences. Past `trust.declaration_report_threshold` counting reporters the reported user's
-- declaration stops being used for filtered matching until a moderator clears it, each step with its statement of
-- reasons. A report stores who, whom, which match, the hashed address range and whether it refunded: no gender, no
-- wish, no words. It is a separate table from `reports`: it is not misconduct and never counts toward a ban.
CREATE TABLE declaration_reports (
    id               BIGSERIAL   PRIMARY KEY,
    reporter_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reported_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    match_id         BIGINT      REFERENCES matches (id) ON DELETE SET NULL,
    reporter_network BYTEA,                                     -- keyed hash of the address range (src/domain/trust.rs)
    refunded         BOOLEAN     NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (match_id, reporter_id)                              -- one report, and one refund, per match
);
CREATE INDEX declaration_reports_reported ON declaration_reports (reported_id, created_at);
CREATE INDEX declaration_reports_reporter ON declaration_reports (reporter_id, created_at);
-- Since when the declaration is not used for filtered matching (NULL: it is, when declared and consented to), and
-- when a moderator last cleared it: reports made before that no longer count.
ALTER TABLE users ADD COLUMN gender_suspended_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN gender_cleared_at TIMESTAMPTZ;
-- Their statements of reasons: two more decisions.
ALTER TABLE statements DROP CONSTRAINT statements_decision_check;
ALTER TABLE statements ADD CONSTRAINT statements_decision_check CHECK (decision IN ('ban', 'temporary_ban',
    'ban_lifted', 'report_dismissed', 'report_actioned', 'appeal_accepted', 'appeal_rejected', 'declaration_suspended',
    'declaration_cleared'));
