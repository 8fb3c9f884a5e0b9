"""Build the optional native MRS/MSR filter (hcdbg/machine/_sysreg.c).

Everything else is in pyproject.toml. Without a C compiler the install still succeeds
(`optional=True`) and hcdbg traps system registers in Python instead: slower, same results.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("hcdbg.machine._sysreg", ["hcdbg/machine/_sysreg.c"], optional=True)])
