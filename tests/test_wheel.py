"""The built wheel works on its own: installed into a fresh virtual environment and started
from an empty folder, it finds its conversations and templates as package data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

TIMEOUT = 300


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
         stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, failing the test with its output when it fails."""
    done = subprocess.run(args, cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
                          encoding="utf-8", timeout=TIMEOUT)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel offline and install it alone into a new venv; return its bin folder.

    The dependencies come from this test environment (a .pth line makes its site-packages
    visible), so nothing is downloaded: the wheel itself is installed with --no-index.
    """
    base = tmp_path_factory.mktemp("wheel")
    source, dist = base / "source", base / "dist"
    # What the Dockerfile copies, so no build/ left in the checkout can leak into the wheel.
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("bot", "dialogues", "templates"):
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", str(dist), str(source)], cwd=base)
    wheels = list(dist.glob("tillidsbot-*.whl"))
    assert len(wheels) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "bot/_dialogues/reflection.yaml" in names
    assert "bot/_templates/da/reflection_summary.j2" in names
    assert any(n.startswith("bot/store/migrations/0001_") for n in names)
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    new_python = env_dir / "bin" / "python"
    site = Path(_run([str(new_python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                      "['purelib'])"], cwd=base).stdout.strip())
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(new_python), "install", "-q",
          "--no-index", "--no-deps", "--ignore-installed", str(wheels[0])], cwd=base)
    return env_dir / "bin"


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment without any pointer back to the checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TILLIDSBOT_", "PYTHON", "TELEGRAM_"))}
    env.update(TILLIDSBOT_DB=str(tmp / "chat.db"), PYTHONUNBUFFERED="1")
    return env


def test_the_installed_wheel_reads_its_own_package_data(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([str(installed / "python"), "-c",
                  "import bot, bot.content as c; print(bot.__file__); print(c.dialogues_dir())"],
                 cwd=empty, env=_clean_env(tmp_path)).stdout.splitlines()
    assert str(installed.parent) in where[0] and str(ROOT) not in where[0]
    assert str(installed.parent) in where[1]


def test_the_installed_wheel_checks_its_dialogues_from_an_empty_folder(
        installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _run([str(installed / "tillidsbot"), "dialogues", "check"], cwd=empty,
                env=_clean_env(tmp_path))
    assert "all dialogues valid in da, nb, en" in done.stdout
    assert "reflection.yaml" in done.stdout


def test_the_installed_wheel_chats_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _run([str(installed / "tillidsbot"), "chat"], cwd=empty, env=_clean_env(tmp_path),
                stdin="1\n1\n1\nUgeplanen til KL\n")  # language, zone, menu
    assert "[1] Før du uddelegerer" in done.stdout
    assert "til hvem (initialer eller rolle)?" in done.stdout
    assert "kerneopgaven" in done.stdout  # the answer was taken and the next step asked
    assert (tmp_path / "chat.db").is_file() and not list(empty.iterdir())


def test_the_image_installs_the_wheel_and_needs_no_content_paths() -> None:
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    assert any(ln.startswith("RUN pip wheel") and "--no-deps" in ln for ln in lines)
    assert any("pip install" in ln and "/dist/tillidsbot-*.whl" in ln for ln in lines)
    assert not any("TILLIDSBOT_DIALOGUES" in ln or "TILLIDSBOT_TEMPLATES" in ln for ln in lines)


def _dev_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """dev.py loaded as a module, its venv pointed at a scratch folder."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("dev_under_test", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    venv_dir = tmp_path / ".venv"
    (venv_dir / "bin").mkdir(parents=True)
    (venv_dir / "bin" / "python").write_text("")
    monkeypatch.setattr(module, "VENV", venv_dir)
    monkeypatch.setattr(module, "PYTHON", venv_dir / "bin" / "python")
    return module


def test_dev_run_after_dev_test_does_not_reinstall(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    dev = _dev_module(tmp_path, monkeypatch)
    dev._stamp("dev").write_text(dev._digest())  # type: ignore[attr-defined]
    calls: list[object] = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    dev.ensure_installed("")  # type: ignore[attr-defined]
    assert calls == []


def test_a_first_install_prints_a_line_or_two_not_pips_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = _dev_module(tmp_path, monkeypatch)
    calls: list[list[str]] = []

    def fake_run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        """pip as it is: chatty, with warnings."""
        calls.append(args)
        assert kwargs.get("capture_output") is True
        return subprocess.CompletedProcess(args, 0, "Collecting …\n" * 50,
                                           "WARNING: setuptools says …\n")

    monkeypatch.setattr(subprocess, "run", fake_run)
    dev.ensure_installed("")  # type: ignore[attr-defined]
    out = capsys.readouterr()
    assert any("-e" in c for c in calls)
    assert len(out.out.splitlines()) <= 2 and "WARNING" not in out.out + out.err
    assert dev._stamp("").read_text() == dev._digest()  # type: ignore[attr-defined]
