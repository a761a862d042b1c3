-- The elected matchmaker's fencing (docs/architecture.md, "Many nodes"): each lease holder has an epoch, and every
-- batch of matches it creates first raises the fence to that epoch in the same transaction. A holder that lost
-- its lease (paused, partitioned) and still tries finds the fence above its epoch and writes nothing.
CREATE TABLE matchmaker_fence (
    id    BIGINT   PRIMARY KEY CHECK (id = 1),
    epoch BIGINT   NOT NULL
);
INSERT INTO matchmaker_fence (id, epoch) VALUES (1, 0);
-- Which lease holder made the match; NULL for a single node without Redis.
ALTER TABLE matches ADD COLUMN matchmaker_epoch BIGINT;
