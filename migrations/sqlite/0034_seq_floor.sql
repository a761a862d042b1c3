-- `matches.seq_floor` (PostgreSQL's 0034): the highest seq among a still-open conversation's logs that the metadata
-- retention deleted, so that a contact conversation silent for longer than that retention goes on from its seq.
ALTER TABLE matches ADD COLUMN seq_floor INTEGER NOT NULL DEFAULT 0;
