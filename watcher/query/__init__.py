"""Watch-profile query language: parse, normalise, match, and make snippets.

    from watcher.query import Document, Matcher, compile_query, normalize, plain_text, make_snippet
"""

from watcher.query.document import Document
from watcher.query.matcher import CompiledQuery, Matcher, compile_query
from watcher.query.normalize import normalize, plain_text
from watcher.query.snippet import make_snippet

__all__ = [
    "CompiledQuery",
    "Document",
    "Matcher",
    "compile_query",
    "make_snippet",
    "normalize",
    "plain_text",
]
