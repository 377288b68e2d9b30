from __future__ import annotations

import os
import sys

import pytest

from devsandbox.dapclient import DapClient


@pytest.fixture
def dap():
    """A `devsandbox dap` server over stdio; closed (and its exit checked) after the test."""
    clients: list[DapClient] = []

    def make(**kwargs) -> DapClient:
        client = DapClient(stderr=kwargs.pop("stderr", None), **kwargs)
        clients.append(client)
        return client

    first = make()
    first.make = make  # type: ignore[attr-defined]
    yield first
    for client in clients:
        if not client.closed:
            try:
                client.request("disconnect", {"terminateDebuggee": True}, timeout=5, check=False)
            except Exception:
                pass
        code = client.close()
        assert code == 0, f"devsandbox dap exited with {code}"
