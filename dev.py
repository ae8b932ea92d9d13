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


def _digest() -> str:
    """What an install depends on: the project's packaging files."""
    data = b"".join((ROOT / name).read_bytes() for name in ("pyproject.toml", "setup.py"))
    return hashlib.sha256(data).hexdigest()


def _pip(*args: str) -> None:
    """Run pip quietly; show its whole output only if it fails."""
    done = subprocess.run([str(PYTHON), "-m", "pip", "-q", *args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        sys.exit(f"pip {' '.join(args)} failed (exit {done.returncode})")


def ensure_installed(extras: str) -> None:
    """Create the venv and pip-install the project unless pyproject.toml is unchanged.

    An install with the dev extras also satisfies `run` (it contains everything `run` needs).
    """
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"Tillidsbot needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    digest = _digest()
    wanted = [_stamp(extras)] + ([] if extras else [_stamp("dev")])
    if PYTHON.exists() and any(s.exists() and s.read_text() == digest for s in wanted):
        return
    if not PYTHON.exists():
        print("Creating a virtual environment in .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f".[{extras}]" if extras else "."
    print(f"Installing Tillidsbot ({target}) and its dependencies into .venv …", flush=True)
    _pip("install", "--upgrade", "pip")
    _pip("install", "-e", target)
    _stamp(extras).write_text(digest)
    print("Installed.", flush=True)


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
