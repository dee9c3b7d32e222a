"""A real (campaign-made) dataset with 100 kB of zeros in its middle is refused by train, evaluate and sensitivity."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from mitwin.cli import main  # noqa: E402
from mitwin.data.campaign import CampaignSettings, run_campaign  # noqa: E402
from mitwin.infarct import SCENARIOS  # noqa: E402

pytestmark = pytest.mark.slow

SMALL = {k: SCENARIOS[k] for k in ("lateral_transmural", "lateral_subendocardial", "apical_transmural")}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort

    root = tmp_path_factory.mktemp("real")
    make_cohort(3, seed=0, out=root / "cohort", resolution_mm=COARSE_RESOLUTION_MM)
    settings = CampaignSettings(scenarios=SMALL, n_cloud=256, n_coarse=64, n_dense=256)
    return run_campaign(root / "cohort", root / "data.h5", n_workers=1, progress=False, settings=settings)


def _damaged_copy(src, dst):
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    assert len(data) > 300_000 and any(data[mid - 50_000: mid + 50_000])
    data[mid - 50_000: mid + 50_000] = bytes(100_000)
    dst.write_bytes(bytes(data))
    return dst


def test_damaged_real_dataset_is_refused_by_train_evaluate_sensitivity(dataset, tmp_path, capsys):
    # the intact dataset works in all three
    run = tmp_path / "run"
    assert main(["train", str(dataset), "--out", str(run), "--preset", "tiny", "--epochs", "1"]) == 0
    assert main(["evaluate", str(run), str(dataset)]) == 0
    assert main(["sensitivity", str(dataset), "--out", str(tmp_path / "sens")]) == 0
    capsys.readouterr()

    bad = _damaged_copy(dataset, tmp_path / "bad.h5")
    before = (run / "run.json").read_bytes()
    commands = {
        "train": ["train", str(bad), "--out", str(tmp_path / "run2"), "--preset", "tiny", "--epochs", "1"],
        "evaluate": ["evaluate", str(run), str(bad)],
        "sensitivity": ["sensitivity", str(bad), "--out", str(tmp_path / "sens2")],
    }
    for name, argv in commands.items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip()
        assert "damaged" in err and str(bad) in err and len(err.splitlines()) == 1, (name, err)
    assert (run / "run.json").read_bytes() == before
    assert not (tmp_path / "run2" / "last.pt").exists() and not (tmp_path / "sens2" / "report.md").exists()
    assert json.loads(before)["split"]["test"]
