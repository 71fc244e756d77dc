"""Benchmark studies: one module per study, found by name (``forward_processes.py`` -> ``forward-processes``).

A study module defines ``STUDY = sgmbench.study.Study(...)`` (see :mod:`sgmbench.study`);
``sgmbench list studies`` lists them and ``sgmbench run NAME`` runs one. ``perf/`` holds the
pytest-benchmark timings of the kernels and is not a study.
"""
