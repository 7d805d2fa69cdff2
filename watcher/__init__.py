"""watcher: a news-monitoring daemon for analyst teams."""

__version__ = "0.1.0"
