"""Running totals of tokens per API key (``key_tokens_to_date``), kept from the daily rollup.

An organization can have hundreds of API keys, each with a row a day: finding the largest keys
of a month by adding up every key's every day means sorting hundreds of thousands of rows. With
a running total per key, a range's total is the total at its end minus the total before its
start: two index lookups per key. The sync rebuilds the totals from the first day it rewrote,
in the same transaction; the schema upgrade builds them from the rows already stored.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, text

from app.models import USAGE_MEASURES

# Every token type (web searches are requests, not tokens): what "largest" ranks by.
TOKENS = " + ".join(f"u.{m}" for m in USAGE_MEASURES if m.endswith("_tokens"))

_EVERYTHING = date(1, 1, 1)


def refresh_key_totals(conn: Connection, org_pk: int | None, start: date | None) -> None:
    """Rebuild the running totals of ``org_pk`` (None: every organization) from ``start`` on
    (None: from the first day), from ``usage_daily``'s API key rows; and list each key in
    ``dimension_value`` (kind ``api_key``, "" for the null key) so queries know which exist."""
    params = {"org": org_pk, "start": start or _EVERYTHING}
    org = "" if org_pk is None else "AND organization_pk = :org"
    u_org = "" if org_pk is None else "AND u.organization_pk = :org"
    conn.execute(text(f"DELETE FROM key_tokens_to_date WHERE date >= :start {org}"), params)
    # The total before ``start`` is the base every later day adds to.
    conn.execute(
        text(
            "INSERT INTO key_tokens_to_date (organization_pk, api_key, date, tokens) "
            "SELECT u.organization_pk, COALESCE(u.value, ''), u.date, "
            "COALESCE((SELECT k.tokens FROM key_tokens_to_date k "
            "WHERE k.organization_pk = u.organization_pk AND k.api_key = COALESCE(u.value, '') "
            "AND k.date < :start ORDER BY k.date DESC LIMIT 1), 0) "
            f"+ SUM({TOKENS}) OVER (PARTITION BY u.organization_pk, u.value ORDER BY u.date) "
            f"FROM usage_daily u WHERE u.dim = 'api_key' AND u.date >= :start {u_org}"
        ),
        params,
    )
    conn.execute(
        text(
            "INSERT INTO dimension_value (organization_pk, kind, value) "
            "SELECT DISTINCT organization_pk, 'api_key', COALESCE(value, '') FROM usage_daily "
            f"WHERE dim = 'api_key' AND date >= :start {org} ON CONFLICT DO NOTHING"
        ),
        params,
    )
