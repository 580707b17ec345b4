"""Build of the optional compiled core, ``flowlab._native`` (everything else is in pyproject.toml).

The extension is optional: where no C compiler is found, the build warns and installs the
pure numpy/Polars path, which gives identical results (``docs/native.md``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "flowlab._native",
            sources=["native/factorize.c", "native/module.c", "native/pcap.c", "native/sflow.c"],
            depends=["native/flowlab_native.h"],
            extra_compile_args=["-O2", "-std=c99"],
            optional=True,
        )
    ]
)
