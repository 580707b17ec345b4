"""Build of the optional compiled core, ``flowlab._native`` (everything else is in pyproject.toml).

The extension is optional: where no C compiler is found, the build warns and installs the
pure numpy/Polars path, which gives identical results (``docs/native.md``). Every
``native/*.c`` is compiled (sorted, so the build is the same everywhere) and a change to any
``native/*.h`` rebuilds it; MANIFEST.in puts both in the sdist.
"""

from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "flowlab._native",
            sources=sorted(glob("native/*.c")),
            depends=sorted(glob("native/*.h")),
            extra_compile_args=["-O2", "-std=c99"],
            optional=True,
        )
    ]
)
