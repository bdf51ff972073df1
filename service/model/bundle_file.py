"""``model.skops``: written with skops, read back with numpy alone.

``import skops.io`` imports scikit-learn, and with scipy that is about 146 MB resident in every
worker, which only needs five arrays. A bundle is written by :func:`write_arrays` (skops, in
training) and holds one dict of numeric arrays; skops stores each array in numpy's own ``.npy``
format inside the zip, beside a JSON schema that names every node's type. :func:`read_arrays`
accepts exactly that shape and nothing else: every type the schema names must be in the
allow-list (the check ``load_bundle`` always made), the root must be a dict with string keys,
every value an ``ndarray`` stored as ``.npy``, read with ``allow_pickle=False``. So it constructs
nothing but arrays, and refuses any file skops itself would have to construct anything else for.
A test compares its arrays with ``skops.io.load`` on a fresh bundle and the committed default.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

# skops refuses everything else; the bundle holds plain arrays in a dict, nothing executable.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.ndarray",
    "numpy.dtype",
    "builtins.dict",
    "builtins.list",
    "builtins.str",
)
# The skops file layout this reader knows (skops 0.16 writes 2); another is refused, not guessed at.
SKOPS_PROTOCOL = 2


class BundleFileError(Exception):
    """The file is not a bundle's ``model.skops``; the message says why."""


def write_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    # Training only: a worker never writes a bundle, and skops brings in scikit-learn.
    import skops.io as sio

    sio.dump(arrays, path, compression=zipfile.ZIP_DEFLATED, compresslevel=6)


def types_in(schema: Any) -> set[str]:
    """Every type named anywhere in a skops schema.

    skops trusts much of scikit-learn by default; a bundle is stricter and holds only arrays.
    """
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node and "__module__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _is(node: Any, loader: str, kind: str) -> bool:
    return (
        isinstance(node, dict)
        and node.get("__loader__") == loader
        and f"{node.get('__module__')}.{node.get('__class__')}" == kind
    )


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The dict of arrays in ``path``; raises :class:`BundleFileError` on anything else."""
    try:
        with zipfile.ZipFile(path) as zf:
            schema = json.loads(zf.read("schema.json"))
            refused = sorted(types_in(schema) - set(TRUSTED_TYPES))
            if refused:
                raise BundleFileError(f"refusing untrusted types {refused}")
            if not isinstance(schema, dict) or schema.get("protocol") != SKOPS_PROTOCOL:
                protocol = schema.get("protocol") if isinstance(schema, dict) else None
                raise BundleFileError(f"skops protocol {protocol!r}; this service reads {SKOPS_PROTOCOL}")
            content = schema.get("content")
            key_types = schema.get("key_types", {}).get("content")
            if (
                not _is(schema, "DictNode", "builtins.dict")
                or not isinstance(content, dict)
                or not isinstance(key_types, list)
                or len(key_types) != len(content)
                or not all(_is(k, "TypeNode", "builtins.str") for k in key_types)
            ):
                raise BundleFileError("not a dict of arrays with string keys")
            arrays = {}
            for key, node in content.items():
                if not _is(node, "NdArrayNode", "numpy.ndarray") or node.get("type") != "numpy":
                    raise BundleFileError(f"{key!r} is not an array stored in numpy's format")
                array = np.load(io.BytesIO(zf.read(str(node["file"]))), allow_pickle=False)
                if not isinstance(array, np.ndarray) or array.dtype.hasobject:
                    raise BundleFileError(f"{key!r} is not a numeric array")
                arrays[key] = array
            return arrays
    except BundleFileError:
        raise
    except Exception as exc:  # a corrupt zip, schema or array surfaces as many exception types
        raise BundleFileError(f"unreadable ({type(exc).__name__}: {exc})") from exc
