-- Push: each device's language, and the outbox the push job sends from (retried, honouring Retry-After; at most
-- one waiting push per device and collapse key, e.g. one per match for new messages).
ALTER TABLE devices ADD COLUMN locale TEXT NOT NULL DEFAULT 'tr' CHECK (locale IN ('tr', 'en'));
CREATE TABLE push_outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    BIGINT  NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    payload      TEXT    NOT NULL,                             -- JSON: title, body, data; never message content
    collapse_key TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX push_outbox_collapse ON push_outbox (device_id, collapse_key) WHERE collapse_key IS NOT NULL;
CREATE INDEX push_outbox_due ON push_outbox (not_before);
