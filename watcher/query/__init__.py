"""Watch-profile query language: parse, fold, match, and make snippets.

    from watcher.query import Document, Matcher, compile_query, fold_for_matching, make_snippet
"""

from watcher.query.document import Document
from watcher.query.matcher import CompiledQuery, Matcher, compile_query
from watcher.query.normalize import fold_for_matching
from watcher.query.snippet import make_snippet

__all__ = [
    "CompiledQuery",
    "Document",
    "Matcher",
    "compile_query",
    "fold_for_matching",
    "make_snippet",
]
