"""Text from agents and chat users, made safe for a terminal or a log line.

Agents are semi-trusted: a title, step or message may carry ANSI escapes (clear the screen,
paint a forged row), NUL, newlines that forge log lines, or Unicode that reorders text. Every
place such text meets a terminal or a log shows those characters escaped, as Python writes
them (`\\x1b`, `\\n`, `\\u202e`), so what is printed is what was sent."""

from __future__ import annotations

import logging
import re

# C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional overrides.
_CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return repr(char)[1:-1] if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def printable(text: str) -> str:
    """`text` with every control or reordering character written as its escape."""
    return _CONTROL.sub(_escape, text)


def json_line(text: str) -> str:
    """A JSON document (from `json.dumps(..., ensure_ascii=False)`) with the characters above
    written as JSON escapes (`\\u202e`): the same data to a parser, harmless to a terminal."""
    return _CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


class EscapingFormatter(logging.Formatter):
    """Escapes control characters in a log record's message (a traceback keeps its lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = printable(record.message)
        return super().formatMessage(record)
