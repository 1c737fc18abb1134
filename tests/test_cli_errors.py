"""Every bad input ends in one ``error:`` line that names the bad value and what to do, exit code 2, and
leaves nothing behind in --out."""
import pytest

from repro.cli import main

SMOKE = ["--scale", "smoke", "--jobs", "1"]


def _cases(tmp):
    afile = tmp / "a-file"
    afile.write_text("")
    out = str(tmp / "out")
    return [
        # (argv, words the one line must contain)
        (["run", "yosinski2014", "natman", *SMOKE, "--out", "/proc/x"], ["/proc/x", "give another directory"]),
        (["run", "yosinski2014", "natman", *SMOKE, "--out", str(afile)], [str(afile), "is a file"]),
        (["run", "yosinski2014", "--scale", "paper", "--jobs", "1", "--out", out],
         ["imagenet2012", "repro prepare", "--data-dir"]),
        (["run", "neyshabur2020", "block_shuffle", "--scale", "paper", "--jobs", "1", "--out", out],
         ["imagenet2012", "repro prepare", "--data-dir"]),
        (["tune", "neyshabur2020", "--scale", "paper", "--out", out], ["imagenet2012", "repro prepare", "--data-dir"]),
        (["run", "yosinski2014", "nosuch", "--out", out], ["nosuch", "random_splits"]),
        (["run", "yosinski2014", *SMOKE, "--only", "nomatch", "--out", out], ["nomatch", "--dry-run"]),
        (["run", "nopaper", "--out", out], ["nopaper", "accepted: atlas, chen2022"]),
        (["run", "yosinski2014", "--scale", "huge", "--out", out], ["huge", "accepted: smoke, mini, mini-hard, paper"]),
        (["run", "yosinski2014", *SMOKE, "--shard", "3/2", "--out", out], ["3/2", "I/N"]),
        (["run", "yosinski2014", "--scale", "smoke", "--jobs", "0", "--out", out], ["--jobs 0", ">= 1"]),
        (["run", "yosinski2014", *SMOKE, "--seed-set", "-1", "--out", out], ["--seed-set -1", ">= 0"]),
        (["compare", "yosinski2014", "--scale", "smoke", "--out", out], ["no results", "repro run yosinski2014"]),
        (["compare", "yosinski2014", "--seed-sets", "0,0", "--out", out], ["0,0", "distinct"]),
        (["tune", "neyshabur2020", "--scale", "smoke", "--only", "zzz", "--out", out], ["zzz", "accepted: lr-"]),
        (["events", "yosinski2014", "--scale", "smoke", "--out", out], ["no results", "repro run"]),
        (["report", "nopaper", "--out", out], ["nopaper", "accepted:"]),
    ]


def test_every_bad_input_is_one_error_line_with_exit_code_2_and_nothing_left_behind(tmp_path, capsys):
    for argv, words in _cases(tmp_path):
        code = main(argv)
        captured = capsys.readouterr()
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert code == 2, argv
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, captured.err)
        for word in words:
            assert word in lines[0], (argv, word, lines[0])
        assert not (tmp_path / "out").exists(), argv


@pytest.mark.parametrize("argv", [["run", "yosinski2014", "--scale"], ["nocommand"]])
def test_argparse_mistakes_end_in_its_error_line_with_exit_code_2(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("repro")
