"""Builds the compiled customer fold (detectors/fold.pyx); everything else is in pyproject.toml.

``pip install -e .`` (``make install``) runs this with the Cython pinned in
pyproject's [build-system] and puts the extension beside the source.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("detectors.fold", ["detectors/fold.pyx"], extra_compile_args=["-O2"])],
        compiler_directives={"language_level": 3},
    )
)
