"""Build the example Cython listener against the installed picows: python setup.py build_ext --inplace"""

from Cython.Build import cythonize
from setuptools import setup

setup(ext_modules=cythonize(["echo_listener.pyx"], compiler_directives={"language_level": 3}))
