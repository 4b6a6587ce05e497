"""The embedded demo dataset: a generated, realistic Tianjin, loaded through real ingestion.

``generate`` and ``write_files`` build and write the dataset (:mod:`data.demo.generator`);
``demo_files`` lists the committed upload files in order and ``load_demo`` ingests them into a
store (:mod:`data.demo.manifest`). Names are resolved lazily so that importing the package does
no work and ``python -m data.demo.generator`` runs the generator module exactly once.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data.demo.generator import DemoData, Upload, generate, write_files
    from data.demo.manifest import demo_files, load_demo
    from data.demo.vintage import load_demo_until

__all__ = [
    "DemoData",
    "Upload",
    "demo_files",
    "generate",
    "load_demo",
    "load_demo_until",
    "write_files",
]

_HOMES = {
    "DemoData": "data.demo.generator",
    "Upload": "data.demo.generator",
    "generate": "data.demo.generator",
    "write_files": "data.demo.generator",
    "demo_files": "data.demo.manifest",
    "load_demo": "data.demo.manifest",
    "load_demo_until": "data.demo.vintage",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'data.demo' has no attribute {name!r}")
