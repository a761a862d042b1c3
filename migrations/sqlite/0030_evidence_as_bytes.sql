-- A report's evidence holds the exact bytes the sender committed to (issue 47, point 1): the reveal carries them
-- as base64 (docs/protocol.md, section 5 `report`). SQLite's text could hold a U+0000, PostgreSQL's cannot, so both
-- stores keep the text's UTF-8 as a BLOB, verified before it is stored; every earlier row comes over as its bytes.
-- The table keeps its rows, ids and AUTOINCREMENT sequence: the column is replaced in place, under its old name.
ALTER TABLE report_evidence ADD COLUMN plaintext_utf8 BLOB NOT NULL DEFAULT x'';
UPDATE report_evidence SET plaintext_utf8 = CAST(plaintext AS BLOB);
ALTER TABLE report_evidence DROP COLUMN plaintext;
ALTER TABLE report_evidence RENAME COLUMN plaintext_utf8 TO plaintext;
