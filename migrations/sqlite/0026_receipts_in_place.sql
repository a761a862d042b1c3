-- PostgreSQL's 0026 keeps room in message_logs' pages for the receipts' updates and drops an index on the logs
-- by (match, sender). Nothing to do here: on SQLite the logs are clustered by (match_id, seq), a receipt's update
-- rewrites the row in its leaf, and that index went with 0007.
SELECT 1;
