"""The one compiled part: gateway/_rows.c, the wire encoders' row assembly. Optional: without a
C compiler the install still succeeds and the encoders use pyarrow's take (slower, same bytes)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("gateway._rows", ["gateway/_rows.c"], optional=True,
                             extra_compile_args=["-O2"])])
