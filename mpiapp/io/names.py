"""Symbol names as parts of file names and chart titles: a name from a data file may hold any
character ('/', '..', a 20,000-character string); what the program writes must stay inside the folder
it was given and apart for every symbol."""

from __future__ import annotations

#: the longest symbol text in a chart file name / title (the full name stays in the results file)
NAME_CHARS = 40


def safe_name(symbol: str) -> str:
    """A symbol as a file-name part: letters, digits, '.', '-', '_' only (any other character,
    '/' included, becomes '_'; no leading '.'), at most NAME_CHARS characters; a name that had
    to change gets a short hash of the original, so two symbols never share a chart file."""
    import hashlib
    import re

    s = str(symbol)
    clean = re.sub(r"[^\w.\-]", "_", s, flags=re.UNICODE).lstrip(".") or "_"
    if clean == s and len(clean) <= NAME_CHARS:
        return clean
    digest = hashlib.sha1(s.encode("utf-8", errors="replace")).hexdigest()[:8]
    return f"{clean[:NAME_CHARS]}-{digest}"


def short_name(symbol: str) -> str:
    s = str(symbol)
    return s if len(s) <= NAME_CHARS else s[: NAME_CHARS - 1] + "…"
