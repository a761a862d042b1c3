-- Franking commitments are kept for the report window only (`jobs.report_window_days`, docs/protocol.md §9
-- "Franking"): the expiry job clears the commitment of every message sent before the window, oldest first, in
-- small batches. This index holds just the messages that still have one, by time, so each batch finds the oldest
-- without reading the logs whose commitment is gone.
CREATE INDEX message_logs_commitment_expiry ON message_logs (sent_at) WHERE commitment IS NOT NULL;
