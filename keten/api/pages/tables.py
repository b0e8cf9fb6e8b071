"""The tables of the pages, and their downloads as CSV and JSON.

A page builds its tables once; the HTML shows them and `?download=csv` (or `json`, with
`table=KEY` when the page has several) answers the same rows as a file. Both come from the
same call with the reader's clearance, so a download holds exactly what the page shows.

Column keys are English and stable (they are what scripts read); the page shows them
translated. A CSV cell that a spreadsheet would run as a formula (`=`, `+`, `@`, or `-`
before something that is not a number) is written with a leading apostrophe (OWASP's advice
on CSV injection).

>>> table = Table("t", "Two rows", ["entity", "share"], [{"entity": "=cmd()", "share": "-0.5"}])
>>> csv_text(table).splitlines()
['entity,share', "'=cmd(),-0.5"]
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from starlette.responses import Response

from keten.api.problems import ApiProblem

Download = Literal["csv", "json"]
FORMULA = re.compile(r"^[=+@\t\r]|^-(?![\d.]+\s*\w{0,2}$)")


@dataclass
class Table:
    """Rows under a page's graph or in an analysis page. Each row maps column keys to text;
    `links` maps a column key to the row key whose id that column links to.
    """

    key: str
    caption: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    long_from: int = 25
    """Tables with more rows than this are shown folded (a `<details>`), whole."""

    @property
    def long(self) -> bool:
        """True when the page folds this table."""
        return len(self.rows) > self.long_from

    def records(self) -> list[dict[str, Any]]:
        """The rows as the JSON download gives them: shown columns and linked ids."""
        keys = self.columns + [
            k for k in dict.fromkeys(self.links.values()) if k not in self.columns
        ]
        return [{k: row.get(k, "") for k in keys} for row in self.rows]


def safe_cell(value: Any) -> str:
    """A CSV cell that no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if FORMULA.match(text) else text


def csv_text(table: Table) -> str:
    """The table as CSV: a header of column keys (and linked ids), then the rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    records = table.records()
    keys = list(records[0]) if records else table.columns
    writer.writerow(keys)
    for record in records:
        writer.writerow([safe_cell(record[k]) for k in keys])
    return buffer.getvalue()


def choose(tables: list[Table], key: str | None) -> Table:
    """The table called `key` (the page's first when None); a 404 problem when absent."""
    if key is None and tables:
        return tables[0]
    for table in tables:
        if table.key == key:
            return table
    known = ", ".join(t.key for t in tables) or "none"
    raise ApiProblem(404, "not-found", f"this page has no table {key!r} (it has: {known})")


def download(tables: list[Table], fmt: Download, key: str | None, stem: str) -> Response:
    """One of the page's tables as an attachment named `<stem>-<table>.<fmt>`."""
    table = choose(tables, key)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{stem}-{table.key}").strip("-")
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if fmt == "csv":
        body = csv_text(table).encode("utf-8")
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
    payload = {"table": table.key, "caption": table.caption, "rows": table.records()}
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)
