"""Hatch build hook: compile DevSandbox's C extension modules.

The recorder's hot path lives in C (adapters/devsandbox/_native/). hatchling
does not compile extensions itself, so this hook drives setuptools' build_ext.
For a wheel the built modules are added to the archive; for an editable
install they are built in place next to the sources, where the dev-mode path
finds them.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).parent
NATIVE = ROOT / "adapters" / "devsandbox" / "_native"

SERVER_NATIVE = ROOT / "server" / "devsandbox" / "_native"

# module name (inside the devsandbox package) -> its C sources
EXTENSIONS = {
    "_tracer": [NATIVE / "tracer.c", NATIVE / "values.c", NATIVE / "shadow.c", NATIVE / "targets.c",
                NATIVE / "pack.c"],
    # the server's fast pass over recordings (time travel); optional: Python fallback
    "_timescan": [SERVER_NATIVE / "timescan.c", SERVER_NATIVE / "itemdiffs.c"],
}


def _build(inplace_dir: Path, tmp_dir: Path) -> list[Path]:
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    exts = [
        Extension(
            f"devsandbox.{name}",
            sources=[str(src.relative_to(ROOT)) for src in sources],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wno-missing-field-initializers"],
        )
        for name, sources in EXTENSIONS.items()
    ]
    dist = Distribution({"name": "devsandbox", "ext_modules": exts})
    cmd = build_ext(dist)
    cmd.build_lib = str(inplace_dir)
    cmd.build_temp = str(tmp_dir)
    cmd.ensure_finalized()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        cmd.run()
    finally:
        os.chdir(cwd)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    return [inplace_dir / "devsandbox" / f"{name}{suffix}" for name in EXTENSIONS]


class NativeBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        tmp = Path(self.directory) / "native-build"
        if version == "editable":
            # Build into adapters/ so that the editable path sees the module.
            _build(ROOT / "adapters", tmp)
            return
        out = tmp / "lib"
        for built in _build(out, tmp):
            build_data["force_include"][str(built)] = f"devsandbox/{built.name}"
