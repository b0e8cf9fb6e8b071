"""`GET /export/stix`, `/export/json` and `/export/graphml`: the graph as the caller's key sees it.

The same writers as `keten export` run with the key's clearance, so a reader with a green
key gets a file without a trace of amber or red records (nor citations of such sources).
The export is spooled (in memory up to SPOOL_BYTES, on disk above) and then streamed, so a
large store does not have to fit in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from tempfile import SpooledTemporaryFile
from typing import IO, Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from keten.api.deps import ReaderDep, StoreDep
from keten.api.problems import responses
from keten.graph.export import write_json
from keten.graph.graphml import write_graphml
from keten.graph.stix_export import write_stix
from keten.graph.store import GraphStore
from keten.schema.markings import Tlp

router = APIRouter(prefix="/export", tags=["export"], responses=responses(401, 403))

STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
GRAPHML_MEDIA_TYPE = "application/graphml+xml"
SPOOL_BYTES = 16 * 1024 * 1024
CHUNK = 256 * 1024
Writer = Callable[[GraphStore, IO[bytes], Tlp], dict[str, int]]


def spooled(write: Writer, store: GraphStore, clearance: Tlp) -> SpooledTemporaryFile[bytes]:
    """Run an exporter into a spooled file, rewound for reading."""
    # Not a `with`: the file outlives this call and `chunks` closes it after the response.
    spool: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    try:
        write(store, spool, clearance)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def chunks(spool: SpooledTemporaryFile[bytes]) -> Iterator[bytes]:
    """The spooled export in chunks; the file is closed when the response ends."""
    with spool:
        while chunk := spool.read(CHUNK):
            yield chunk


def export_response(
    write: Writer, store: GraphStore, clearance: Tlp, media_type: str, filename: str
) -> StreamingResponse:
    """The export as a download."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    spool = spooled(write, store, clearance)
    return StreamingResponse(chunks(spool), media_type=media_type, headers=headers)


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
def export_stix(store: StoreDep, principal: ReaderDep) -> StreamingResponse:
    """The graph as a STIX 2.1 bundle (see `keten.graph.stix_export` for the mapping)."""
    return export_response(
        write_stix, store, principal.clearance, STIX_MEDIA_TYPE, "keten.stix.json"
    )


@router.get(
    "/json",
    response_class=StreamingResponse,
    responses=content("application/json", "A keten bundle, loadable with `keten load`."),
)
def export_json(store: StoreDep, principal: ReaderDep) -> StreamingResponse:
    """The graph as a keten bundle `{"entities": [...], "relations": [...]}`."""
    return export_response(write_json, store, principal.clearance, "application/json", "keten.json")


@router.get(
    "/graphml",
    response_class=StreamingResponse,
    responses=content(
        GRAPHML_MEDIA_TYPE, "GraphML, loadable with `keten load`.", schema_type="string"
    ),
)
def export_graphml(store: StoreDep, principal: ReaderDep) -> StreamingResponse:
    """The graph as GraphML (see `keten.graph.graphml`), for Gephi, yEd or networkx."""
    return export_response(
        write_graphml, store, principal.clearance, GRAPHML_MEDIA_TYPE, "keten.graphml"
    )
