-- Child safety first (issue 77 point 2; docs/admin.md "Child safety first"): a report that the reported user appears
-- to be under 18, or of child sexual abuse, from a reporter the trust rules count and outside any burst, holds the
-- reported user's video matching at once, until a moderator has decided every such report about them. Each step has
-- its statement of reasons: the hold (automatic) and its end (the moderator's decision).
ALTER TABLE users ADD COLUMN video_held_at TIMESTAMPTZ;
ALTER TABLE statements DROP CONSTRAINT statements_decision_check;
ALTER TABLE statements ADD CONSTRAINT statements_decision_check CHECK (decision IN ('ban', 'temporary_ban',
    'ban_lifted', 'report_dismissed', 'report_actioned', 'appeal_accepted', 'appeal_rejected', 'declaration_suspended',
    'declaration_cleared', 'video_held', 'video_hold_lifted'));
