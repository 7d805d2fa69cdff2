-- version 8: the article behind a teaser item (watcher/article): its extracted main text
-- (capped at 100 KB, pruned with the item) and what came of fetching it.
ALTER TABLE items ADD COLUMN article TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN article_outcome TEXT;   -- ok | empty | paywall | ... ; NULL: not fetched
