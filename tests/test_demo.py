from pathlib import Path

import pytest

from mitwin import cli
from mitwin.demo import summary_table


def test_summary_table_puts_the_papers_numbers_beside_ours(tmp_path):
    header = "scenario,n,scar_dice,scar_dice_sd,bz_dice,bz_dice_sd,aha_loc,aha_loc_sd\n"
    (tmp_path / "table1.csv").write_text(
        header + "apical_transmural,3,0.500000,0.100000,0.250000,0.050000,0.900000,0.010000\n"
        "Average,3,0.400000,0.200000,0.200000,0.100000,0.700000,0.300000\n"
    )
    (tmp_path / "baseline_table1.csv").write_text(header + "apical_transmural,3,0.6,0.1,0.3,0.1,0.95,0.01\n")
    table = summary_table(tmp_path)
    apical = next(line for line in table.splitlines() if line.startswith("| apical_transmural"))
    # ours, the paper's Table I (0.779 scar Dice, 0.699 BZ Dice, 0.921 AHA-loc), the baseline's
    assert "0.500 ± 0.100 | 0.779 ± 0.186 | 0.600 ± 0.100" in apical
    assert "0.921 ± 0.179 | 0.950 ± 0.010" in apical
    average = next(line for line in table.splitlines() if line.startswith("| Average"))
    assert "0.457 ± 0.317" in average and average.endswith("| – |")


def test_summary_table_needs_an_evaluated_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="mitwin evaluate"):
        summary_table(tmp_path)


def test_unknown_size_is_an_error(tmp_path):
    from mitwin.demo import run_demo

    with pytest.raises(ValueError, match="size"):
        run_demo(tmp_path, size="huge")


@pytest.mark.slow
def test_demo_end_to_end_and_rerun(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out), "--size", "tiny"]) == 0
    printed = capsys.readouterr().out
    assert "| scenario | scar Dice | paper |" in printed and "Time per stage" in printed
    for rel in ("dataset.h5", "sensitivity/report.md", "run/table1.md", "run/baseline_table1.md"):
        assert (out / rel).is_file(), rel
    stamp = Path(out / "dataset.h5").stat().st_mtime_ns
    assert cli.main(["demo", "--out", str(out), "--size", "tiny"]) == 0
    assert Path(out / "dataset.h5").stat().st_mtime_ns == stamp  # finished stages are reused
