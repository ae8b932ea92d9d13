#!/usr/bin/env python3
"""Bootstrap: create .venv, install the project into it, then run the bot or the tests.

Needs nothing but Python 3.11+:
    python3 dev.py run     install and start the bot (the terminal chat without a token)
    python3 dev.py test    install with the dev extras and run the whole test suite
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _stamp(extras: str) -> Path:
    """A marker recording which pyproject.toml the venv was installed from."""
    return VENV / f".installed-{extras or 'base'}"


def ensure_installed(extras: str) -> None:
    """Create the venv and pip-install the project unless pyproject.toml is unchanged."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"Tillidsbot needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print("Creating a virtual environment in .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = _stamp(extras)
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f".[{extras}]" if extras else "."
    print(f"Installing Tillidsbot ({target}) into .venv …", flush=True)
    quiet = ["-q"] if os.environ.get("CI") else []
    subprocess.run([str(PYTHON), "-m", "pip", "install", *quiet, "--upgrade", "pip"],
                   check=True, cwd=ROOT)
    subprocess.run([str(PYTHON), "-m", "pip", "install", *quiet, "-e", target],
                   check=True, cwd=ROOT)
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    """Dispatch `run` and `test`; anything after them is passed on."""
    if not argv or argv[0] not in {"run", "chat", "test"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "test":
        ensure_installed("dev")
        return subprocess.call([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)
    ensure_installed("")
    sub = "chat" if command == "chat" else "run"
    return subprocess.call([str(BIN / "tillidsbot"), sub, *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
