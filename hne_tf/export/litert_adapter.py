"""Every use of LiteRT's private Python API, in one place, behind a version check.

The host runner's zero-copy path (:class:`hne_tf.export.runtime.Runner`,
:class:`~hne_tf.export.runtime.Steps`) needs what ``ai_edge_litert``'s public
API does not give: a signature's subgraph index and tensor indices, and its
interpreter wrapper, to resize, allocate, invoke and view tensors without
the copy and re-allocation ``SignatureRunner.__call__`` makes on every call.
The XNNPACK partition count reads the node list (``_get_ops_details``), and
the ``CompiledModel`` measurement shares one environment
(``_create_default_environment``). Those members may change in any release,
so nothing else in hne-tf touches them, and each accessor first checks the
installed ``ai-edge-litert`` against :data:`TESTED_VERSIONS`: an unknown
version fails with one line saying what to do, rather than breaking the
zero-copy path in some other way. ``HNE_TF_LITERT_UNTESTED=1`` skips the
check (to try a new release; the tests then say whether it works).

Adding a version: run ``python3 -m pytest -q tests/test_export.py
tests/test_delegate.py`` with it installed and ``HNE_TF_LITERT_UNTESTED=1``,
then add it here.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os

import numpy as np

#: ``ai-edge-litert`` releases whose private members below were checked (requirements.txt pins the last).
TESTED_VERSIONS = ("2.3.0",)
#: Set to 1 to use an untested release anyway.
OVERRIDE = "HNE_TF_LITERT_UNTESTED"


class UnsupportedLiteRT(RuntimeError):
    """The installed ``ai-edge-litert`` is not one of :data:`TESTED_VERSIONS`; the message says what to do."""


def installed_version() -> str:
    try:
        return importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def _checked(version: str, override: bool) -> None:
    if override or version in TESTED_VERSIONS:
        return
    raise UnsupportedLiteRT(
        f"ai-edge-litert {version} is installed, but hne-tf's zero-copy LiteRT runner was tested only with "
        f"{', '.join(TESTED_VERSIONS)} (it uses private members that change between releases): "
        f"pip install ai-edge-litert=={TESTED_VERSIONS[-1]}, or set {OVERRIDE}=1 to try this one")


def check_version() -> None:
    """Raises :class:`UnsupportedLiteRT` unless the installed release was tested (or the override is set)."""
    _checked(installed_version(), os.environ.get(OVERRIDE, "") not in ("", "0"))


class Subgraph:
    """One signature of an interpreter, through LiteRT's interpreter wrapper.

    ``inputs`` and ``outputs``: name -> tensor index, in the signature's order.
    ``invoke_parts``: ``(invoke, subgraph)``, so that a hot loop calls
    ``invoke(subgraph)`` with no Python layer between.
    """

    def __init__(self, interpreter, key: str) -> None:
        check_version()
        runner = interpreter.get_signature_runner(key)
        self.interpreter = interpreter
        self.runner = runner  # the public SignatureRunner (its get_input_details, ...)
        self._wrapper = runner._interpreter_wrapper
        self.subgraph = runner._subgraph_index
        self.inputs: dict[str, int] = dict(runner._inputs)
        self.outputs: dict[str, int] = dict(runner._outputs)
        self.invoke_parts = (self._wrapper.Invoke, self.subgraph)

    def resize_input(self, index: int, shape) -> None:
        self._wrapper.ResizeInputTensor(index, np.array(shape, np.int32), False, self.subgraph)

    def allocate(self) -> None:
        self._wrapper.AllocateTensors(self.subgraph)

    def set_tensor(self, index: int, value: np.ndarray) -> None:
        self._wrapper.SetTensor(index, value, self.subgraph)

    def get_tensor(self, index: int) -> np.ndarray:
        return self._wrapper.GetTensor(index, self.subgraph)

    def invoke(self) -> None:
        self._wrapper.Invoke(self.subgraph)

    def view(self, index: int) -> np.ndarray:
        """A numpy view of tensor ``index``'s buffer (valid until the subgraph is re-allocated)."""
        return self._wrapper.tensor(self.interpreter, index, self.subgraph)


def ops_details(interpreter) -> list[dict]:
    """The interpreter's node list (subgraph 0 only: the wrapper reads no other), after delegation."""
    check_version()
    return interpreter._get_ops_details()


def default_environment():  # noqa: ANN201 (LiteRT's own Environment type)
    """A ``CompiledModel`` environment with LiteRT's defaults."""
    check_version()
    from ai_edge_litert.compiled_model import _create_default_environment

    return _create_default_environment()


__all__ = ["OVERRIDE", "TESTED_VERSIONS", "Subgraph", "UnsupportedLiteRT", "check_version", "default_environment",
           "installed_version", "ops_details"]
