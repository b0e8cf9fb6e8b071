"""The reference knowledge base shipped with keten: a folder bundle of YAML files.

`keten init` loads it so that a fresh store already knows the Dutch national-security
landscape. It is one bundle (relations point across files) under `reference/`:

- ``sources.yaml``: the reports and data sets every record cites (with ``source_type``), and the
  institutes of the analysts' network (its partners as ``MEMBER_OF institute:anv``);
- ``interests.yaml``: the six national-security interests and the impact criteria measuring them;
- ``vital_processes.yaml``: the vital processes of the current NCTV list with sector and
  ministry, and the A/B category of the older list dated by ``category_as_of``;
- ``dependencies.yaml``: modelled ``DEPENDS_ON`` edges between processes and resources, with
  ``buffer_hours`` (the minimum of ``buffer_hours_min``/``_max`` where a range is published) and
  ``redundancy_group`` where real alternatives exist, and ``SAFEGUARDS``;
- ``threats.yaml``: all-hazard threats in the nine themes of the national risk assessment;
- ``actors.yaml``: state, terrorist, criminal and hacktivist actors and the threats they pose;
- ``resources.yaml``: the five strategic-dependency areas of the source letter and related goods;
- ``raw_materials.yaml``: EU critical raw materials with cited supplier shares and their uses;
- ``countries.yaml``: the EU-27 and the non-EU supplier and actor countries.

Every record carries ``source_ids`` and ``contributor: keten reference data``; whatever the
editors could not check against its source is ``verified: false`` with a ``note`` saying what.
The editors' own modelling cites ``source:keten-editorial-model`` (docs/editorial-model.md),
never an official report.

>>> (reference_bundle_path() / "interests.yaml").is_file()
True
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

__all__ = ["reference_bundle_path"]


def reference_bundle_path() -> Path:
    """The folder of the reference bundle, as a real path that `keten.ingest` can read.

    Resolved through importlib.resources so it also works from an installed wheel; the
    package is never zipped, so the path stays valid after the context closes.
    """
    with as_file(files("keten.data") / "reference") as path:
        return Path(path)
