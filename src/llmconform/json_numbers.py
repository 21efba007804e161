"""Numbers as JSON Schema sees them: the contract's ``type: integer`` also matches 2.0.

JSON Schema 2020-12 counts any number with a zero fractional part as an integer, so a request with
``"n": 2.0`` is valid and means two choices. Rules and the mock read integers through here.
"""

from __future__ import annotations

from typing import Any


def as_int(value: Any) -> int | None:
    """The integer ``value`` stands for (3 and 3.0 alike), or None; booleans are not integers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
