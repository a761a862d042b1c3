-- "Not as declared" refunds (issue 77 point 6; docs/privacy.md "Gender", docs/admin.md "Declarations"): a report
-- that the peer was not the gender they declared refunds only a premium reporter's match made from their own find
-- with `seeking`, reported within the hour after it opened, to the balance its unit came from. The opening marks
-- such a match for that side alone: the mark, never the wish. It goes when a refund uses it, when its hour is over
-- (the expiry job), with the match, or with the account.
CREATE TABLE refund_marks (
    match_id         BIGINT      NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    user_id          BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    paid_from_bonus  BOOLEAN     NOT NULL,                      -- else from the daily balance
    refundable_until TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (match_id, user_id)
);
CREATE INDEX refund_marks_until ON refund_marks (refundable_until);
