"""Atomic result files: an interrupted run never leaves a half-written JSON, NPZ or PNG behind.

Every writer goes through :func:`atomic_path`: the content is written to a temporary file in the target's
directory (same filesystem, so the final ``os.replace`` is an atomic rename), flushed to disk, then moved
into place. Readers see either the old file or the complete new one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

PathLike = str | os.PathLike[str]


def _reserve_temp(path: Path) -> Path:
    # O_EXCL with a random name avoids clashes between concurrent writers; mode 0o666 lets the umask
    # decide the final permissions (tempfile.mkstemp would leave every result file private, 0o600).
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not reserve a temporary file next to {path}")


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # directories cannot be opened on some platforms (Windows); best effort
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yields a temporary path to write to; on success it atomically replaces ``path``.

    Parent directories of ``path`` are created. If the body raises (including ``KeyboardInterrupt``),
    the temporary file is removed, an existing ``path`` is left untouched, and the exception propagates.

    Example::

        with atomic_path("results/curve.csv") as tmp:
            tmp.write_text(text)

    Args:
        path: final destination.

    Yields:
        A ``Path`` in the same directory (a hidden ``.<name>.<random>.tmp`` file, already created and
        empty). Writers that infer a format from the file suffix need it passed explicitly.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _reserve_temp(final)
    try:
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_path(final.parent, directory=True)


def to_builtin(obj: Any) -> Any:
    """Recursively converts NumPy (and JAX) values to plain Python for JSON.

    NumPy scalars become ``int``/``float``/``bool``, arrays (anything with ``__array__``) become nested
    lists, mappings become dicts with ``str`` keys, NamedTuples and dataclass instances become dicts,
    other tuples and sets become lists. Anything else is returned unchanged.
    """
    if isinstance(obj, np.generic):  # before the builtins: np.float64 subclasses float
        return obj.item()
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Mapping):
        return {str(to_builtin(k)): to_builtin(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
        return to_builtin(obj._asdict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_builtin({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_builtin(v) for v in obj]
    if hasattr(obj, "__array__"):  # jax.Array and other array-likes, without importing jax
        return np.asarray(obj).tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def write_json(path: PathLike, obj: Any) -> Path:
    """Atomically writes ``obj`` as pretty JSON (2-space indent, sorted keys, trailing newline).

    NumPy/JAX values are converted with :func:`to_builtin`. Non-finite floats are written as ``NaN`` /
    ``Infinity`` (Python's ``json`` reads them back; strict JSON parsers do not).

    Args:
        path: destination; parent directories are created.
        obj: JSON-serialisable after conversion.

    Returns:
        The destination as a ``Path``.
    """
    final = Path(path)
    # Serialise before opening anything, so an unserialisable object fails without touching the disk.
    text = json.dumps(to_builtin(obj), indent=2, sort_keys=True) + "\n"
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return final


def read_json(path: PathLike) -> Any:
    """Reads a JSON file written by :func:`write_json` (or any JSON file)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_npz(path: PathLike, **arrays: Any) -> Path:
    """Atomically saves arrays to an uncompressed ``.npz`` at exactly ``path``.

    Unlike ``np.savez`` with a file name, no ``.npz`` suffix is appended. Load with ``np.load(path)``.

    Args:
        path: destination; parent directories are created.
        **arrays: name -> array-like (NumPy or JAX arrays, scalars, nested lists).

    Returns:
        The destination as a ``Path``.
    """
    final = Path(path)
    with atomic_path(final) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
    return final
