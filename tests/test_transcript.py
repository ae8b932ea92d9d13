"""Drives the real `tillidsbot chat` process through stdin/stdout, kills it, and resumes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import ROOT

TIMEOUT = 60


def command() -> list[str]:
    """The installed console script, or the module when run from a plain checkout."""
    script = shutil.which("tillidsbot", path=str(Path(sys.executable).parent))
    return [script, "chat"] if script else [sys.executable, "-m", "bot.cli", "chat"]


class Chat:
    """A running terminal chat with its output collected line by line."""

    def __init__(self, db: Path) -> None:
        """Start the process against a database file."""
        env = {**os.environ, "TILLIDSBOT_DB": str(db), "PYTHONUNBUFFERED": "1"}
        env.pop("TELEGRAM_BOT_TOKEN", None)
        self.proc = subprocess.Popen(
            command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, encoding="utf-8", env=env, cwd=ROOT,
        )
        self.output = ""
        self.seen = 0
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        """Collect stdout as it arrives."""
        assert self.proc.stdout is not None
        for chunk in iter(lambda: self.proc.stdout.read(1), ""):  # type: ignore[union-attr]
            with self.changed:
                self.output += chunk
                self.changed.notify_all()

    def expect(self, text: str) -> str:
        """Wait until text appears after what was already matched; return the new output."""
        with self.changed:
            found = self.changed.wait_for(lambda: text in self.output[self.seen:],
                                          timeout=TIMEOUT)
            assert found, f"never saw {text!r}; output so far:\n{self.output[self.seen:]}"
            start = self.seen
            self.seen = self.output.index(text, self.seen) + len(text)
            return self.output[start:self.seen]

    def say(self, line: str) -> None:
        """Type a line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """Kill the process hard, as a crash would."""
        self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)


def onboard(chat: Chat) -> None:
    """A new leader's first contact in the terminal: language, then time zone (issue 12: the
    terminal onboards like every channel)."""
    chat.expect("[3] English")
    chat.say("1")
    chat.expect("[1] Europe/Copenhagen")
    chat.say("1")


def test_delegation_in_the_terminal_survives_a_kill(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    chat = Chat(db)
    onboard(chat)
    chat.expect("[1] Før du uddelegerer")
    chat.say("1")
    chat.expect("til hvem (initialer eller rolle)?")
    chat.say("Ugeplanen i børnehaven til KL (pædagog)")
    chat.expect("kerneopgaven")
    chat.say("Så børnene møder voksne, der selv har planlagt dagen")
    chat.expect("[3] Nej, ikke endnu")
    chat.say("Måske")  # text that names no answer: a clear reply, nothing lost
    chat.expect("knapperne")
    chat.say("1")
    chat.expect("Intentioner")
    chat.kill()

    chat = Chat(db)
    resumed = chat.expect("Intentioner")
    assert "Vi var midt i en samtale" in resumed
    chat.say("2")
    chat.expect("Hvad vil du tale med medarbejderen om")
    chat.say("Om hun har lyst til at tage ansvaret")
    chat.expect("Ressourcer")
    chat.say("1")
    chat.expect("spilleregler")
    chat.say("Børnenes sikkerhed går altid forud")
    chat.expect("røde linjer")
    chat.say("Åbningstiden ligger fast")
    chat.expect("symbolsk medindflydelse")
    chat.say("3")
    chat.expect("lederkortet")
    chat.say("Jeg sparrer, men beslutter ikke for hende")
    chat.expect("meningsfuld")
    chat.say("Vi kigger på planen sammen hver anden fredag")
    chat.expect("[5] 5")
    chat.say("2")
    chat.expect("tillidstrappe")  # one workplace's example (001, "hos JAC"), not a model
    chat.say("-")  # skip the optional next step on the staircase
    chat.expect("Om to uger")
    chat.say("2")
    summary = chat.expect("Jeg vender tilbage")
    assert "Gå videre – med støtte." in summary
    assert "Ugeplanen i børnehaven til KL (pædagog)" in summary
    assert "Om hun har lyst til at tage ansvaret" in summary
    assert "UDKAST TIL AFTALE" in summary and "Åbningstiden ligger fast" in summary
    chat.say("/history")
    assert "Ugeplanen i børnehaven" in chat.expect("Ugeplanen i børnehaven")
    chat.say("/quit")
    assert chat.proc.wait(timeout=TIMEOUT) == 0


def test_docs_transcripts_is_current() -> None:
    import asyncio

    from tests import transcripts

    current = (ROOT / "docs" / "transcripts.md").read_text(encoding="utf-8")
    assert current == asyncio.run(transcripts.document()), (
        "regenerate: python -m tests.transcripts > docs/transcripts.md")
    # Every leader's conversation has its Danish transcript, the new one included.
    for heading in ("## delegation\n", "## repair\n", "## reflection", "## resistance (",
                    "## resistance_followup"):
        assert heading in current, heading


def test_language_switch_in_the_terminal(tmp_path: Path) -> None:
    chat = Chat(tmp_path / "chat.db")
    onboard(chat)
    chat.expect("[1] Før du uddelegerer")
    chat.say("/language")
    chat.expect("[3] English")
    chat.say("2")
    chat.expect("Nå snakker jeg norsk (bokmål) med deg.")
    chat.expect("[1] Før du delegerer")
    chat.say("/reflect")
    chat.expect("Ukens refleksjon · Å gjøre formålet tydelig")
    chat.say("Jeg ga teamet mer rom i turnusplanleggingen")
    chat.expect("[5] 5")
    chat.say("4")
    summary = chat.expect("Neste uke kommer et nytt spørsmål")
    assert "UKENS REFLEKSJON" in summary
    assert "Jeg ga teamet mer rom i turnusplanleggingen" in summary
    chat.say("/repair")
    chat.expect("Hva skjedde")
    # Switching mid-conversation asks the open question again in the new language.
    chat.say("/language")
    chat.expect("[3] English")
    chat.say("3")
    chat.expect("I'll speak English with you from now on.")
    chat.expect("What happened – in your own words")
    chat.say("The agreement on the rota was not kept")
    chat.expect("[2] A team")
    chat.say("/quit")
    chat.expect("Goodbye for now.")
    assert chat.proc.wait(timeout=TIMEOUT) == 0
