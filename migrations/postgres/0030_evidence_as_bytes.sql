-- A report's evidence holds the exact bytes the sender committed to (issue 47, point 1): the reveal carries them
-- as base64 (docs/protocol.md, section 5 `report`), and they may hold a U+0000, which PostgreSQL's text cannot
-- store. The column keeps its name and holds the text's UTF-8, verified before it is stored; every earlier row is
-- UTF-8 text and comes over as its bytes.
ALTER TABLE report_evidence ALTER COLUMN plaintext TYPE BYTEA USING convert_to(plaintext, 'UTF8');
