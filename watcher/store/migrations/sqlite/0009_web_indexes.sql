-- version 9: indexes for the web dashboard's reads. Items per feed per day (the feeds
-- page's sparklines, feed health) read only (seen_at, feed_url); the alerts page finds a
-- feed's alerts through its items, and a story's other outlets by story.
CREATE INDEX items_seen_feed ON items (seen_at, feed_url);
CREATE INDEX items_story ON items (story_id);
CREATE INDEX alerts_item ON alerts (item_id);
