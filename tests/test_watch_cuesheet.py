"""Cue sheets (CSV/TSV) for the watch folder, the job bookkeeping pieces, and `takefit watch`'s
service and status commands — none of these render audio."""
from __future__ import annotations

import json
import os
import plistlib
import sqlite3
from fractions import Fraction
from pathlib import Path

import pytest

from takefit.bridges import cli
from takefit.bridges.watch import jobs, service
from takefit.bridges.watch import status as watch_status
from takefit.otio_adapters import cuesheet
from takefit.otio_adapters.cuesheet import CueSheetError
from takefit.bridges.watch.journal import DONE, RUNNING, Journal
from takefit.engine.errors import InputError
from takefit.installer import service as installer_service
from takefit.bridges.dub.pipeline import DubOptions
from takefit.otio_adapters.extract import extract


# ------------------------------------------------------------------ times
@pytest.mark.parametrize("text,rate,frames", [
    ("12.5", 25, 313),                      # seconds, half-up
    ("0", 25, 0),
    ("00:00:01.000", 25, 25),
    ("00:00:01,500", 25, 38),               # SRT-style comma
    ("01:02.5", 25, 1563),                  # MM:SS.mmm
    ("01:00:00:00", 25, 90000),             # timecode
    ("00:00:01:12", 24, 36),
    ("00:01:00;02", Fraction(30000, 1001), 1800),   # drop-frame: 00:01:00;00 and ;01 do not exist
    ("00:10:00;00", Fraction(30000, 1001), 17982),
    ("00:00:10:15", Fraction(30000, 1001), 315),    # non-drop at 29.97 counts 30 per second
])
def test_times(text, rate, frames):
    assert cuesheet.parse_time(text, Fraction(rate)) == frames


@pytest.mark.parametrize("text,needle", [
    ("00:00:01:25", "frame 25 does not exist at 25 fps"),
    ("00:61:00.0", "go up to 59"),
    ("1:2:3:4:5", "bad time"),
    ("soon", "bad time"),
    ("00:01:00;00", "needs a 29.97 or 59.94 rate"),
])
def test_bad_times(text, needle):
    with pytest.raises(ValueError, match=needle):
        cuesheet.parse_time(text, Fraction(25))


# ------------------------------------------------------------------ sheets
def test_header_bom_quotes_and_rate_line():
    text = ('\ufeff# rate: 24\n# a comment\nSpeaker,In,Out,Dialogue,Notes\n'
            'alice,00:00:01.000,00:00:02.500,"Fine, thanks.",ignored\n'
            'bob,00:00:03:00,00:00:04:12,"Two\nlines",\n')
    sheet = cuesheet.parse(text, "ep1.csv")
    assert sheet.rate == 24 and sheet.start == 0 and sheet.notes == []
    a, b = sheet.rows
    assert (a.line, a.start, a.end, a.character, a.text) == (4, 24, 60, "alice", "Fine, thanks.")
    assert (b.line, b.start, b.end, b.character, b.text) == (5, 72, 108, "bob", "Two\nlines")


def test_no_header_positional_semicolons_and_unquoted_commas():
    sheet = cuesheet.parse("1;2;Hi.\n3;4.5;bob;Yes, sir.\n", "x.csv")
    assert sheet.delimiter == ";" and sheet.rate == 25
    assert [(r.start, r.end, r.character, r.text) for r in sheet.rows] == [(25, 50, "", "Hi."),
                                                                             (75, 113, "bob", "Yes, sir.")]
    assert "no frame rate given" in sheet.notes[0]
    sheet = cuesheet.parse("1,2,alice,Well, well, well.\n", "y.csv")
    assert sheet.rows[0].text == "Well, well, well." and sheet.rows[0].character == "alice"


def test_tsv_rate_argument_duration_column_and_hour_start():
    text = "start\tduration\tcharacter\ttext\tvoice\temotion\n01:00:01:00\t00:00:01:00\talice\tHi.\taf_bella\tangry 0.5\n"
    sheet = cuesheet.parse(text, "z.tsv", rate="25", tsv=True)
    assert sheet.start == 90000 and sheet.rows[0].start == 90025 and sheet.rows[0].end == 90050
    assert "timeline start 01:00:00:00" in sheet.notes[0]
    assert sheet.rows[0].tagged_text() == "[character=alice | voice=af_bella | emotion=angry 0.5] Hi."
    tl = sheet.timeline()
    (m,) = tl.tracks.markers
    assert m.marked_range.start_time.value == 25 and m.marked_range.duration.value == 25
    assert m.comment.endswith("Hi.") and m.metadata["cuesheet"]["row"] == 2


def test_a_tag_in_the_text_wins_and_point_cues():
    sheet = cuesheet.parse("# start: 00:00:00:00\n1,,bob,[alice | calm] Hello.\n", "t.csv")
    (r,) = sheet.rows
    assert r.end is None and r.tagged_text() == "[alice | calm] Hello."


def test_bad_rows_are_listed_with_row_numbers():
    text = "start,end,character,text\n1,x,a,Hi\n3,2,a,Yo\n4,5,a,\n6,7,a|b,Hey\n8,9,bob,(laughs) Ha\n"
    with pytest.raises(CueSheetError) as e:
        cuesheet.parse(text, "bad.csv")
    msg = str(e.value)
    assert [n for n, _ in e.value.problems] == [2, 3, 4, 5, 6]
    assert "row 2: end: bad time 'x'" in msg and "row 3: ends (2) before it starts (3)" in msg
    assert "row 4: no text" in msg and "must not contain" in msg and "starts with '('" in msg
    assert isinstance(e.value, InputError)


def test_empty_and_wrong_shapes():
    with pytest.raises(CueSheetError, match="no cues"):
        cuesheet.parse("# only a comment\n\n", "e.csv")
    with pytest.raises(CueSheetError, match="row 1: 2 field"):
        cuesheet.parse("1,2\n", "f.csv")
    with pytest.raises(CueSheetError, match="no 'start' column"):
        cuesheet.parse("character,text\nalice,Hi\n", "g.csv")
    with pytest.raises(CueSheetError, match="row 1: '# rate'|bad frame rate"):
        cuesheet.parse("# rate: fast\n1,2,Hi\n", "h.csv")


def test_plan_from_a_cue_sheet_applies_the_cast(tmp_path):
    (tmp_path / "cast.toml").write_text('[defaults]\nvoice = "af_heart"\n[characters.alice]\nvoice = "af_bella"\n')
    p = tmp_path / "lines.csv"
    p.write_bytes("start,end,character,text\n00:00:01.000,00:00:02.000,alice,Hi.\n3,4,,Yes.\n".encode("utf-8-sig"))
    plan = jobs.make_plan(DubOptions(input=p, cast=tmp_path / "cast.toml", rate="30"))
    assert plan.rate == 30 and plan.source.format == "otio"
    assert [(c.start, c.duration, c.character, c.voice, c.text) for c in plan.cues] == [
        (30, 30, "alice", "af_bella", "Hi."), (90, 30, "", "af_heart", "Yes.")]
    assert extract(plan.source.timeline)[0].raw_text == "[character=alice] Hi."


# ------------------------------------------------------------------ job pieces
@pytest.mark.parametrize("name,ignored", [
    ("ep1.srt", False), (".ep1.srt", True), ("~ep1.srt", True), ("ep1.srt~", True), ("ep1.srt.part", True),
    ("ep1.xml.crdownload", True), ("ep1.tmp", True), ("Thumbs.db", True), (".DS_Store", True),
    ("takefit.cast.toml", True), ("notes.txt", False),
])
def test_ignored_names(name, ignored):
    assert jobs.is_ignored(name) is ignored


def test_cleanup_partial_removes_unlisted_takes_and_temporaries(tmp_path):
    takes = tmp_path / "ep_takes"
    takes.mkdir()
    (takes / ".takefit-takes.json").write_text(json.dumps({"takes": {"ep_c001_a_t1.wav": {"cue": "c001"}}}))
    for n in ("ep_c001_a_t1.wav", "ep_c002_a_t1.wav", ".ep_c003.x.wav.partial"):
        (takes / n).write_bytes(b"RIFF")
    (tmp_path / ".ep.otio.abc.partial").write_text("{")
    removed = {p.name for p in jobs.cleanup_partial(tmp_path)}
    assert removed == {"ep_c002_a_t1.wav", ".ep_c003.x.wav.partial", ".ep.otio.abc.partial"}
    assert sorted(p.name for p in takes.iterdir()) == [".takefit-takes.json", "ep_c001_a_t1.wav"]


def test_journal_and_outbox_names(tmp_path):
    j = Journal(tmp_path / "j.sqlite3")
    layout = jobs.Layout(tmp_path)
    a = j.begin("h1", "ep1.srt", "c", 10, "outbox/ep1")
    assert (a.state, a.attempts) == (RUNNING, 1)
    assert jobs.choose_outbox("ep1.srt", j, layout) == "outbox/ep1"
    assert jobs.choose_outbox("ep1.xml", j, layout) == "outbox/ep1_xml"   # another input owns outbox/ep1
    again = j.begin("h1", "ep1.srt", "c", 10, "outbox/ep1")                # resumed: same row, attempt 2
    assert (again.id, again.attempts) == (a.id, 2)
    done = j.finish(a.id, DONE, "done/ep1.srt", None, {"cues": 3})
    assert done.summary == {"cues": 3} and j.counts()["done"] == 1
    b = j.begin("h2", "ep1.srt", "c", 11, "outbox/ep1")
    assert b.id != a.id and j.find("h1", "ep1.srt", "c").state == DONE
    j.close()
    ro = Journal(tmp_path / "j.sqlite3", readonly=True)
    assert [x.name for x in ro.recent(5)] == ["ep1.srt", "ep1.srt"]
    ro.close()


@pytest.mark.parametrize("damage", [b"not a database at all\n", b"SQLite format 3\x00" + bytes(range(256)) * 16])
def test_a_damaged_journal_is_kept_aside_and_a_new_one_started(tmp_path, damage):
    """A watcher (often a service) whose journal SQLite cannot read keeps serving instead of failing on
    every start: the file is kept under another name, and the new journal works."""
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(damage)
    j = Journal(path)
    assert j.moved_aside and "could not be read" in j.moved_aside and "a new one started" in j.moved_aside
    (aside,) = tmp_path.glob("journal.sqlite3.damaged-*")
    assert aside.read_bytes() == damage
    job = j.begin("h1", "ep1.srt", "c", 10, "outbox/ep1")
    assert j.find("h1", "ep1.srt", "c").id == job.id
    j.close()
    assert Journal(path).moved_aside is None                            # the new one reads on the next start


def test_a_journal_file_without_its_tables_yet_reads_as_empty(tmp_path):
    # `takefit watch status` while a watcher's first start has created the file but not yet its tables
    layout = jobs.Layout(tmp_path)
    layout.journal.parent.mkdir(parents=True)
    sqlite3.connect(layout.journal).close()
    ro = Journal(layout.journal, readonly=True)
    assert (ro.all(), ro.recent(5), ro.in_state(RUNNING)) == ([], [], [])
    assert set(ro.counts().values()) == {0}
    ro.close()
    doc = watch_status.status(tmp_path)
    assert "journal_error" not in doc and set(doc["counts"].values()) == {0} and doc["recent"] == []
    assert sqlite3.connect(layout.journal).execute("SELECT name FROM sqlite_master").fetchall() == []  # untouched


@pytest.mark.skipif(os.name == "nt", reason="flock: POSIX")
def test_a_watch_folder_on_a_share_that_cannot_lock_is_still_watched(tmp_path, monkeypatch, capsys):
    """Some network shares refuse file locks (ENOLCK, EOPNOTSUPP): the watcher watches anyway and warns
    that nothing guards against a second one, instead of claiming another watcher holds the folder."""
    import errno
    import fcntl

    from takefit.daemon.control import Lock

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(OSError, match="No locks available"):
        Lock(tmp_path / "x.lock").acquire(timeout=0.2)
    folder = tmp_path / "share"
    assert cli.main(["watch", str(folder), "--once", "--daemon=off", "--settle=0"]) == 0
    log = (folder / ".takefit-watch" / "watch.log").read_text("utf-8")
    assert "cannot be locked on this filesystem (No locks available)" in log and "start only one" in log
    assert cli.main(["watch", "--status", str(folder)]) == 0
    assert "watcher: unknown (this filesystem cannot lock" in capsys.readouterr().out


def test_unique_dest(tmp_path):
    (tmp_path / "a.srt").write_text("one")
    assert jobs.unique_dest(tmp_path, "b.srt") == tmp_path / "b.srt"
    assert jobs.unique_dest(tmp_path, "a.srt", jobs.content_hash(tmp_path / "a.srt")) == tmp_path / "a.srt"
    assert jobs.unique_dest(tmp_path, "a.srt", "other") == tmp_path / "a_2.srt"


# ------------------------------------------------------------------ the command's other actions
def test_install_and_uninstall_service(tmp_path, capsys):
    folder = tmp_path / "my jobs"
    base = tmp_path / "home"
    assert cli.main(["watch", "install-service", str(folder), "--base", str(base), "--rate", "25",
                     "--daemon", "start", "--settle", "5"]) == 0
    spec = service.watch_service(folder)
    unit = installer_service.unit_path(spec, base, "linux")
    text = unit.read_text()
    assert unit.name.startswith("takefit-watch-my-jobs-") and unit.name.endswith(".service")
    assert "-m takefit.bridges.cli watch" in text and f'"{folder.absolute()}"' in text
    assert "--rate 25 --settle 5 --daemon start" in text
    assert (folder / "inbox").is_dir()
    assert "systemctl --user enable --now" in capsys.readouterr().out
    assert cli.main(["watch", "uninstall-service", str(folder), "--base", str(base)]) == 0
    assert not unit.exists()
    plist = plistlib.loads(installer_service.launchd_plist(spec))
    assert plist["Label"].startswith("org.takefit.watch.my-jobs-")
    assert plist["StandardOutPath"] == str(folder.absolute() / ".takefit-watch" / "service.log")


def test_status_and_argument_errors(tmp_path, capsys):
    assert cli.main(["watch", "--status", str(tmp_path)]) == 2
    assert "not a watch folder" in capsys.readouterr().err
    assert cli.main(["watch", "install-service"]) == 2
    assert cli.main(["watch", str(tmp_path), "extra"]) == 2
    assert cli.main(["watch", str(tmp_path), "--cast", str(tmp_path / "none.toml")]) == 2
    capsys.readouterr()
    jobs.Layout(tmp_path).ensure()
    (tmp_path / "inbox" / "waiting.srt").write_text("1\n")
    assert cli.main(["watch", "--status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "not running" in out and "waiting.srt" in out
