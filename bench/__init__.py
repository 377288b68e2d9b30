"""DevSandbox's benchmarks: ``python -m bench [NAME] [options]`` from the repository root.

Each benchmark is a module listed in ``bench.__main__.BENCHMARKS`` with
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.  They are not part
of the test suite (too slow and noisy for CI); a ``--quick`` smoke run of each is.
"""
