"""`GET /export/stix`, `/export/json` and `/export/graphml`: the graph as the caller's key sees it.

The same writers as `keten export` run with the key's clearance, so a reader with a green
key gets a file without a trace of amber or red records (nor citations of such sources).
Each export streams from a worker thread as it is written (`keten.api.export_stream`): the
first bytes go out once the first chunk is written, memory stays flat, an export stops when
its client goes away, and at most `MAX_EXPORTS` run at once (503 with Retry-After beyond).
An export that fails before its first byte answers a problem; one that fails later ends
with a line saying so and is cut off (the status was already sent).

GraphML reads the records twice (its keys come first, `keten.graph.graphml`); the keys of
the first pass are kept per store, clearance and revision, so exporting again before the
next write starts at once.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import IO, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from keten.api import export_stream
from keten.api.deps import ReaderDep, StoreDep
from keten.api.problems import ApiProblem, responses
from keten.graph.export import write_json
from keten.graph.graphml import GraphmlExportError, KeyTable, collect_keys, write_graphml
from keten.graph.stix_export import write_stix
from keten.graph.store import GraphStore
from keten.schema.markings import Tlp

router = APIRouter(prefix="/export", tags=["export"], responses=responses(401, 403, 503))

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
GRAPHML_MEDIA_TYPE = "application/graphml+xml"
_graphml_keys: weakref.WeakKeyDictionary[GraphStore, dict[tuple[Tlp, int], KeyTable]] = (
    weakref.WeakKeyDictionary()
)
_keys_lock = threading.Lock()


def graphml_keys(
    store: GraphStore, clearance: Tlp, tick: Callable[[], object]
) -> tuple[KeyTable, int]:
    """The GraphML keys of `clearance`'s records: kept ones if no write came since, else
    the first pass now (calling `tick` as it goes). Returns them with the revision they
    were read at."""
    revision = store.revision(clearance)
    with _keys_lock:
        kept = _graphml_keys.get(store, {}).get((clearance, revision))
    return (kept if kept is not None else collect_keys(store, clearance, tick)), revision


def write_graphml_kept(store: GraphStore, out: IO[bytes], clearance: Tlp) -> dict[str, int]:
    """`write_graphml` with kept keys; keeps the keys when no write came during the export."""
    keys, revision = graphml_keys(store, clearance, out.flush)
    counts = write_graphml(store, out, clearance, keys)
    if store.revision(clearance) == revision:
        with _keys_lock:
            _graphml_keys[store] = {(clearance, revision): keys} | {
                k: v for k, v in _graphml_keys.get(store, {}).items() if k[0] != clearance
            }
    return counts


async def export_response(
    request: Request,
    write: export_stream.Writer,
    store: GraphStore,
    clearance: Tlp,
    media_type: str,
    filename: str,
) -> Response:
    """The export as a download, started once its first chunk is written."""
    handoff = export_stream.start(write, store, clearance)
    first = await export_stream.first_chunk(handoff, request)
    if first is None:  # the client left; nobody reads this
        return Response(status_code=499)
    if isinstance(first, export_stream.Done):
        if first.error is None:  # an export of no bytes at all
            return Response(b"", media_type=media_type, headers=disposition(filename))
        if isinstance(first.error, GraphmlExportError):
            raise ApiProblem(409, "not-representable", str(first.error))
        raise first.error
    return export_stream.ExportResponse(handoff, first, media_type, disposition(filename))


def disposition(filename: str) -> dict[str, str]:
    """The header that makes the answer a download named `filename`."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def content(
    media_type: str, description: str, schema_type: str = "object"
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI 200 entry of an export route."""
    schema = {"type": schema_type}
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


@router.get(
    "/stix",
    response_class=StreamingResponse,
    responses=content(STIX_MEDIA_TYPE, "A STIX 2.1 bundle."),
)
async def export_stix(request: Request, store: StoreDep, principal: ReaderDep) -> Response:
    """The graph as a STIX 2.1 bundle (see `keten.graph.stix_export` for the mapping)."""
    return await export_response(
        request, write_stix, store, principal.clearance, STIX_MEDIA_TYPE, "keten.stix.json"
    )


@router.get(
    "/json",
    response_class=StreamingResponse,
    responses=content("application/json", "A keten bundle, loadable with `keten load`."),
)
async def export_json(request: Request, store: StoreDep, principal: ReaderDep) -> Response:
    """The graph as a keten bundle `{"entities": [...], "relations": [...]}`."""
    return await export_response(
        request, write_json, store, principal.clearance, "application/json", "keten.json"
    )


@router.get(
    "/graphml",
    response_class=StreamingResponse,
    responses=content(
        GRAPHML_MEDIA_TYPE, "GraphML, loadable with `keten load`.", schema_type="string"
    )
    | responses(409),
)
async def export_graphml(request: Request, store: StoreDep, principal: ReaderDep) -> Response:
    """The graph as GraphML (see `keten.graph.graphml`), for Gephi, yEd or networkx; 409
    when a record holds an id XML cannot carry."""
    return await export_response(
        request,
        write_graphml_kept,
        store,
        principal.clearance,
        GRAPHML_MEDIA_TYPE,
        "keten.graphml",
    )
