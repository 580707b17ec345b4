"""Entry point of the receive process, run by path: ``python _receive_main.py ROOT ARGS...``.

It loads flowlab's modules without the package ``__init__`` files (which
would import Polars and pandas) and runs
:func:`flowlab.collect.receive_process._child_main`. Importing it does nothing.
"""

import os
import sys
import types


def _main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0]) == here:
        del sys.path[0]  # this file's directory: its modules must not become top-level names
    root = sys.argv[1]
    for name, sub in (("flowlab", ""), ("flowlab.collect", "/collect")):
        module = types.ModuleType(name)
        module.__path__ = [root + sub]
        sys.modules[name] = module
    from flowlab.collect.receive_process import _child_main

    _child_main(sys.argv[2:])


if __name__ == "__main__":
    _main()
