-- Franking commitments are kept for the report window only (`jobs.report_window_days`, docs/protocol.md §9
-- "Franking"): the expiry job clears the commitment of every message sent before the window, oldest first, in
-- small batches. This index holds just the messages that still have one, by time — a bounded set, appended to at
-- its end as messages arrive — so each batch finds the oldest without reading the logs whose commitment is gone.
-- The commitment is a column of its own: clearing it leaves the content's CHECK (0029) and its indexes alone.
CREATE INDEX message_rows_commitment_expiry ON message_rows (sent_at) WHERE commitment IS NOT NULL;
