"""Rules between parameters that JSON Schema cannot state, for the contract run of test/api-contract.test.ts.

Each hook keeps generated cases inside one such rule; the document states the rule in words and
declares the answer to a request that breaks it.
"""

from datetime import datetime, timezone

import schemathesis


def _millis(value: str) -> int | None:
    """The instant as JavaScript's Date keeps it: milliseconds since the epoch."""
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    # Sub-millisecond digits are dropped, as Date.parse drops them.
    delta = parsed - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


@schemathesis.hook("filter_case").apply_to(name="GET /tasks")
def due_bounds_in_order(ctx, case) -> bool:
    """GET /tasks answers 400 TASK_ERR_INVALID_QUERY unless dueAfter is earlier than dueBefore."""
    query = case.query or {}
    before, after = query.get("dueBefore"), query.get("dueAfter")
    if not isinstance(before, str) or not isinstance(after, str):
        return True
    b, a = _millis(before), _millis(after)
    return b is None or a is None or a < b
