-- A node's fence (docs/testing.md row 38): a node opens the pairs of its own seekers after claiming them in Redis,
-- under the epoch its row held when it claimed them. The elected matchmaker raises the epoch of a node before it
-- takes that node's places over (the node was taken for dead, or its claims went stale): the node, cut off from
-- Redis but not from the database, may still be opening a pair it had claimed, and must then write nothing. The
-- opening reads the row FOR SHARE, so a raise waits for an opening under way, and an opening after a raise is
-- refused.
CREATE TABLE node_fences (
    node  TEXT   PRIMARY KEY,
    epoch BIGINT NOT NULL DEFAULT 0
);
