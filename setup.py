"""Builds the compiled modules (.pyx); everything else is in pyproject.toml.

``pip install -e .`` (``make install``) runs this with the Cython pinned in
pyproject's [build-system] and puts the extension beside the source.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [
            Extension(
                name,
                [name.replace(".", "/") + ".pyx"],
                extra_compile_args=["-O2", "-ffp-contract=off"],
            )
            for name in (
                "detectors.fold",
                "detectors.blob_pack",
                "detectors.entity_batch",
                "detectors.feature_values",
                "detectors.resp",
                "riskwatch.plain_record",
            )
        ],
        compiler_directives={"language_level": 3},
    )
)
