"""Bundle ingest: readers for JSON, YAML, JSONL and CSV, validation, all-or-nothing loading."""

from keten.ingest.loader import Attribution, LoadReport, load_bundle, load_items, load_paths
from keten.ingest.problems import BundleRejected, Problem

__all__ = [
    "Attribution",
    "BundleRejected",
    "LoadReport",
    "Problem",
    "load_bundle",
    "load_items",
    "load_paths",
]
