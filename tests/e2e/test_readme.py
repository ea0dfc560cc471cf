"""The README's curl walk-through, run as a user would paste it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.conftest import StackInfo

README = Path(__file__).resolve().parents[2] / "README.md"


def _walkthrough() -> str:
    blocks = re.findall(r"```bash\n(# walk-through\n.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1, "README must hold exactly one walk-through block"
    return str(blocks[0])


def test_readme_walkthrough_works_as_pasted(stack: StackInfo) -> None:
    result = subprocess.run(
        ["bash", "-c", "set -u\n" + _walkthrough()],
        env={**os.environ, "B": stack.ingress},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert '"balance":"1487.69"' in out
    # the balance endpoint, before and after the replay
    assert out.count('"balance":"1000.01","version":2') == 2
    assert '"income":"2500.00","expense":"12.30","net":"2487.70"' in out
    assert '"recent_transactions":[' in out
    assert re.search(r"(?im)^idempotent-replayed: true", out)
    assert out.count('"code":"validation_failed"') == 2
    assert '"field":"amount"' in out
    assert "dict_keys(['access_token', 'refresh_token', 'token_type', 'expires_in'])" in out
    assert '"code":"refresh_token_reused"' in out
