-- version 4: state that was kept as strings under prefixed keys of `meta` gets tables and
-- columns of its own (with its data): new-item arrival times, feed and network health
-- records, and the time of each digest channel's last digest. feeds.health_reported
-- (never read) goes.
CREATE TABLE feed_arrivals (
    feed_url    TEXT NOT NULL,
    arrived_at  REAL NOT NULL,          -- when a poll found new items
    PRIMARY KEY (feed_url, arrived_at)
);
INSERT OR IGNORE INTO feed_arrivals (feed_url, arrived_at)
    SELECT substr(m.key, 10), CAST(j.value AS REAL) FROM meta AS m, json_each(m.value) AS j
    WHERE m.key LIKE 'arrivals:%' AND json_valid(m.value) AND json_type(m.value) = 'array';

CREATE TABLE health_records (
    subject  TEXT PRIMARY KEY,          -- a feed's configured URL, or 'network'
    state    TEXT NOT NULL,             -- ok | failing | quiet | gone
    episode  INTEGER NOT NULL,          -- numbers the reports, for their dedupe keys
    since    REAL                       -- first failure of the current streak
);
INSERT INTO health_records (subject, state, episode, since)
    SELECT substr(key, 8), json_extract(value, '$.state'), json_extract(value, '$.episode'),
           json_extract(value, '$.since')
    FROM meta WHERE key LIKE 'health:%' AND json_valid(value)
        AND json_extract(value, '$.state') IS NOT NULL
        AND json_extract(value, '$.episode') IS NOT NULL;

ALTER TABLE channel_state ADD COLUMN last_digest_at REAL;
INSERT INTO channel_state (channel, last_digest_at)
    SELECT substr(key, 8), CAST(value AS REAL) FROM meta WHERE key LIKE 'digest:%'
    ON CONFLICT (channel) DO UPDATE SET last_digest_at = excluded.last_digest_at;

DELETE FROM meta WHERE key LIKE 'arrivals:%' OR key LIKE 'health:%' OR key LIKE 'digest:%';
ALTER TABLE feeds DROP COLUMN health_reported;
