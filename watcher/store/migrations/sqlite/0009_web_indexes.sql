-- version 9: indexes for the web dashboard's reads. Items per feed per day (the feeds
-- page's sparklines) read only (seen_at, feed_url); the alerts page finds a feed's alerts
-- through its items. (A story's other outlets use items_story, of version 7.)
CREATE INDEX items_seen_feed ON items (seen_at, feed_url);
CREATE INDEX alerts_item ON alerts (item_id);
