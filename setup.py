"""Declares the Cython extensions; everything else lives in pyproject.toml.

Build knobs come from the environment so that `pip install .` and PEP 517
frontends see them too:

* ``PICOWS_DEBUG=1``: ``-O0 -g`` and Cython's runtime checks (bounds, None).
* ``PICOWS_ANNOTATE=1``: write Cython's annotated HTML next to each ``.pyx``.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("PICOWS_DEBUG") == "1"
ANNOTATE = os.environ.get("PICOWS_ANNOTATE") == "1"

if DEBUG:
    cflags = ["-O0", "-g3"]
else:
    cflags = ["-O3", "-DNDEBUG"]

directives = {
    "language_level": 3,
    "embedsignature": True,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "cdivision": True,
    # No __test__ dict of docstring examples in compiled modules.
    "autotestdict": False,
    "freethreading_compatible": False,
}

C_KERNELS = ["picows/_mask.c", "picows/_utf8.c"]


def ext(name: str, *sources: str, suffix: str = ".pyx") -> Extension:
    return Extension(
        name,
        [name.replace(".", "/") + suffix, *sources],
        include_dirs=["picows"],
        extra_compile_args=cflags,
        libraries=["z"] if name == "picows._deflate" else [],
    )


extensions = [
    ext("picows._kernels", *C_KERNELS),
    ext("picows._frame", *C_KERNELS),
    ext("picows._socket"),
    ext("picows._openssl"),
    ext("picows._tls"),
    ext("picows._protocol"),
    ext("picows._transport", *C_KERNELS),
]
if os.path.exists("picows/_deflate.pyx"):
    extensions.append(ext("picows._deflate"))
# The high-level API is plain typed Python; its per-message path is also compiled (Cython pure-Python mode,
# declarations in the .pxd beside each .py). Without the build the .py files run as they are.
extensions += [
    ext("picows.highlevel.messages", suffix=".py"),
    ext("picows.highlevel._listener", suffix=".py"),
    ext("picows.highlevel._ready", suffix=".py"),
    ext("picows.highlevel.connection", suffix=".py"),
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=ANNOTATE,
    ),
)
