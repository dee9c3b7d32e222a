"""Damaged, odd or leftover files: cohort manifests, cohort VTUs, temporary files of killed writes."""

from __future__ import annotations

import hashlib
import json

import pytest

from mitwin._atomic import atomic_path, remove_leftovers, write_figure_atomic, write_text_atomic
from mitwin.cli import main
from mitwin.errors import DatasetError


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("manifest, match", [
    ({"format": "mitwin-cohort"}, "lists no subjects"),
    ({"format": "mitwin-cohort", "subjects": []}, "lists no subjects"),
    ({"format": "mitwin-cohort", "subjects": [1, 2]}, "lists no subjects"),
    ({"format": "mitwin-cohort", "subjects": "subject_000"}, "not a mitwin cohort manifest"),
    ([1, 2, 3], "not a mitwin cohort manifest"),
])
def test_bad_manifest_is_a_clear_error_and_nothing_is_written(tmp_path, capsys, manifest, match):
    from mitwin.anatomy.cohort import load_cohort

    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match=match):
        load_cohort(tmp_path)
    out = tmp_path / "out.h5"
    assert main(["simulate", "--cohort", str(tmp_path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "dataset:" not in captured.out and "manifest" in captured.err
    assert not out.exists()


@pytest.mark.slow
def test_cohort_vtus_are_reproducible(tmp_path):
    from mitwin.anatomy.cohort import COARSE_RESOLUTION_MM, make_cohort

    a = make_cohort(1, seed=3, out=tmp_path / "a", resolution_mm=COARSE_RESOLUTION_MM)
    b = make_cohort(1, seed=3, out=tmp_path / "b", resolution_mm=COARSE_RESOLUTION_MM)
    assert _md5(a[0]) == _md5(b[0])
    assert _md5(tmp_path / "a" / "manifest.json") == _md5(tmp_path / "b" / "manifest.json")


def test_leftovers_of_killed_writes_are_removed(tmp_path):
    target = tmp_path / "data.h5"
    stale = [tmp_path / ".data.h5.k3j_9x0q.tmp", tmp_path / ".data.h5.abcdefgh"]
    keep = [tmp_path / ".data.h5.toolongname.tmp", tmp_path / ".other.h5.abcdefgh.tmp", tmp_path / "data.h5.abcdefgh"]
    for p in stale + keep:
        p.write_text("half")
    assert sorted(remove_leftovers(target)) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)


def test_writes_under_a_file_or_onto_a_folder_are_clear_errors(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        write_text_atomic(f / "sub" / "x.txt", "y")
    with pytest.raises(ValueError, match="is a folder"):
        write_text_atomic(tmp_path, "y")
    with pytest.raises(ValueError, match="is a file"), atomic_path(f / "x.png"):
        pass


def test_figures_leave_no_hidden_files(tmp_path):
    import matplotlib.pyplot as plt

    (tmp_path / ".fig.png.zzzzzzzz.png").write_text("killed earlier")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    write_figure_atomic(fig, tmp_path / "fig.png", dpi=50)
    plt.close(fig)
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_heart_is_atomic_and_clears_leftovers(tmp_path, monkeypatch):
    import matplotlib.figure
    from test_heart import _random_heart

    from mitwin.anatomy.plot import plot_heart

    h = _random_heart()
    (tmp_path / ".heart.png.abcd0123.png").write_text("left by a killed run")
    plot_heart(h, tmp_path / "heart.png", n_points=300, n_fibres=20, dpi=30)
    assert [p.name for p in tmp_path.iterdir()] == ["heart.png"]

    # a failure while rendering leaves neither the target nor a temporary file
    def boom(self, *a, **k):
        raise RuntimeError("renderer died")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="renderer died"):
        plot_heart(h, tmp_path / "again.png", n_points=300, n_fibres=20, dpi=30)
    assert [p.name for p in tmp_path.iterdir()] == ["heart.png"]


def test_cli_output_paths_under_a_file_are_one_line_errors(tmp_path, capsys):
    from model_synthetic import write_dataset

    ds = write_dataset(tmp_path / "d.h5", n_subjects=3, n_cloud=300, seed=4)
    f = tmp_path / "file"
    f.write_text("x")
    for argv in (["sensitivity", str(ds), "--out", str(f / "sens")], ["cohort", "--n", "1", "--out", str(f / "c")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        last = err.replace("\r", "\n").splitlines()[-1]  # after any progress bar
        assert last.startswith(f"mitwin {argv[0]}: error:") and "Traceback" not in err and str(f) in last


def test_a_resumed_training_clears_temporaries_of_killed_checkpoint_writes(tmp_path):
    from model_synthetic import write_dataset

    from mitwin.model.train import train

    ds = write_dataset(tmp_path / "d.h5", n_subjects=3, n_cloud=300, seed=6)
    run = train(ds, tmp_path / "run", preset="tiny", epochs=1, progress=False)
    stale = [run / ".last.pt.q1w2e3r4.pt", run / ".best.pt.zxcvbnm0.pt", run / ".log.json.asdfghj1.json"]
    for p in stale:
        p.write_bytes(b"killed half way")
    train(ds, run, preset="tiny", epochs=2, progress=False)  # resumes for one more epoch
    assert not any(p.exists() for p in stale)
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]


def test_infer_refuses_to_overwrite_its_input_mesh(tmp_path, capsys):
    heart = tmp_path / "h.vtu"
    heart.write_text("the patient's mesh")
    qrs = tmp_path / "q.csv"
    qrs.write_text("I,II,V1,V2,V3,V4,V5,V6\n" + "1,2,3,4,5,6,7,8\n" * 20)
    for out in (heart, tmp_path / "." / "h.vtu"):
        assert main(["infer", str(tmp_path / "run"), "--heart", str(heart), "--qrs", str(qrs), "--out", str(out)]) == 2
        assert "out: must differ from heart" in capsys.readouterr().err
    assert heart.read_text() == "the patient's mesh"


@pytest.mark.parametrize("content", [b"", b"hello", b'<VTKFile type="UnstructuredGrid"></VTKFile>'])
def test_unreadable_mesh_error_says_what_is_wrong(tmp_path, content):
    from mitwin.anatomy.heart import Heart
    from mitwin.errors import MeshError

    path = tmp_path / "x.vtu"
    path.write_bytes(content)
    with pytest.raises(MeshError, match="could not read .* as a mesh: .{8,}") as info:
        Heart.load(path)
    assert not str(info.value).endswith(": 1")
