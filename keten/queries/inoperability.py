"""Inoperability: Haimes and Jiang's Inoperability Input-Output Model (IIM) on the graph.

Inoperability q_i in [0, 1] is the share of its function that entity i has lost. With an
initial perturbation c* and the interdependency matrix A*, where a*_ij = scale * strength of
`i -[:DEPENDS_ON]-> j` (parallel edges add up), the static model is the balance
q = A* q + c*, so q = (I - A*)^-1 c* (Haimes and Jiang 2001, J. Infrastruct. Syst. 7:1-12).
It has a meaningful solution only when the spectral radius of A* is below 1 (Setola et al.
2009), so a larger radius is refused with the `scale` that would make it usable.

The dynamic form (Lian and Haimes 2006) steps q(k+1) = q(k) + K [A* q(k) + c*(k) - q(k)]
from q(0) = 0, with K the diagonal of recovery rates k_i in (0, 1] and c*(k) = c* for the first
`duration_steps` steps and 0 afterwards, so one sees the disruption spread and recover.

Only entities that depend, directly or not, on a perturbed one can become inoperable, so
the system is solved (scipy.sparse GMRES) on that part of the graph alone. Like FFI's diimpy,
inoperabilities are clipped to at most 1.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field
from scipy.sparse.csgraph import breadth_first_order
from scipy.sparse.linalg import ArpackNoConvergence, eigs, gmres, spsolve

from keten.graph.projection import EDGE_DEPENDS_ON, Projection
from keten.queries.errors import AnalysisInputError, UnknownEntityError

Share = Annotated[float, Field(ge=0, le=1)]
Rate = Annotated[float, Field(gt=0, le=1)]


class InoperabilityRequest(BaseModel):
    """Body of `POST /analysis/inoperability`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"perturbation": {"vp:electricity-national": 0.5}, "mode": "static", "scale": 0.5},
                {
                    "perturbation": {"vp:electricity-national": 0.8},
                    "mode": "dynamic",
                    "steps": 48,
                    "duration_steps": 12,
                    "recovery_rate": 0.3,
                },
            ]
        },
    )

    perturbation: Annotated[dict[str, Share], Field(min_length=1, max_length=1000)] = Field(
        description="c*: initial inoperability per entity id, in [0, 1]."
    )
    mode: Literal["static", "dynamic"] = "static"
    scale: Annotated[
        float, Field(gt=0, le=1, description="a*_ij = scale * dependency strength.")
    ] = 1.0
    steps: Annotated[int, Field(ge=1, le=10_000)] = 100
    duration_steps: Annotated[
        int | None, Field(ge=0, le=10_000, description="Steps during which c* acts (all).")
    ] = None
    recovery_rate: Rate = 0.5
    recovery_rates: dict[str, Rate] = Field(
        default_factory=dict, description="k_i per entity id (others use `recovery_rate`)."
    )
    limit: Annotated[int, Field(ge=1, le=10_000)] = 100


class Inoperability(BaseModel):
    """Inoperability of one entity; `peak` and `cumulative` only in dynamic mode."""

    id: str
    kind: str
    name: str
    inoperability: float = Field(description="Static q_i, or q_i after the last step.")
    peak: float | None = None
    cumulative: float | None = Field(None, description="Sum of q_i over the steps.")


class InoperabilityResult(BaseModel):
    """Entities with nonzero inoperability, largest first."""

    mode: str
    spectral_radius: float
    total: int
    entities: list[Inoperability]
    revision: int


def interdependency_matrix(projection: Projection, scale: float) -> sp.csr_matrix:
    """A* over all nodes: a*_ij = scale * summed strength of `i DEPENDS_ON j`."""
    p = projection
    n = p.node_count
    needed = np.repeat(np.arange(n), np.diff(p.indptr))
    depends = p.edge_kind == EDGE_DEPENDS_ON
    values = scale * p.strength[depends]
    return sp.csr_matrix((values, (p.targets[depends], needed[depends])), shape=(n, n))


def spectral_radius(matrix: sp.csr_matrix) -> float:
    """Largest |eigenvalue| (dense for small matrices, ARPACK otherwise)."""
    n = matrix.shape[0]
    if matrix.nnz == 0:
        return 0.0
    if n <= 400:
        return float(np.max(np.abs(np.linalg.eigvals(matrix.toarray()))))
    try:
        start = np.ones(n)  # a fixed start vector: the same graph gives the same radius
        values = eigs(
            matrix.astype(np.float64), k=1, which="LM", v0=start, return_eigenvectors=False
        )
    except ArpackNoConvergence as exc:
        raise AnalysisInputError("could not determine the spectral radius of A*") from exc
    return float(np.abs(values[0]))


def affected_part(projection: Projection, starts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Nodes that depend, directly or not, on a perturbed node (the perturbed ones included)."""
    p = projection
    n = p.node_count
    tails = np.repeat(np.arange(n), np.diff(p.indptr))
    depends = p.edge_kind == EDGE_DEPENDS_ON
    ones = np.ones(int(depends.sum()))
    graph = sp.csr_matrix((ones, (tails[depends], p.targets[depends])), shape=(n, n))
    seen = np.zeros(n, dtype=np.bool_)
    for start in starts.tolist():
        if not seen[start]:
            seen[breadth_first_order(graph, start, directed=True, return_predecessors=False)] = True
    return np.flatnonzero(seen).astype(np.int64)


def node_indices(projection: Projection, ids: list[str]) -> npt.NDArray[np.int64]:
    """Indices of ids; unknown or hidden ids raise UnknownEntityError."""
    unknown = [i for i in ids if i not in projection.index]
    if unknown:
        raise UnknownEntityError(unknown)
    return np.array([projection.index[i] for i in ids], dtype=np.int64)


def inoperability(projection: Projection, request: InoperabilityRequest) -> InoperabilityResult:
    """Static or dynamic IIM for the perturbation in `request`."""
    p = projection
    starts = node_indices(p, list(request.perturbation))
    node_indices(p, list(request.recovery_rates))
    part = affected_part(p, starts)
    local = {int(u): i for i, u in enumerate(part.tolist())}
    a_star = interdependency_matrix(p, request.scale)[part][:, part].tocsr()
    radius = spectral_radius(a_star)
    if radius >= 1:
        raise AnalysisInputError(
            f"A* has spectral radius {radius:.4g} >= 1, so the IIM has no meaningful solution; "
            f"use a scale below {request.scale / radius:.4g}"
        )
    c_star = np.zeros(part.shape[0])
    for entity_id, value in request.perturbation.items():
        c_star[local[p.index[entity_id]]] = value
    peak = cumulative = None
    if request.mode == "static":
        q = static(a_star, c_star)
    else:
        rates = np.full(part.shape[0], request.recovery_rate)
        for entity_id, rate in request.recovery_rates.items():
            if p.index[entity_id] in local:
                rates[local[p.index[entity_id]]] = rate
        q, peak, cumulative = dynamic(a_star, c_star, rates, request)
    return _result(p, request, part, np.minimum(q, 1.0), peak, cumulative, radius)


def static(a_star: sp.csr_matrix, c_star: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Solve (I - A*) q = c*: GMRES first (no fill-in on large graphs), exact LU if it stalls."""
    system = (sp.identity(a_star.shape[0], format="csr") - a_star).tocsr()
    q, info = gmres(system, c_star, rtol=1e-12, atol=0.0, restart=50, maxiter=200)
    if info != 0:
        q = spsolve(system.tocsc(), c_star)
    return np.atleast_1d(np.asarray(q, dtype=np.float64))


def dynamic(
    a_star: sp.csr_matrix,
    c_star: npt.NDArray[np.float64],
    rates: npt.NDArray[np.float64],
    request: InoperabilityRequest,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Step the DIIM; returns final q, peak q and the sum of q over the steps."""
    duration = request.steps if request.duration_steps is None else request.duration_steps
    q = np.zeros_like(c_star)
    peak = np.zeros_like(c_star)
    total = np.zeros_like(c_star)
    for step in range(request.steps):
        forcing = c_star if step < duration else 0.0
        q = np.minimum(q + rates * (a_star @ q + forcing - q), 1.0)
        np.maximum(peak, q, out=peak)
        total += q
    return q, peak, total


def _result(
    p: Projection,
    request: InoperabilityRequest,
    part: npt.NDArray[np.int64],
    q: npt.NDArray[np.float64],
    peak: npt.NDArray[np.float64] | None,
    cumulative: npt.NDArray[np.float64] | None,
    radius: float,
) -> InoperabilityResult:
    score = q if peak is None else peak
    nonzero = np.flatnonzero(score > 1e-12)
    order = nonzero[np.lexsort((part[nonzero], -score[nonzero]))]
    entities = [
        Inoperability(
            id=p.ids[part[i]],
            kind=p.kinds[part[i]],
            name=p.names[part[i]],
            inoperability=float(q[i]),
            peak=None if peak is None else float(peak[i]),
            cumulative=None if cumulative is None else float(cumulative[i]),
        )
        for i in order[: request.limit].tolist()
    ]
    return InoperabilityResult(
        mode=request.mode,
        spectral_radius=radius,
        total=int(nonzero.shape[0]),
        entities=entities,
        revision=p.revision,
    )
