"""Words said right: `pronounce:` in a routine, the user's lexicon, how each engine is given an
entry, and the speech cache keyed by what the engine says."""

# ruff: noqa: RUF001  (IPA is the point here: its letters look like Latin ones)

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.errors import RoutineError
from audioguide.language.library import BUNDLED_DIR
from audioguide.language.load import parse_routine
from audioguide.language.pronounce import read_lexicon
from audioguide.model import Pronunciation
from audioguide.options import Options
from audioguide.session import Session
from audioguide.voices.cache import CachedVoice
from audioguide.voices.choose import open_voice
from audioguide.voices.fake import FakeVoice
from audioguide.voices.lexicon import Lexicon
from conftest import WriteRoutine
from recogniser import cue_texts

TREE = Pronunciation("Vrksasana", say="vrik-SHAH-suh-nuh")
ILIO = Pronunciation(
    "iliopsoas", say="ill-ee-oh-SO-us", espeak=",Ili:oUs'oU@s", piper="ˌɪliːoʊsˈoʊəs"
)
LEXICON = Lexicon((TREE, ILIO))


# --- applying entries -----------------------------------------------------------------------------


def test_each_engine_is_given_its_own_form() -> None:
    text = "Stretch the iliopsoas in Vrksasana."
    # A respelling in lower case: its capitals show a reader the stress, and espeak-ng and hibari
    # would spell a short word in capitals out.
    assert LEXICON.apply(text, "") == "Stretch the ill-ee-oh-so-us in vrik-shah-suh-nuh."
    assert LEXICON.apply(text, "espeak") == "Stretch the [[,Ili:oUs'oU@s]] in vrik-shah-suh-nuh."
    assert LEXICON.apply(text, "piper") == "Stretch the [[ˌɪliːoʊsˈoʊəs]] in vrik-shah-suh-nuh."
    # No hibari phonemes given: heart reads the respelling.
    assert LEXICON.apply(text, "hibari") == "Stretch the ill-ee-oh-so-us in vrik-shah-suh-nuh."
    heart = Lexicon((Pronunciation("Vrksasana", hibari="vɹɪkʃˈɑsənə"),))
    assert heart.apply("In Vrksasana.", "hibari") == "In [Vrksasana](/vɹɪkʃˈɑsənə/)."
    # An entry with phonemes for other engines only leaves the word alone for this one.
    assert heart.apply("In Vrksasana.", "espeak") == "In Vrksasana."
    # A client's spoken name is words, never phonemes: markup in it is not passed on.
    cell = Lexicon((Pronunciation("Sam", say="[[s'am]] /x/"),))
    assert cell.apply("Hello Sam.", "espeak") == "Hello s'am x."


def test_matching_is_whole_word_and_case_aware() -> None:
    names = Lexicon(
        (
            Pronunciation("Will", say="Vill"),
            Pronunciation("psoas", say="SO-us"),
            Pronunciation("Utthita Hasta Padangusthasana", say="oo-TEE-tuh HUH-stuh pah-dahn"),
            Pronunciation("Padangusthasana", say="pah-dahn-goosh-TAH-suh-nuh"),
        )
    )
    # A name (with a capital) matches only as written; a word in any case.
    assert names.apply("Will, you will stand.", "") == "vill, you will stand."
    assert names.apply("Psoas and PSOAS and psoas's", "") == "so-us and so-us and so-us's"
    # Whole words only, not inside another or a hyphenated one.
    assert names.apply("iliopsoas, psoas-release", "") == "iliopsoas, psoas-release"
    # The longest entry first.
    assert names.apply("Utthita Hasta Padangusthasana; Padangusthasana.", "") == (
        "oo-tee-tuh huh-stuh pah-dahn; pah-dahn-goosh-tah-suh-nuh."
    )


def test_the_routines_entries_win_over_the_users(write_routine: WriteRoutine) -> None:
    lexicon = write_routine("Vrksasana: VRIK-sah\npsoas: SO-us\n", "lexicon.yaml")
    path = write_routine(
        "title: T\npronounce:\n  Vrksasana: vrik-SHAH-suh-nuh\nsteps:\n  - say: Vrksasana.\n"
    )
    with Session.open(path, Options(voice="fake", lexicon=lexicon)) as session:
        routine = session.routine()
        said = session.voice(routine)
    assert [p.word for p in routine.pronounce] == ["Vrksasana", "psoas", "Vrksasana"]
    assert isinstance(said, CachedVoice)
    assert said.said("Vrksasana and the psoas.") == "vrik-shah-suh-nuh and the so-us."


# --- the speech cache --------------------------------------------------------------------------


def test_an_entry_changes_the_clip_and_respeaks_only_its_lines(tmp_path: Path) -> None:
    voice = CachedVoice(FakeVoice(), tmp_path / "cache")
    lines = ["Stand in Vrksasana.", "Breathe in."]
    plain = [voice.synthesize(t) for t in lines]
    tree = voice.pronouncing(Lexicon((TREE,)))
    assert (tree.hits, tree.misses) == (0, 2), "a view counts with its voice"
    with_entry = [tree.synthesize(t) for t in lines]
    assert not np.array_equal(with_entry[0], plain[0])  # the fake voice's pitch follows the text
    assert np.array_equal(with_entry[1], plain[1])
    assert (voice.hits, voice.misses) == (1, 3), "only the line the entry touches is spoken"
    # Changing the entry speaks that line again; the view for each lexicon is kept.
    other = voice.pronouncing(Lexicon((Pronunciation("Vrksasana", say="vrik SHAH suh nuh"),)))
    other.synthesize(lines[0])
    other.synthesize(lines[1])
    assert (voice.hits, voice.misses) == (2, 4)
    assert voice.pronouncing(Lexicon((TREE,))) is tree
    assert voice.pronouncing(Lexicon()) is voice


def test_a_plan_is_timed_with_the_entries(write_routine: WriteRoutine, runner: CliRunner) -> None:
    path = write_routine("title: T\nsteps:\n  - say: Stand in Vrksasana.\n")
    said = write_routine(
        "title: T\npronounce: {Vrksasana: vrik shah suh nuh}\nsteps:\n  - say: Stand in "
        "Vrksasana.\n",
        "said.yaml",
    )

    def total(routine: Path) -> str:
        result = runner.invoke(cli, ["plan", str(routine), "--voice", "fake"])
        assert result.exit_code == 0, result.output
        return result.output.splitlines()[-1]

    assert total(path) != total(said)
    assert (
        "Stand in Vrksasana." in runner.invoke(cli, ["plan", str(said), "--voice", "fake"]).output
    )


# --- what is refused ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "line", "message"),
    [
        (
            "  Vrksasana: [vrik]\n",
            3,
            "'Vrksasana' is said as a respelling (e.g. Vrksasana: vrik-SHAHS-uh-nuh) "
            "or a mapping of say, espeak, piper and hibari; got a list: quote it",
        ),
        ("  Vrksasana: {sey: vrik}\n", 3, "unknown key 'sey' for 'Vrksasana': did you mean 'say'?"),
        (
            "  ok: fine\n  Vrksasana: {espeak: '[[vrIk]]'}\n",
            4,
            "'espeak' for 'Vrksasana' is \"[[vrIk]]\": write it without '[['",
        ),
        (
            "  Vrksasana: {hibari: /vrIk/}\n",
            3,
            "'hibari' for 'Vrksasana' is \"/vrIk/\": write it without '/'",
        ),
        (
            "  Vrksasana: {say: ''}\n",
            3,
            "'say' for 'Vrksasana' needs text, e.g. Vrksasana: vrik-SHAHS-uh-nuh; got \"\"",
        ),
        (
            "  (tree): tree\n",
            3,
            '"(tree)" is not a word or name to pronounce: letters, '
            "digits, spaces, hyphens and apostrophes only, as the routine writes it",
        ),
    ],
)
def test_bad_entries_are_named_at_their_line(
    write_routine: WriteRoutine, runner: CliRunner, entries: str, line: int, message: str
) -> None:
    path = write_routine(f"title: T\npronounce:\n{entries}steps:\n  - say: Hello.\n")
    result = runner.invoke(cli, ["check", str(path), "--voice", "fake"])
    assert result.exit_code == 1
    assert result.output == f"Error: {path}:{line}: {message}\n"


def test_a_bad_lexicon_file_is_named_at_its_line(
    write_routine: WriteRoutine, runner: CliRunner, tmp_path: Path
) -> None:
    path = write_routine("title: T\nsteps:\n  - say: Hello.\n")
    lexicon = tmp_path / "words.yaml"
    lexicon.write_text("# mine\npsoas: SO-us\nVrksasana:\n  say: [x]\n", encoding="utf-8")
    result = runner.invoke(cli, ["plan", str(path), "--voice", "fake", "--lexicon", str(lexicon)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {lexicon}:3: 'say' for 'Vrksasana' needs text, e.g. Vrksasana: "
        "vrik-SHAHS-uh-nuh; got a list\n"
    )
    lexicon.write_text("- psoas\n", encoding="utf-8")
    with pytest.raises(RoutineError, match=r"words.yaml:1: a lexicon maps words to how"):
        read_lexicon(lexicon)
    missing = tmp_path / "nowhere.yaml"
    result = runner.invoke(cli, ["plan", str(path), "--voice", "fake", "--lexicon", str(missing)])
    assert (result.exit_code, result.output) == (1, f"Error: {missing}: no such file\n")
    lexicon.write_text("", encoding="utf-8")
    assert read_lexicon(lexicon) == ()


def test_the_users_lexicon_is_read_from_the_config_folder(
    write_routine: WriteRoutine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    monkeypatch.setattr("audioguide.voices.lexicon.user_config", lambda: config)
    path = write_routine("title: T\nsteps:\n  - say: Hello.\n")
    assert parse_routine(path.read_text()).pronounce == ()
    with Session.open(path) as session:
        assert session.routine().pronounce == ()  # no file: nothing to read
    config.mkdir()
    (config / "lexicon.yaml").write_text("psoas: SO-us\n", encoding="utf-8")
    with Session.open(path) as session:
        assert session.routine().pronounce == (Pronunciation("psoas", say="SO-us"),)
    monkeypatch.setenv("AUDIOGUIDE_LEXICON", str(tmp_path / "elsewhere.yaml"))
    with Session.open(path) as session, pytest.raises(RoutineError, match="no such file"):
        session.routine()


# --- what each engine is given (the real engines) ---------------------------------------------


def espeak_phonemes(text: str) -> str:
    """espeak-ng's own phoneme letters for `text` (`-x`), as the system voice speaks it."""
    done = subprocess.run(
        ["espeak-ng", "-q", "-x", "-v", "en-us"], input=text, capture_output=True, text=True
    )
    return " ".join(done.stdout.split())


@pytest.mark.integration
def test_espeak_is_given_the_entry() -> None:
    system = open_voice("system:en-us", cache=False)
    voice = CachedVoice(system, Path("/nonexistent")).pronouncing(LEXICON)
    # Without an entry espeak-ng spells the name out and says the p of iliopsoas.
    assert espeak_phonemes("Vrksasana, iliopsoas.") == "v,i:;,A@k'eIsas'A:n@ ,IlI2;@ps'oU@z"
    assert espeak_phonemes(voice.said("Vrksasana, iliopsoas.")) == (
        "vr'IkS'A:s'Vn'V ,Ili:;oUs'oU@s"
    )


@pytest.mark.integration
def test_a_clip_with_the_entry_differs_from_one_without(tmp_path: Path) -> None:
    voice = open_voice("system:en-us", cache_dir=tmp_path)
    assert isinstance(voice, CachedVoice)
    plain = voice.synthesize("Stand in Vrksasana.")
    said = voice.pronouncing(Lexicon((TREE,))).synthesize("Stand in Vrksasana.")
    assert len(plain) != len(said) or not np.array_equal(plain, said)


def piper_ids(voice: object, text: str) -> list[int]:
    """The phoneme ids Piper's network is given for `text`, from its own phonemizer."""
    from audioguide.voices.natural import NaturalVoice, _load_piper

    assert isinstance(voice, NaturalVoice)
    piper = _load_piper(voice.model)
    return [i for sentence in piper.phonemize(text) for i in piper.phonemes_to_ids(sentence)]


@pytest.mark.natural
@pytest.mark.integration
def test_piper_and_hibari_are_given_the_entry() -> None:
    from audioguide.voices.hibari import HibariVoice
    from audioguide.voices.natural import NaturalVoice

    joe = CachedVoice(NaturalVoice(), Path("/nonexistent")).pronouncing(LEXICON)

    def ids(text: str) -> list[int]:
        return piper_ids(joe.inner, text)

    entry = ids("[[ˌɪliːoʊsˈoʊəs]]")[1:-1]  # the IPA's own ids, without the start and end
    said = ids(joe.said("The iliopsoas."))
    assert said != ids("The iliopsoas.")
    assert any(said[i : i + len(entry)] == entry for i in range(len(said)))
    tree = ids(joe.said("Vrksasana"))
    assert tree == ids("vrik-shah-suh-nuh") != ids("Vrksasana")

    heart = CachedVoice(HibariVoice(), Path("/nonexistent"))
    phonemes = Lexicon((Pronunciation("Vrksasana", hibari="vɹɪkʃˈɑsənə"),))
    assert heart.pronouncing(phonemes).said("Vrksasana") == "[Vrksasana](/vɹɪkʃˈɑsənə/)"
    hibari = HibariVoice()
    given = hibari.phoneme_ids(heart.pronouncing(phonemes).said("Vrksasana"))
    assert given == hibari.phoneme_ids("[x](/vɹɪkʃˈɑsənə/)") != hibari.phoneme_ids("Vrksasana")


# --- the bundled yoga routine -----------------------------------------------------------------


def yoga_voice(spec: str) -> tuple[CachedVoice, tuple[Pronunciation, ...]]:
    with Session.open(BUNDLED_DIR / "psoas-yoga.yaml", Options(voice=spec)) as session:
        routine = session.routine()
        voice = session.voice(routine)
    assert isinstance(voice, CachedVoice)
    return voice, routine.pronounce


def test_the_yoga_routine_names_its_poses_in_every_form() -> None:
    voice, entries = yoga_voice("fake")
    words = {p.word for p in entries}
    assert {"Vrksasana", "Utthita Hasta Padangusthasana", "Anjaneyasana"} <= words
    texts = cue_texts("psoas-yoga")
    for entry in entries:
        assert all((entry.say, entry.espeak, entry.piper, entry.hibari)), entry.word
        assert any(entry.word in t for t in texts), f"{entry.word} is never said"
        assert not any(entry.word in voice.said(t) for t in texts), "the respelling is said"


@pytest.mark.integration
def test_the_yoga_routine_says_its_poses_right_with_espeak() -> None:
    voice, entries = yoga_voice("system:en-us")
    for entry in entries:
        assert espeak_phonemes(voice.said(f"{entry.word}.")) == espeak_phonemes(
            f"[[{entry.espeak}]]."
        )


@pytest.mark.natural
@pytest.mark.integration
@pytest.mark.parametrize("spec", ["male", "female"])
def test_the_yoga_routine_says_its_poses_right_with_both_english_voices(spec: str) -> None:
    """Each pose name reaches the network as the entry's own phonemes: Piper's ids for joe,
    hibari's for heart, never the ids the engine's own reading of the name would give."""
    from audioguide.voices.hibari import HibariVoice
    from audioguide.voices.natural import NaturalVoice

    voice, entries = yoga_voice(spec)
    engine = voice.inner
    for entry in entries:
        said = voice.said(f"Now {entry.word}.")
        if isinstance(engine, NaturalVoice):
            ids, own = piper_ids(engine, said), piper_ids(engine, f"[[{entry.piper}]]")
            plain = piper_ids(engine, f"Now {entry.word}.")
        else:
            assert isinstance(engine, HibariVoice)
            ids = engine.phoneme_ids(said)[0]
            own = engine.phoneme_ids(f"[x](/{entry.hibari}/)")[0]
            plain = engine.phoneme_ids(f"Now {entry.word}.")[0]
        core = own[1:-1]
        assert any(ids[i : i + len(core)] == core for i in range(len(ids))), entry.word
        assert ids != plain, entry.word
