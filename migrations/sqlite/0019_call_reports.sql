-- Call quality reports (issue 26, point 5; src/hub/call_report.rs). When each side's `rtc.stats` for the match was
-- counted; NULL: none yet. Only the first report per side counts, on whichever node it arrives, so the mark lives
-- with the match rather than in a node's memory. The report's figures themselves go to metrics, never here.
ALTER TABLE matches ADD COLUMN user1_call_report_at TEXT;
ALTER TABLE matches ADD COLUMN user2_call_report_at TEXT;
