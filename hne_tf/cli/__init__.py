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


def run_app(main: Callable[[list[str]], None], define_flags: Callable[[], None], usage: str | None,
            prog: str) -> None:
    """Defines the program's flags, then runs ``absl.app.run(main)`` (which exits the process).

    Words left over after the flags (``prog --epochs 3``: absl leaves ``3``) stop the program with one
    line, ``<prog>: error: unexpected arguments [...]``, before ``main`` runs.

    absl's ``--help`` prints ``__main__``'s docstring and the flags of the main program (the module
    absl names ``sys.argv[0]``), and ``--helpfull`` lists those first. Here the flags are defined by a
    library module and ``__main__`` is a console script or a wrapper, so the CLI module's flags are
    attributed to the main program (TensorFlow's own, defined while it is imported, stay with their
    modules) and ``usage`` (the CLI module's docstring) stands in for ``__main__``'s while the program
    runs: the help reads as it did when the CLI was a script of its own. The flags are defined at each
    call, not at import, so an in-process caller (the tests' ``kit.run_cli``) can run a CLI again after
    removing them.
    """
    from absl import app, flags

    define_flags()
    module = define_flags.__module__
    by_module = flags.FLAGS.flags_by_module_dict()  # absl's own record: name -> flags defined there
    if module != "__main__" and module in by_module:  # as __main__, absl already named it sys.argv[0]
        by_module.setdefault(sys.argv[0], []).extend(by_module.pop(module))
    main_module = sys.modules["__main__"]
    saved = main_module.__doc__
    main_module.__doc__ = usage
    def checked_main(argv: list[str]) -> None:
        if len(argv) > 1:
            sys.exit(f"{prog}: error: unexpected arguments {argv[1:]}; flags look like --name=value")
        main(argv)

    try:
        app.run(checked_main)
    finally:
        main_module.__doc__ = saved


__all__ = ["run_app"]
