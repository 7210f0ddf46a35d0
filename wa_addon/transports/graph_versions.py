"""Graph API versions Meta has dated, and how long the configured one has left.

Meta retires a Graph API version about two years after the next one ships
(https://developers.facebook.com/docs/graph-api/changelog/versions/).  A
retired version answers every call with an error, so ``wa-addon doctor``
warns when ``WA_CLOUD_API_VERSION`` is within :data:`WARN_DAYS` of its date.
Add a row here when Meta dates the next version.
"""

from __future__ import annotations

from datetime import date

WARN_DAYS = 60

# Version -> the day Meta retires it, as Meta's changelog lists them (2026-11).
RETIREMENTS: dict[str, date] = {
    "v19.0": date(2026, 5, 21),
    "v20.0": date(2026, 9, 24),
    "v21.0": date(2027, 1, 21),
    "v22.0": date(2027, 5, 20),
    "v23.0": date(2027, 10, 8),
    "v24.0": date(2028, 2, 18),
    "v25.0": date(2028, 7, 29),
}
OLDEST_DATED = 19  # anything older is long retired


def retires_on(version: str) -> date | None:
    """When ``version`` retires; ``date.min`` for versions older than the table, None when not dated."""
    if version in RETIREMENTS:
        return RETIREMENTS[version]
    major = version.removeprefix("v").split(".", 1)[0]
    if major.isdigit() and int(major) < OLDEST_DATED:
        return date.min
    return None


def days_left(version: str, today: date) -> int | None:
    """Days until ``version`` retires (negative: retired); None when Meta has not dated it."""
    day = retires_on(version)
    if day is None:
        return None
    return -1 if day == date.min else (day - today).days
