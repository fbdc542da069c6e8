"""Rules between parameters that JSON Schema cannot state, for the contract run of test/api-contract.test.ts.

Each hook keeps generated cases inside one such rule; the document states the rule in words and
declares the answer to a request that breaks it.
"""

import re

import schemathesis

_DATE_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))$")


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, year 0 included, as Date counts them."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _millis(value: str) -> int | None:
    """The instant as JavaScript's Date keeps it: milliseconds since the epoch, sub-millisecond digits dropped."""
    m = _DATE_TIME.match(value)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    millis = int((m.group(7) or "0")[:3].ljust(3, "0"))
    offset = 0
    if m.group(8):
        offset = (int(m.group(9)) * 60 + int(m.group(10))) * (1 if m.group(8) == "+" else -1)
    minutes = _days_from_civil(year, month, day) * 1440 + hour * 60 + minute - offset
    return (minutes * 60 + second) * 1000 + millis


@schemathesis.hook("filter_case").apply_to(name="GET /tasks")
def due_bounds_in_order(ctx, case) -> bool:
    """GET /tasks answers 400 TASK_ERR_INVALID_QUERY unless dueAfter is earlier than dueBefore."""
    query = case.query or {}
    before, after = query.get("dueBefore"), query.get("dueAfter")
    if not isinstance(before, str) or not isinstance(after, str):
        return True
    b, a = _millis(before), _millis(after)
    return b is None or a is None or a < b
