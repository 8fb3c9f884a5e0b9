"""Build the optional native extensions: the MRS/MSR filter (hcdbg/machine/_sysreg.c) and
the native call path (hcdbg/machine/_native.c).

Everything else is in pyproject.toml. Without a C compiler the install still succeeds
(`optional=True`) and hcdbg traps system registers and answers calls in Python instead:
slower, same results.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("hcdbg.machine._sysreg", ["hcdbg/machine/_sysreg.c"], optional=True),
                   Extension("hcdbg.machine._native", ["hcdbg/machine/_native.c"], optional=True)])
