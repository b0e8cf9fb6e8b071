"""JSON answers made where the route's work is done.

FastAPI checks and serialises what a plain (thread-pool) route returns in a second trip to
the thread pool; a small read spends as long on those trips as on its own work. Routes that
answer often build their `Response` here instead, from a value already of the declared
model, and keep the model in the route's `response_model` for the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json
from starlette.responses import Response


def json_answer(
    content: BaseModel | dict[str, Any], headers: dict[str, str] | None = None, status: int = 200
) -> Response:
    """`content` as an `application/json` response, serialised as FastAPI would."""
    return Response(
        to_json(content), status_code=status, headers=headers, media_type="application/json"
    )
