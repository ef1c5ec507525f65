"""Where a study lives: the one rule that picks the storage URL, and the rules that keep its password out of
anything shown (messages, logs, the CLI's output).

Light on purpose: SQLAlchemy is imported only where a URL is parsed, so worker processes can import this module.
"""

from __future__ import annotations

import contextlib
import os
import re
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from autotune.errors import StorageError

DEFAULT_STORAGE = "sqlite:///autotune.db"


def resolve_storage(storage: str | None = None, default: str | None = None) -> str:
    """The storage URL a command or a run uses: ``storage`` when given, else ``$AUTOTUNE_STORAGE``, else
    ``default`` (a study's own ``storage=``), else ``sqlite:///autotune.db``."""
    return storage or os.environ.get("AUTOTUNE_STORAGE") or default or DEFAULT_STORAGE


#: a password given as a query parameter (``...?password=...``, as psycopg and libpq accept it), or in a libpq
#: keyword string (``host=db password=...``), quoted or not
_QUERY_SECRET = re.compile(r"(?i)((?:^|[?&;\s])(?:password|passwd|pwd|sslpassword)\s*=\s*)"
                           r"('(?:\\.|[^'\\])*'?|[^&#\s]*)")
#: a libpq keyword string such as "host=db user=me dbname=x"
_KEYWORDS = re.compile(r"(?i)(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|sslmode|service)\s*=")


def _password_span(url: str) -> tuple[int, int] | None:
    """Where a URL's password is written: from after the user name's ':' to the '@' before the host (the last '@'
    before the query, so that an unencoded '@' in the password is counted in it); None when it has none."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower().startswith("sqlite"):  # a file path: any ':' or '@' in it is part of the name
        return None
    start = len(scheme) + len(sep) if sep else 0
    rest = url[start:]
    head = rest.split("?", 1)[0]
    at = head.rfind("@") if "@" in head else rest.rfind("@")  # (a '?' may be part of a password too)
    colon = rest.find(":", 0, at) if at > 0 else -1  # a user name holds no ':' (it may hold an '@')
    return (start + colon + 1, start + at) if colon >= 0 else None


def mask_url(url: str) -> str:
    """The URL as it may be shown: every password replaced by ***."""
    from sqlalchemy.engine import make_url

    shown = str(url)
    span = _password_span(shown)
    if span:
        shown = f"{shown[:span[0]]}***{shown[span[1]:]}"
    with contextlib.suppress(Exception):  # a URL as SQLAlchemy writes it; anything else as given, masked
        shown = make_url(shown).render_as_string(hide_password=True)
    return _QUERY_SECRET.sub(r"\1***", shown)


def _passwords(url: str) -> list[str]:
    """The URL's passwords (in its user part, in its query, in a keyword string), as written and decoded, the
    longest first."""
    from sqlalchemy.engine import make_url

    text = str(url)
    found = []
    span = _password_span(text)
    if span:
        found.append(text[span[0]:span[1]])
    found += [m.group(2) for m in _QUERY_SECRET.finditer(text)]
    found += [p.strip("'") for p in found]
    with contextlib.suppress(Exception):
        parsed = make_url(text)
        found.append(parsed.password or "")
        for key, value in parsed.query.items():
            if key.lower() in ("password", "passwd", "pwd", "sslpassword"):
                found += [value] if isinstance(value, str) else list(value)
    found += [unquote(str(p)) for p in found] + [unquote_plus(str(p)) for p in found]
    return sorted({str(p) for p in found if p}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """Remove the URL's passwords from any text (driver error messages sometimes echo the DSN), as written and as
    percent-encoded in a URL."""
    for pw in _passwords(url):
        text = text.replace(pw, "***").replace(quote_plus(pw), "***").replace(quote(pw, safe=""), "***")
    return text


def parse_url(url: str, shown: str):
    """The storage URL parsed (a SQLAlchemy ``URL``), or one message saying what is wrong with it (never showing
    its password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if isinstance(url, str) and "://" not in url and _KEYWORDS.search(url):
        raise StorageError(f"'{shown}' is not a storage URL but a libpq keyword string (key=value pairs); autotune "
                           "takes a URL: postgresql://user:password@host:5432/db (percent-encode '@', ':' and '/' "
                           "in the password as %40, %3A and %2F).")
    try:
        parsed = make_url(url)
    except ArgumentError:
        path_like = isinstance(url, str) and url.strip() and not any(c in url for c in ":@")
        hint = f"for a SQLite file write sqlite:///{shown}" if path_like else "use e.g. sqlite:///autotune.db"
        raise StorageError(f"'{shown}' is not a storage URL (from --storage, $AUTOTUNE_STORAGE or the study's "
                           f"storage=); {hint}, or postgresql://user:password@host/db.") from None
    except ValueError:  # SQLAlchemy reads the port as a number
        raise StorageError(f"'{shown}' is not a storage URL: the port after the host is not a number; write e.g. "
                           "postgresql://user:password@host:5432/db (percent-encode '@', ':' and '/' in the password "
                           "as %40, %3A and %2F).") from None
    span = _password_span(url)
    if span and "@" in url[span[0]:span[1]] and not parsed.get_backend_name().startswith("sqlite"):
        raise StorageError(f"the password in the storage URL '{shown}' holds an '@', which ends the password there "
                           "and leaves the rest as the host; percent-encode it as %40 (and ':' '/' as %3A %2F), e.g. "
                           "postgresql://user:p%40ss@host/db.")
    return parsed

