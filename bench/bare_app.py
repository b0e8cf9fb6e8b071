"""The baseline of bench.serving_overhead: a bare FastAPI app over keten's SQLite file.

It answers the same small reads keten does (one entity by id, a page of entities) straight
from the `entities` table, with no key, clearance, ETag or response model, on the same
uvicorn settings (one worker, h11 with TCP_NODELAY), so the ratio against it is what keten's
own work per request costs. Run by the bench as
`python -m bench.bare_app PORT` with `KETEN_BARE_DB` naming the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading

import uvicorn
from fastapi import FastAPI, HTTPException

from keten.api.server import NoDelayProtocol

SELECT = "SELECT id, kind, name, props FROM entities"


def create_app() -> FastAPI:
    """The bare app over the SQLite file in `KETEN_BARE_DB`, one connection per thread."""
    path = os.environ["KETEN_BARE_DB"]
    local = threading.local()
    app = FastAPI()

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "db"):
            local.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db: sqlite3.Connection = local.db
        return db

    @app.get("/entities/{entity_id}")
    def entity(entity_id: str) -> dict[str, object]:
        row = connection().execute(f"{SELECT} WHERE id = ?", (entity_id,)).fetchone()
        if row is None:
            raise HTTPException(404)
        return record(row)

    @app.get("/entities")
    def entities(limit: int = 50) -> dict[str, object]:
        rows = connection().execute(f"{SELECT} ORDER BY id LIMIT ?", (limit,)).fetchall()
        return {"items": [record(r) for r in rows], "next_cursor": None}

    return app


def record(row: tuple[str, str, str, str]) -> dict[str, object]:
    """The stored row as the record keten answers: id, kind, name and the properties."""
    entity_id, kind, name, props = row
    return {"id": entity_id, "kind": kind, "name": name, **json.loads(props)}


def main() -> None:
    """Serve the bare app on the port in argv[1] like `keten serve` serves keten."""
    uvicorn.run(
        create_app,
        factory=True,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        http=NoDelayProtocol,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
