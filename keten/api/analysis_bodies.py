"""The analyses' request bodies as the API takes them: numbers are numbers.

The request models belong to keten.queries (the CLI builds them from typed options); over
HTTP they arrive as JSON, where pydantic's lax mode would read `"min_strength": false` as
0. These are the same models, same names and same JSON Schema, with every number field
refusing booleans and strings (keten.api.bodies.strict_numbers), so such a body answers a
422 that names the field.

For the type checker each alias is the query model itself (a subclass made at run time is
no static type); at run time it is the strict subclass, which FastAPI validates with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keten.api.bodies import strict_numbers
from keten.queries.cascade import CascadeRequest
from keten.queries.embargo import EmbargoRequest
from keten.queries.inoperability import InoperabilityRequest
from keten.queries.propagation import PropagationRequest
from keten.queries.scenarios import ScenariosRequest

if TYPE_CHECKING:
    CascadeBody = CascadeRequest
    PropagationBody = PropagationRequest
    InoperabilityBody = InoperabilityRequest
    EmbargoBody = EmbargoRequest
    ScenariosBody = ScenariosRequest
else:
    CascadeBody = strict_numbers(CascadeRequest)
    PropagationBody = strict_numbers(PropagationRequest)
    InoperabilityBody = strict_numbers(InoperabilityRequest)
    EmbargoBody = strict_numbers(EmbargoRequest)
    ScenariosBody = strict_numbers(ScenariosRequest)
