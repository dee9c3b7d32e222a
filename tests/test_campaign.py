"""The simulation campaign: dataset contents, resume, determinism, local processes and dask."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from mitwin.data import campaign
from mitwin.data.campaign import CampaignSettings, run_campaign
from mitwin.data.store import open_dataset, read_subject, validate_dataset
from mitwin.errors import DatasetError
from mitwin.infarct import SCENARIOS

pytestmark = pytest.mark.slow

# A few scenarios and small clouds keep each subject at a fraction of a second.
SMALL = {k: SCENARIOS[k] for k in ("lateral_transmural", "lateral_subendocardial", "lateral_transmural_slow_cv")}


def _settings(**kw):
    return CampaignSettings(scenarios=SMALL, n_cloud=256, n_coarse=64, n_dense=128, **kw)


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort

    out = tmp_path_factory.mktemp("cohort")
    make_cohort(2, seed=0, out=out, resolution_mm=COARSE_RESOLUTION_MM)
    return out


@pytest.fixture(scope="module")
def reference(cohort, tmp_path_factory):
    """An uninterrupted in-process run: the file every other run must reproduce byte for byte."""
    out = tmp_path_factory.mktemp("ref") / "data.h5"
    return run_campaign(cohort, out, n_workers=1, progress=False, settings=_settings())


def test_dataset_contents(cohort, reference):
    from mitwin.anatomy.heart import Heart
    from mitwin.infarct import Infarct

    header = validate_dataset(reference)
    assert header.scenario_names == ("baseline", *SMALL)
    scen = json.loads(header.scenarios_json)
    assert Infarct.from_dict(scen["lateral_transmural"], "lateral_transmural") == SMALL["lateral_transmural"]
    config = json.loads(header.config_json)
    assert config["conduction"]["speeds"] == [0.65, 0.48, 0.51] and config["method"] == "eikonal"
    with open_dataset(reference) as ds:
        assert ds.subjects == ["subject_000", "subject_001"]
    heart = Heart.load(cohort / "subject_001.vtu")
    rec = read_subject(reference, "subject_001")
    np.testing.assert_array_equal(rec.points, heart.points)
    np.testing.assert_array_equal(rec.coords, heart.coords)
    # labels are the scenarios' own labels; baseline healthy
    assert not rec.labels[0].any()
    for k, inf in enumerate(SMALL.values(), start=1):
        np.testing.assert_array_equal(rec.labels[k], inf.labels(heart.tm, heart.ab, heart.rt, heart.tv))
    np.testing.assert_array_equal(rec.cloud_labels, rec.labels[:, rec.cloud_index])
    np.testing.assert_array_equal(rec.cloud[:, :3], heart.points[rec.cloud_index].astype(np.float32))
    # QRS: raw, whole (never cut), zero after its length, length = end of activation + the 10 ms margin
    assert rec.qrs.shape[2] == rec.qrs_length.max()
    for k in range(rec.at.shape[0]):
        n = rec.qrs_length[k]
        full = int(np.floor(rec.at[k].max())) + 1 + 10
        assert abs(n - full) <= 1  # (AT is stored as float32)
        assert np.any(rec.qrs[k, :, :n] != 0) and not np.any(rec.qrs[k, :, n:])
        assert 40.0 < rec.qrs_duration[k] <= full
    assert rec.at[3].max() > rec.at[1].max()  # slow CV prolongs activation
    # the subject seed is the documented rule
    assert rec.seed == campaign.subject_seed(0, 1)


def test_rerun_is_a_no_op(cohort, reference, monkeypatch):
    before = _md5(reference)
    mtime = reference.stat().st_mtime_ns

    def boom(*args, **kwargs):
        raise AssertionError("a finished campaign must not simulate again")

    monkeypatch.setattr(campaign, "simulate_subject", boom)
    assert run_campaign(cohort, reference, n_workers=1, progress=False, settings=_settings()) == reference
    assert reference.stat().st_mtime_ns == mtime and _md5(reference) == before
    # fewer subjects than the file holds: nothing to do either
    run_campaign(cohort, reference, subjects=2, n_workers=1, progress=False, settings=_settings())
    assert _md5(reference) == before


def test_interrupted_campaign_resumes_to_the_same_file(cohort, reference, tmp_path, monkeypatch):
    out = tmp_path / "data.h5"
    done = []

    def interrupt(sid):
        done.append(sid)
        if len(done) == 1:
            raise KeyboardInterrupt("killed half way")

    monkeypatch.setattr(campaign, "_after_subject", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_campaign(cohort, out, n_workers=1, progress=False, settings=_settings())
    assert not out.exists()
    parts = sorted(p.name for p in (tmp_path / "data.h5.parts").iterdir())
    assert parts == ["subject_000.h5"]  # finished work kept, nothing half-written

    calls = []
    real = campaign.simulate_subject

    def counting(path, index, settings):
        calls.append(index)
        return real(path, index, settings)

    # temporaries that a kill during a part write or the merge would leave
    stale = [tmp_path / "data.h5.parts" / ".subject_001.h5.a1b2c3d4.tmp", tmp_path / ".data.h5.z9y8x7w6.tmp"]
    for p in stale:
        p.write_bytes(b"half-written")
    monkeypatch.setattr(campaign, "_after_subject", None)
    monkeypatch.setattr(campaign, "simulate_subject", counting)
    run_campaign(cohort, out, n_workers=1, progress=False, settings=_settings())
    assert calls == [1]  # only the missing subject
    assert not any(p.exists() for p in stale) and not list(tmp_path.glob(".*"))
    assert _md5(out) == _md5(reference)
    assert not (tmp_path / "data.h5.parts").exists()


def test_growing_a_dataset(cohort, reference, tmp_path):
    out = tmp_path / "data.h5"
    run_campaign(cohort, out, subjects=1, n_workers=1, progress=False, settings=_settings())
    with open_dataset(out) as ds:
        assert ds.subjects == ["subject_000"]
    run_campaign(cohort, out, n_workers=1, progress=False, settings=_settings())
    assert _md5(out) == _md5(reference)


def test_worker_processes_give_the_same_file(cohort, reference, tmp_path):
    out = run_campaign(cohort, tmp_path / "data.h5", n_workers=2, progress=False, settings=_settings())
    assert _md5(out) == _md5(reference)


def test_dask_cluster_gives_the_same_file(cohort, reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        out = run_campaign(cohort, tmp_path / "data.h5", scheduler=cluster.scheduler_address, progress=False,
                           settings=_settings())
    assert _md5(out) == _md5(reference)


def test_other_settings_do_not_overwrite(cohort, reference):
    with pytest.raises(DatasetError, match="other settings"):
        run_campaign(cohort, reference, n_workers=1, progress=False, settings=_settings(method="dijkstra"))


def test_user_scenarios_file(cohort, tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"basal_lateral": {"centre": [1.0, 0.8, 0.3], "radii": [3.0, 0.15, 0.1]}}))
    out = run_campaign(cohort, tmp_path / "mine.h5", subjects=1, n_workers=1, scenarios_file=path, progress=False)
    header = validate_dataset(out)
    assert header.scenario_names == ("baseline", "basal_lateral")
    rec = read_subject(out, "subject_000")
    assert rec.cloud.shape == (4096, 7) and rec.coarse.shape == (1024, 4) and rec.dense.shape == (4096, 4)
    assert rec.qrs.shape == (2, 8, rec.qrs_length.max()) and (rec.labels[1] == 2).any()
    # the coarse test meshes have fewer than 4096 nodes: the cloud holds every node, then repeats
    n = rec.n_nodes
    assert n < 4096 and sorted(rec.cloud_index[:n]) == list(range(n))
    position = np.empty(n, dtype=np.int64)
    position[rec.cloud_index[:n]] = np.arange(n)
    np.testing.assert_array_equal(rec.cloud[n:], rec.cloud[position[rec.cloud_index[n:]]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"subjects": 0}, "subjects"), ({"subjects": 7}, "has 2 subjects"), ({"n_workers": -1}, "n_workers"),
     ({"method": "fmm"}, "method")],
)
def test_bad_arguments(cohort, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_campaign(cohort, tmp_path / "x.h5", progress=False, **kwargs)


def test_scenario_table_volumes_on_a_reference(cohort):
    from mitwin.anatomy.heart import Heart
    from mitwin.infarct import scenario_table

    ref = cohort / "subject_000.vtu"
    table = scenario_table(reference=ref)
    heart = Heart.load(ref)
    p = heart.points[heart.tets]
    tet_vol = np.abs(np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])) / 6
    rows = {line.split("|")[1].strip(): line.split("|") for line in table.splitlines() if line.startswith("| ")}
    for name, inf in SCENARIOS.items():
        lab = inf.labels(heart.tm, heart.ab, heart.rt, heart.tv)
        # per tet: its volume times the share of its four nodes in scar / BZ
        scar = np.sum(tet_vol * (lab[heart.tets] == 2).mean(axis=1)) / 1000
        bz = np.sum(tet_vol * (lab[heart.tets] == 1).mean(axis=1)) / 1000
        assert float(rows[name][-3]) == pytest.approx(scar, abs=0.051), name
        assert float(rows[name][-2]) == pytest.approx(bz, abs=0.051), name
    assert f"myocardium {tet_vol.sum() / 1000:.0f} mL" in table


@pytest.mark.filterwarnings("ignore::mitwin.errors.BlockedTissueWarning")  # default blocked scar: coarse-mesh islands
def test_command_line(cohort, tmp_path, capsys):
    from mitwin.cli import main

    assert main(["scenarios"]) == 0
    assert "lateral_transmural_slow_cv" in capsys.readouterr().out
    assert main(["simulate", "--cohort", str(cohort), "--out", str(tmp_path / "d.h5"), "--subjects", "5",
                 "--workers", "1"]) == 2
    assert "has 2 subjects" in capsys.readouterr().err
    assert main(["simulate", "--cohort", str(cohort), "--out", str(tmp_path / "d.h5"), "--subjects", "1",
                 "--workers", "1"]) == 0
    assert validate_dataset(tmp_path / "d.h5").n_scenarios == 18
