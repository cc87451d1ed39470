"""Build the Cython extensions.

Every ``pyx/_name.pyx`` becomes the extension ``ringcap._name``.  Compiler
directives are set here, once, for the whole project.  ``RINGCAP_CYTHON_DEBUG=1``
turns bounds checking, wraparound checks and line tracing on for every module.
``RINGCAP_EXTENSIONS=_ring,_decode`` limits a build to some modules (handy
while iterating on one of them).  ``RINGCAP_SANITIZE=1`` compiles with
AddressSanitizer and UndefinedBehaviorSanitizer (run such a build with
``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``; tests/test_sanitizers.py
does).
"""
import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
DEBUG = os.environ.get("RINGCAP_CYTHON_DEBUG", "") not in ("", "0")
SANITIZE = os.environ.get("RINGCAP_SANITIZE", "") not in ("", "0")
ONLY = {n.strip() for n in os.environ.get("RINGCAP_EXTENSIONS", "").split(",") if n.strip()}

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "embedsignature": True,
    "linetrace": DEBUG,
}
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if DEBUG:
    macros.append(("CYTHON_TRACE_NOGIL", "1"))
compile_args = ["-O2", "-g0"] if not DEBUG else ["-O0", "-g"]
link_args = []
if SANITIZE:
    sanitizers = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                  "-fno-omit-frame-pointer"]
    compile_args = ["-O1", "-g"] + sanitizers
    link_args = sanitizers

# C headers the extensions include (tls_hello.h, filemap.h): an edit to one
# rebuilds the extensions, which setuptools would not know to do otherwise
headers = sorted(str(h.relative_to(HERE)) for h in (HERE / "pyx").glob("*.h"))
extensions = []
for pyx in sorted((HERE / "pyx").glob("_*.pyx")):
    if ONLY and pyx.stem not in ONLY:
        continue
    extensions.append(
        Extension(
            f"ringcap.{pyx.stem}",
            [str(pyx.relative_to(HERE))],
            include_dirs=[numpy.get_include(), "pyx/includes"],
            depends=headers,
            define_macros=macros,
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
    )

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        include_path=["pyx"],
        annotate=False,
    ),
)
