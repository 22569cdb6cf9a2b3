"""Command-line programs: :mod:`hne_tf.cli.train`, and the absl set-up every CLI of the package shares.

A CLI module keeps its ``main(argv)`` and a ``_define_flags()``, and its entry point calls
:func:`run_app`. The entry point is the same function for every way of starting the program:
a console script (``pyproject.toml``), ``python -m hne_tf...``, and the thin wrappers kept at the
repository root (``train.py``, the ``export/`` package) so the README's commands work in a checkout.

Plain Python: importing this package does not import TensorFlow.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_app(main: Callable[[list[str]], None], define_flags: Callable[[], None], usage: str | None) -> None:
    """Defines the program's flags, then runs ``absl.app.run(main)`` (which exits the process).

    absl's ``--help`` prints ``__main__``'s docstring and the flags defined by the main module (the
    module absl names by ``sys.argv[0]``). Here the flags are defined by a library module and
    ``__main__`` is a console script or a wrapper, so the new flags are declared key flags of
    ``sys.argv[0]`` and ``usage`` (the CLI module's docstring) stands in for ``__main__``'s while the
    program runs: ``--help`` shows what it showed when the CLI was its own script. The flags are
    defined at each call, not at import, so an in-process caller (the tests' ``kit.run_cli``) can run
    a CLI again after removing them.
    """
    from absl import app, flags

    values = flags.FLAGS
    before = set(values)
    define_flags()
    for name in sorted(set(values) - before):
        values.register_key_flag_for_module(sys.argv[0], values[name])
    main_module = sys.modules["__main__"]
    saved = main_module.__doc__
    main_module.__doc__ = usage
    try:
        app.run(main)
    finally:
        main_module.__doc__ = saved


__all__ = ["run_app"]
