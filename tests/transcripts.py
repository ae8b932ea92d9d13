"""docs/transcripts.md: one Danish transcript of each conversation, produced by the real service.

Run `python -m tests.transcripts > docs/transcripts.md` after changing any wording;
tests/test_transcript.py checks that the file is current. Each section drives the terminal
chat's own channel (ConsoleChannel) over a fresh database with a ManualClock; follow-ups are
started the way the scheduler starts them, with the context their conversation passed on.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.channels.console import CONSOLE_LEADER, ConsoleChannel
from tests.history_helpers import make_core

HEADER = (
    "# Danish transcripts of the leader's conversations\n\n"
    "Produced by driving the real service exactly as `tillidsbot chat` does (ManualClock at 23 "
    "November 2026, 09:00 UTC); lines starting with `>` are what the leader typed. Initials and "
    "roles stand in for names. Regenerate with "
    "`python -m tests.transcripts > docs/transcripts.md`.\n")

TASK = "Ugeplanen for stuen til KL (pædagog)"
BREACH = ("TB skulle stå for weekendens vagtplan alene for første gang, men to vagter stod "
          "ubesatte søndag aften, og det blev først opdaget mandag")
NEXT_STEP = ("Jeg beder om et møde med min chef inden for to uger og tager to konkrete "
             "eksempler med fra teammødet")


@dataclass(frozen=True)
class Section:
    """One transcript: a heading, how it starts, and what the leader types."""

    title: str
    inputs: list[str]
    followup: str | None = None  # a conversation started as the scheduler would
    context: dict[str, Any] = field(default_factory=dict)


SECTIONS = [
    Section("delegation", [
        "/delegate", TASK,
        "Børnene skal møde voksne, der selv har planlagt dagen og kan forklare hvorfor – det "
        "giver ro og nærvær",
        "2", "MH (erfaren pædagog) sidder med ved den første plan, og vi tager ti minutter "
        "sammen hver torsdag",
        "1", "2", "Vi skal finde en halv time hver torsdag, hvor KL kan sidde med planen uden "
        "at blive forstyrret",
        "Planen skal bygge på vores læreplan, og forældrene skal kunne se den senest fredag",
        "Åbningstiden og normeringen ligger fast, og ingen børn må stå uden en kendt voksen",
        "3", "Jeg sparrer gerne, men jeg beslutter ikke for KL – medmindre et barns sikkerhed "
        "er i spil",
        "Vi kigger på planen sammen de første tre fredage, og KL bestemmer selv, hvad vi skal "
        "kigge på",
        "2", "KL står for hele forældremødet i foråret", "2"]),
    Section("delegation with “ved ikke” about Intentioner", [
        "/delegate", "Indkøbet til stuen til JS (pædagogmedhjælper)",
        "Så dem, der bruger tingene hver dag, også vælger dem", "1", "4",
        "Om JS har lyst til at stå for indkøbet – og hvad det skal være godt for hos os",
        "1", "Vi holder os inden for budgettet, og alt skal kunne tåle opvaskemaskinen",
        "Budgettet ligger fast", "2", "Vi ser på regnskabet sammen efter den første måned", "2",
        "-", "3"]),
    Section("delegation_followup → repair (trust broken at the check-in)", [
        "3", "KL byttede om på to aktiviteter uden at sige det til forældrene, og en far blev "
        "vred",
        "1", "1", "1", "1",
        "Planen skulle sendes fredag, men ingen havde talt om, hvad der skulle ske, hvis den "
        "blev ændret",
        "Jeg har ikke gjort det klart, at ændringer også skal meldes ud", "2",
        "Vi aftaler, at ændringer altid går på forældreintra samme dag, og at KL selv vurderer "
        "hvornår",
        "1"], followup="delegation_followup", context={"task": TASK}),
    Section("repair", [
        "/repair", BREACH, "1", "2", "1", "3",
        "Der var ikke afsat tid til overlap med planlæggeren, og TB vidste ikke, hvem hun kunne "
        "ringe til",
        "Jeg gav opgaven videre en fredag eftermiddag uden at tale om, hvad hun skulle gøre, "
        "hvis noget skred",
        "1", "Jeg foreslår, at vi de næste fire weekender har et kort telefonopkald søndag kl. "
        "18, og at TB selv siger, hvornår vi kan stoppe igen",
        "2"]),
    Section("repair with deliberate bad intent (ond vilje)", [
        "/repair", "En medarbejder har i tre måneder registreret hjemmebesøg, der ikke er blevet "
        "udført, og har bedt en kollega om at dække over det",
        "1", "2", "3"]),
    Section("repair_followup (the day after the talk)", [
        "1", "Vi fik talt om weekenden. TB sagde, at hun ikke turde ringe til mig om søndagen, "
        "og jeg fortalte, at jeg selv burde have aftalt det med hende. Vi har et kort opkald "
        "søndag kl. 18 de næste fire weekender."],
        followup="repair_followup", context={"what": BREACH}),
    Section("repair_level (about two weeks later)", [
        "2", "TB ringer nu selv, når noget er uklart, og vi har droppet søndagsopkaldet efter "
        "tre weekender"], followup="repair_level", context={"what": BREACH}),
    Section("reflection (week 1 of the rotation)", [
        "/reflect", "Jeg gav KL ugeplanen og holdt mig væk fra den, selvom jeg havde lyst til at "
        "rette i den. Formålet – ro for børnene – var tydeligt for os begge.",
        "4"]),
    Section("resistance (Når tillid møder modstand)", [
        "/resistance",
        "Vi afskaffer de faste tidsregistreringer i hjemmeplejen, så medarbejderne selv "
        "planlægger besøgene",
        "Til at bruge tiden hos borgeren på det, der betyder noget for den enkelte – ikke bare "
        "til at slippe for skemaer",
        "2", "2", "3", "!ok", "5",
        "Områdelederne frygter at miste overblikket og ikke kunne svare, når forvaltningen "
        "spørger til timerne",
        "At timetallet ikke er målet, men borgernes oplevelse – og at jeg gerne viser, hvordan "
        "vi følger op i stedet",
        "Vi beholder ugeopgørelsen, men bruger den som samtaleemne på teammødet i stedet for "
        "som kontrol. Kvalitetsstandarden ligger fast, så vi taler om, hvad den betyder i "
        "praksis",
        NEXT_STEP, "1", "2"]),
    Section("resistance_followup (two weeks later)", [
        "2", "Min chef lyttede og vil gerne prøve det af i ét område, men vil se tal først. "
        "Næste skridt er at vise, hvad vi får ud af teammøderne"],
        followup="resistance_followup", context={"next_step": NEXT_STEP}),
]


async def transcript(section: Section, folder: Path) -> str:
    """One section, from a fresh database, as the terminal chat would show it."""
    core = await make_core(folder)
    out = io.StringIO()
    console = ConsoleChannel(core.service, stdout=out, files_dir=folder / "files")
    await core.service.start_conversation(CONSOLE_LEADER, "reflection")  # a leader exists
    await console.handle("/cancel")
    out.truncate(0)
    out.seek(0)
    if section.followup:
        first = await core.service.start_conversation(CONSOLE_LEADER, section.followup,
                                                      section.context)
    else:
        first = [core.service.menu("da")]
    await console.send(first)
    for line in section.inputs:
        # '!ok' confirms a multiple choice: it is the last button, whatever its number.
        typed = (next(k for k, v in console.keys.items() if v.endswith(":!ok"))
                 if line == "!ok" else line)
        console.write(f"> {typed}")
        await console.send(await console.handle(typed))
    await core.close()
    return out.getvalue().rstrip("\n")


async def document() -> str:
    """The whole of docs/transcripts.md."""
    parts = [HEADER]
    for index, section in enumerate(SECTIONS):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / str(index)
            folder.mkdir()
            parts.append(f"## {section.title}\n\n```\n{await transcript(section, folder)}\n```\n")
    return "\n".join(parts)


def main() -> int:
    """Print the document."""
    sys.stdout.write(asyncio.run(document()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
