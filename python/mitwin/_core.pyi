# Type stubs for the compiled module mitwin._core (cpp/bindings). Arrays are float64 / int64,
# C-contiguous; the Python wrappers in mitwin.ep and mitwin.analysis validate inputs first, and the
# module checks again (cpp/bindings/common.hpp): no booleans or complex numbers, shapes, finite
# values, index ranges, thread counts in [1, 1024] (None: all cores), sizes bounded before allocation.
import numpy as np
import numpy.typing as npt

def openmp_enabled() -> bool: ...

# --- activation (cpp/core/activation.hpp) ---------------------------------------------------
class ActivationSolver:
    def __init__(
        self,
        points: npt.ArrayLike,
        tets: npt.ArrayLike,
        fibres: npt.ArrayLike,
        sheets: npt.ArrayLike,
        speeds: tuple[float, float, float],
        endo_speed: npt.ArrayLike | None = None,
        method: str = "eikonal",
    ) -> None: ...
    @property
    def n_nodes(self) -> int: ...
    @property
    def n_edges(self) -> int: ...
    @property
    def n_layer_triangles(self) -> int: ...
    @property
    def method(self) -> str: ...
    def edges(self) -> npt.NDArray[np.int64]: ...
    def edge_costs(self) -> npt.NDArray[np.float64]: ...
    def solve(
        self, roots: npt.ArrayLike, root_times: npt.ArrayLike | None = None, speed_factor: npt.ArrayLike | None = None
    ) -> npt.NDArray[np.float64]: ...
    def solve_batch(
        self,
        roots: npt.ArrayLike,
        root_times: npt.ArrayLike | None,
        speed_factors: npt.ArrayLike,
        n_threads: int | None = None,
    ) -> npt.NDArray[np.float64]: ...

# --- lead field and QRS synthesis (cpp/core/leadfield.hpp) -----------------------------------
def lead_field(
    points: npt.ArrayLike,
    tets: npt.ArrayLike,
    electrodes: npt.ArrayLike,
    scale: float = 1.0,
    n_threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
def synthesize_qrs(
    lead: npt.ArrayLike,
    at: npt.ArrayLike,
    t0: float,
    dt: float,
    n_samples: int,
    template_values: npt.ArrayLike,
    template_first: int,
    sos: npt.ArrayLike | None = None,
    zi: npt.ArrayLike | None = None,
    n_threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
def value_range(x: npt.ArrayLike, n_threads: int | None = None, skip_inf: bool = False) -> tuple[float, float]: ...

# --- DTW (cpp/core/dtw.hpp) -------------------------------------------------------------------
def dtw_leads(
    a: npt.ArrayLike, len_a: int, b: npt.ArrayLike, len_b: int, band: int | None = None, cost: str = "squared",
    normalize: bool = True, penalty: float = 0.0,
) -> npt.NDArray[np.float64]: ...
def dtw_all_pairs(
    signals: npt.ArrayLike,
    lengths: npt.ArrayLike,
    band: int | None = None,
    cost: str = "squared",
    normalize: bool = True,
    penalty: float = 0.0, n_threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
def dtw_one_to_many(
    reference: npt.ArrayLike, ref_length: int, signals: npt.ArrayLike, lengths: npt.ArrayLike, band: int | None = None,
    cost: str = "squared", normalize: bool = True, penalty: float = 0.0, n_threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
