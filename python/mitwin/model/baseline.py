"""A simple baseline: classify the scenario from the QRS, then place that scenario's ellipsoid.

Features: each normalised QRS (see :mod:`mitwin.data.torchdata`) average-pooled to 64 samples per
lead (8 ms bins) -> 512 numbers; standardised, reduced by PCA (at most 40 components) and classified
by multinomial logistic regression (scikit-learn). The predicted scenario's labels are then placed
on the subject's cloud from its coordinates: by ``labeller(name, tm, ab, rt, tv)`` when given, else
``mitwin.infarct.SCENARIOS[name].labels`` when that scenario is defined there and reproduces the
training labels of the scenario (the dataset may use other parameters), else by transferring
the labels of the training subjects for that scenario through nearest neighbours in the
coordinate space (tm, ab, cos/sin of rt, tv), which reproduces any coordinate-defined ellipsoid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

logger = logging.getLogger(__name__)

Labeller = Callable[[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def qrs_features(qrs: np.ndarray, bins: int = 64) -> np.ndarray:
    """Average-pool normalised QRS (K, 8, T) to (K, 8 * bins) features."""
    qrs = np.asarray(qrs, dtype=np.float64)
    k, n_leads, t = qrs.shape
    if t % bins:
        raise ValueError(f"qrs length {t} must be divisible by bins={bins}")
    return qrs.reshape(k, n_leads, bins, t // bins).mean(-1).reshape(k, -1)


def _embed(coords: np.ndarray) -> np.ndarray:
    """(P, 4) tm, ab, rt, tv -> (P, 5) with rt on the circle (periodic)."""
    tm, ab, rt, tv = np.asarray(coords, dtype=np.float64).T
    r = 1.0 / (2 * np.pi)
    return np.stack([tm, ab, r * np.cos(2 * np.pi * rt), r * np.sin(2 * np.pi * rt), tv], axis=1)


def default_labeller(name: str) -> Labeller | None:
    """``mitwin.infarct.SCENARIOS[name].labels`` as a labeller, or None when unavailable."""
    try:
        from ..infarct import SCENARIOS
    except ImportError:
        return None
    if name not in SCENARIOS:
        return None
    inf = SCENARIOS[name]
    return lambda _n, tm, ab, rt, tv: np.asarray(inf.labels(tm, ab, rt, tv))


@dataclass
class ScenarioBaseline:
    """QRS -> scenario classifier with label placement. Fit with :meth:`fit`."""

    n_components: int = 40
    bins: int = 64
    seed: int = 0
    labeller: Labeller | None = None
    classifier: Pipeline | None = None
    scenarios: list[str] = field(default_factory=list)
    _trees: dict[str, tuple[cKDTree, np.ndarray]] = field(default_factory=dict)
    _table: dict[str, Labeller] = field(default_factory=dict)

    def fit(self, qrs: np.ndarray, scenario: Sequence[str], coords: Sequence[np.ndarray] | None = None,
            labels: Sequence[np.ndarray] | None = None) -> ScenarioBaseline:
        """Fit on training items.

        Parameters
        ----------
        qrs : (K, 8, T) normalised QRS
        scenario : K scenario names
        coords, labels : per item (P_k, 4) cloud coordinates and (P_k,) labels, used for the
            nearest-neighbour placement (optional when a labeller covers every scenario).
        """
        x = qrs_features(qrs, self.bins)
        y = np.asarray(scenario)
        self.scenarios = sorted(set(y.tolist()))
        n_comp = int(min(self.n_components, x.shape[0] - 1, x.shape[1]))
        self.classifier = make_pipeline(StandardScaler(), PCA(n_components=n_comp, random_state=self.seed),
                                        LogisticRegression(C=1.0, max_iter=3000))
        self.classifier.fit(x, y)
        self._trees = {}
        self._table = {}
        if coords is not None and labels is not None:
            for name in self.scenarios:
                sel = [i for i, s in enumerate(y) if s == name]
                pts = np.concatenate([_embed(coords[i]) for i in sel])
                lab = np.concatenate([np.asarray(labels[i]) for i in sel])
                self._trees[name] = (cKDTree(pts), lab)
                # mitwin's scenario table is used only where it reproduces the training labels
                table = default_labeller(name)
                if table is not None:
                    placed = np.concatenate([table(name, *np.asarray(coords[i], dtype=float).T) for i in sel])
                    if np.mean(placed == lab) >= 0.999:
                        self._table[name] = table
        return self

    def predict_scenario(self, qrs: np.ndarray) -> np.ndarray:
        """Predicted scenario names (K,) of normalised QRS (K, 8, T)."""
        if self.classifier is None:
            raise RuntimeError("the baseline is not fitted")
        return self.classifier.predict(qrs_features(qrs, self.bins))

    def place(self, name: str, coords: np.ndarray, k: int = 5) -> np.ndarray:
        """Labels (P,) of scenario ``name`` on a cloud with coordinates (P, 4) [tm, ab, rt, tv]."""
        coords = np.asarray(coords, dtype=np.float64)
        lab = self.labeller or self._table.get(name)
        if lab is None and not self._trees:
            lab = default_labeller(name)
        if lab is not None:
            return np.asarray(lab(name, *coords.T), dtype=np.int64)
        if name not in self._trees:
            raise ValueError(f"no labeller and no training labels for scenario {name!r}")
        tree, train_lab = self._trees[name]
        _, idx = tree.query(_embed(coords), k=k)
        votes = train_lab[np.atleast_2d(idx)]
        counts = np.stack([(votes == c).sum(1) for c in range(3)], axis=1)
        return counts.argmax(1).astype(np.int64)

    def predict(self, qrs: np.ndarray, coords: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Scenario names (K,) and labels on each cloud."""
        names = self.predict_scenario(qrs)
        return names, [self.place(n, c) for n, c in zip(names, coords)]
