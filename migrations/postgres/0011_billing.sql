-- Premium through the billing provider's signed webhook: every event applied once (its id remembered), and a
-- subscription can be cancelled (premium until its end, no renewal).
CREATE TABLE billing_events (
    provider_event TEXT PRIMARY KEY,                           -- the provider's event id (text: theirs, not ours)
    type        TEXT    NOT NULL,
    user_id     BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    received_at TIMESTAMPTZ NOT NULL
);
ALTER TABLE subscriptions ADD COLUMN cancelled_at TIMESTAMPTZ;
