-- Franked messages (issue 30, docs/protocol.md section 9 "Franking"): the sender's commitment to each message's
-- plaintext (HMAC-SHA256 under a per-message key carried inside the ciphertext). It is metadata: it lives in
-- message_logs, beside sender, receiver, match, seq and time, and outlives the 24 h content deletion. NULL for
-- messages stored before franking. It tells the server nothing about the text.
ALTER TABLE message_logs ADD COLUMN commitment BLOB;

-- A report's verified evidence: messages the reporter chose to reveal (plaintext and franking key), checked against
-- the commitment stored when the message was sent. Only verified reveals are stored. Moderators see them in the
-- report queue; no export contains them; they are deleted with the report's retention
-- (jobs.evidence_retention_days after the report was filed) and with either person's account.
CREATE TABLE report_evidence (
    id          INTEGER     PRIMARY KEY AUTOINCREMENT,
    report_id   INTEGER     NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    match_id    INTEGER     NOT NULL,
    seq         INTEGER     NOT NULL,
    sent_at     TEXT        NOT NULL,                        -- what the server bound at send time
    plaintext   TEXT        NOT NULL,                        -- revealed by the receiver, verified
    verdict     TEXT        NOT NULL CHECK (verdict IN ('verified')),
    verified_at TEXT        NOT NULL,
    UNIQUE (report_id, match_id, seq)
);
CREATE INDEX report_evidence_match ON report_evidence (match_id, seq);
