"""Fuzzing wsproto_lite: atheris harnesses, their invariants, a structure-aware mutator.

Not part of the installed package. `python fuzz/run_all.py` runs every harness for a
bounded time; docs/fuzzing.rst says how to run them longer and how to reproduce a crash.
"""
