"""``python -m bench [NAME] [options]``: run one of DevSandbox's benchmarks (default: foundation)."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> module under bench/; each defines HELP, add_arguments(parser), run(args) -> int
BENCHMARKS = {
    "foundation": "bench.foundation",
    "recorder": "bench.recorder",
    "live": "bench.live",
    "lsp": "bench.lsp",
    "timetravel": "bench.timetravel",
    "experiments": "bench.experiments",
}
DEFAULT = "foundation"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHMARKS and argv[0] not in ("-h", "--help"):
        argv.insert(0, DEFAULT)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="benchmark", metavar="NAME", required=True)
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
