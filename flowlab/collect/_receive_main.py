"""Entry point of the receive process, run by path: ``python _receive_main.py ROOT ARGS...``.

``ROOT`` is the ``flowlab`` package directory of the parent, put first on the
path so the child runs the same code. ``flowlab`` and ``flowlab.collect`` import
nothing heavy, so the child loads only NumPy and the receive modules, and runs
:func:`flowlab.collect.receive_process._child_main`. Importing it does nothing.
"""

import os
import sys


def _main() -> None:
    root = sys.argv[1]
    # replace this file's directory (its modules must not become top-level names)
    sys.path[0] = os.path.dirname(os.path.abspath(root))
    from flowlab.collect.receive_process import _child_main

    _child_main(sys.argv[2:])


if __name__ == "__main__":
    _main()
