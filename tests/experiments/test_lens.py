"""The "Run experiment" code lens of ``devsandbox lsp`` on functions with stored experiments,
and its command (which runs the command line's ``experiment rerun``)."""

from __future__ import annotations

import asyncio
import sys

import pytest
from exp_support import clean_env, devsandbox_json
from lsprotocol import types as T
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig

pytestmark = pytest.mark.timeout(180)


async def lenses(client, uri: str) -> list[T.CodeLens]:
    return await client.text_document_code_lens_async(T.CodeLensParams(
        text_document=T.TextDocumentIdentifier(uri=uri))) or []


async def test_run_experiment_lens_and_command(workdir, tmp_path) -> None:
    created = devsandbox_json("experiment", "run", "shop_app:total", "--call", "[5, 6], 'USD'",
                              "--call", "list(range(40)), 'GBP'", "--variant", "variants/fast.py",
                              "--variant", "variants/wrong.py", "--repeat", "8", cwd=workdir)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    config = ClientServerConfig(server_command=[sys.executable, "-m", "devsandbox", "lsp"],
                                server_env=clean_env(XDG_RUNTIME_DIR=str(runtime)))
    client = await config.start()
    try:
        root = from_fs_path(str(workdir))
        await client.initialize_session(T.InitializeParams(
            capabilities=T.ClientCapabilities(), root_uri=root,
            workspace_folders=[T.WorkspaceFolder(uri=root, name="app")]))
        program = workdir / "shop_app.py"
        uri = from_fs_path(str(program))
        client.text_document_did_open(T.DidOpenTextDocumentParams(text_document=T.TextDocumentItem(
            uri=uri, language_id="python", version=1, text=program.read_text())))
        found = [lens for lens in await lenses(client, uri)
                 if lens.command and lens.command.command == "devsandbox.experiment.run"]
        assert len(found) == 1
        [lens] = found
        assert lens.command.title == "Run experiment: fast, wrong (last: fast won)"
        line = program.read_text().splitlines()[lens.range.start.line]
        assert line.startswith("def total(")
        argument = lens.command.arguments[0]
        assert argument["id"] == created["id"] and argument["function"] == "total"

        answer = await client.workspace_execute_command_async(T.ExecuteCommandParams(
            command="devsandbox.experiment.run", arguments=[argument]))
        assert answer["id"] == created["id"]
        assert answer["report"]["recommendation"]["winner"] == "fast"
        for _ in range(50):
            if client.messages:
                break
            await asyncio.sleep(0.1)
        assert client.messages[-1].message.startswith(f"Experiment {created['id']}: fast returns")
        shown_again = devsandbox_json("experiment", "show", created["id"], cwd=workdir)
        assert len(shown_again["experiment"]["runs"]) == 2
    finally:
        await asyncio.wait_for(client.shutdown_session(), 10)
        await client.stop()
