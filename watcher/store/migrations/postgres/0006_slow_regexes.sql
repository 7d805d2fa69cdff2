-- version 6: user regexes that reached their time bound on an item (query/guard.py), each
-- (profile, pattern, item) once, for the log line and `watcher status`.
CREATE TABLE slow_regexes (
    profile   TEXT NOT NULL,
    pattern   TEXT NOT NULL,
    feed_url  TEXT NOT NULL,
    item_key  TEXT NOT NULL,
    title     TEXT NOT NULL DEFAULT '',
    seen_at   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (profile, pattern, feed_url, item_key)
);
CREATE INDEX slow_regexes_seen ON slow_regexes (seen_at);
