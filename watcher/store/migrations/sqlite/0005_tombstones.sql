-- version 5: what pruning forgot, so that an item once seen never comes back. One row per
-- pruned item, no text: a 64-bit hash of (feed URL, item key) and one of the item's
-- canonical URL (watcher/store/tombstones.py), and when the item was first seen: past
-- their own horizon (watcher/retention.py), tombstones are pruned in turn.
CREATE TABLE tombstones (
    key_hash   INTEGER PRIMARY KEY,   -- the rowid itself: no separate key index
    url_hash   INTEGER,
    seen_at    REAL NOT NULL          -- when the item was first seen
);
CREATE INDEX tombstones_url ON tombstones (url_hash);
CREATE INDEX tombstones_seen ON tombstones (seen_at);
