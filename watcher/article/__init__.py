"""The whole story behind a teaser item: when to fetch it, and its main text.

Two modules, imported separately on purpose:
- `watcher.article.policy` (light, imported by the daemon and the config):
  `needs_article(item, mode)` decides whether a new item's page is worth one request;
- `watcher.article.extract` (imports trafilatura: about 0.5 s and 40 MB, so only the
  worker processes import it): `extract(html, url, headers)` returns the page's main
  text, its identity URL and an outcome.

This package's own import loads neither.
"""
