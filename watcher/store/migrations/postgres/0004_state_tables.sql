-- version 4: state that was kept as strings under prefixed keys of `meta` gets tables and
-- columns of its own (with its data): new-item arrival times, feed and network health
-- records, and the time of each digest channel's last digest. feeds.health_reported
-- (never read) goes.
CREATE TABLE feed_arrivals (
    feed_url    TEXT NOT NULL,
    arrived_at  DOUBLE PRECISION NOT NULL,   -- when a poll found new items
    PRIMARY KEY (feed_url, arrived_at)
);
INSERT INTO feed_arrivals (feed_url, arrived_at)
    SELECT DISTINCT substr(m.key, 10), j.value::double precision
    FROM meta AS m, jsonb_array_elements_text(m.value::jsonb) AS j(value)
    WHERE m.key LIKE 'arrivals:%' AND m.value LIKE '[%'
    ON CONFLICT DO NOTHING;

CREATE TABLE health_records (
    subject  TEXT PRIMARY KEY,          -- a feed's configured URL, or 'network'
    state    TEXT NOT NULL,             -- ok | failing | quiet | gone
    episode  INTEGER NOT NULL,          -- numbers the reports, for their dedupe keys
    since    DOUBLE PRECISION           -- first failure of the current streak
);
INSERT INTO health_records (subject, state, episode, since)
    SELECT substr(key, 8), value::jsonb ->> 'state', (value::jsonb ->> 'episode')::integer,
           (value::jsonb ->> 'since')::double precision
    FROM meta WHERE key LIKE 'health:%' AND value LIKE '{%'
        AND value::jsonb ->> 'state' IS NOT NULL AND value::jsonb ->> 'episode' IS NOT NULL;

ALTER TABLE channel_state ADD COLUMN last_digest_at DOUBLE PRECISION;
INSERT INTO channel_state (channel, last_digest_at)
    SELECT substr(key, 8), value::double precision FROM meta WHERE key LIKE 'digest:%'
    ON CONFLICT (channel) DO UPDATE SET last_digest_at = excluded.last_digest_at;

DELETE FROM meta WHERE key LIKE 'arrivals:%' OR key LIKE 'health:%' OR key LIKE 'digest:%';
ALTER TABLE feeds DROP COLUMN health_reported;
