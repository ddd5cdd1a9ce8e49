"""bench/indextts_gpu.py's own parts that need no model: its line file, its arguments and its tables
(the bench itself runs the real backends: `python bench/indextts_gpu.py --tiny DIR --device cpu`)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import indextts_gpu as bench  # bench/ is not a package: on the path above


def test_lines_file_skips_blanks_and_comments_and_limits(tmp_path):
    f = tmp_path / "lines.txt"
    f.write_text("# a comment\n\nRoll camera.\n  你好。  \n#\nThird one.\n", "utf-8")
    assert bench.read_lines(f) == ["Roll camera.", "你好。", "Third one."]
    assert bench.read_lines(f, limit=2) == ["Roll camera.", "你好。"]
    default = bench.read_lines(None)
    assert 6 <= len(default) <= 10 and any("你" in s for s in default) and any(s.isascii() for s in default)


def test_bad_line_files_and_arguments_name_the_fix(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        bench.read_lines(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# only a comment\n\n", "utf-8")
    with pytest.raises(SystemExit, match="holds no lines"):
        bench.read_lines(tmp_path / "empty.txt")
    with pytest.raises(SystemExit, match="at least 1"):
        bench.read_lines(None, limit=0)
    with pytest.raises(SystemExit):
        bench.parse_args(["--tiny", str(tmp_path), "--model-dir", str(tmp_path)])
    args = bench.parse_args(["--tiny", str(tmp_path), "--limit", "3"])
    assert (args.tiny, args.limit, args.out) == (str(tmp_path), 3, bench.DEFAULT_OUT)


def test_tables_put_the_backends_side_by_side_and_sum_them():
    slot = 48000
    rows = [bench.Row("indextts", 1, "a", 1.0, 1.0, slot, slot, 0.5, 0.96, "model"),
            bench.Row("kokoro", 1, "a", 1.0, 1.0, slot, slot + 3, 0.25, None, "hybrid", ["w"])]
    table = bench.table(rows, ["indextts", "kokoro"])
    assert table[2] == "| 1 | 1 | 1.00 | 0.500 | +0 | 0.960 | model | 1.00 | 0.250 | +3 | – | hybrid |"
    assert all(line.count("|") == table[0].count("|") for line in table)
    s = bench.summarise(rows[1:])
    assert (s["max_abs_error_samples"], s["span_mean"], s["methods"], s["warnings"]) == (3, None, {"hybrid": 1}, 1)
