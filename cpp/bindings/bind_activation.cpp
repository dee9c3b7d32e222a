// Bindings of the activation solver: shape checks, GIL release, call into the core.
#include <array>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "activation.hpp"
#include "common.hpp"

#include <pybind11/stl.h>

namespace mitwin::bindings {
namespace {

using namespace pybind11::literals;

ActivationMethod parse_method(const std::string& m) {
  if (m == "dijkstra") return ActivationMethod::kDijkstra;
  if (m == "eikonal") return ActivationMethod::kEikonal;
  throw py::value_error("method: expected 'dijkstra' or 'eikonal', got '" + m + "'");
}

std::unique_ptr<ActivationSolver> make_solver(const py::handle& points_obj, const py::handle& tets_obj,
                                              const py::handle& fibres_obj, const py::handle& sheets_obj,
                                              const std::array<double, 3>& speeds, const py::handle& endo_obj,
                                              const std::string& method) {
  const ActivationMethod m = parse_method(method);
  const CArray<double> points = as_array<double>(points_obj, "points");
  require_shape(points, "points", {-1, 3});
  const py::ssize_t n = points.shape(0);
  if (n < 1) fail("points: expected at least one point, got shape " + shape_of(points));
  require_finite(points, "points", kMaxCoordinate);
  const CArray<Index> tets = as_array<Index>(tets_obj, "tets");
  require_tets(tets, n);
  const CArray<double> fibres = as_array<double>(fibres_obj, "fibres");
  require_shape(fibres, "fibres", {n, 3});
  require_finite(fibres, "fibres");
  const CArray<double> sheets = as_array<double>(sheets_obj, "sheets");
  require_shape(sheets, "sheets", {n, 3});
  require_finite(sheets, "sheets");
  std::optional<CArray<double>> endo_speed;
  if (!endo_obj.is_none()) {
    endo_speed = as_array<double>(endo_obj, "endo_speed");
    require_shape(*endo_speed, "endo_speed", {n});
  }
  const double* endo = endo_speed ? endo_speed->data() : nullptr;
  py::gil_scoped_release release;
  return std::make_unique<ActivationSolver>(points.data(), n, tets.data(), tets.shape(0), fibres.data(), sheets.data(),
                                            speeds, endo, m);
}

// roots (R,) int64 and root_times (R,) float64 or None; ranges are checked by the solver.
std::pair<CArray<Index>, std::optional<CArray<double>>> sources(const py::handle& roots_obj,
                                                                 const py::handle& times_obj) {
  CArray<Index> roots = as_array<Index>(roots_obj, "roots");
  require_shape(roots, "roots", {-1});
  std::optional<CArray<double>> times;
  if (!times_obj.is_none()) {
    times = as_array<double>(times_obj, "root_times");
    require_shape(*times, "root_times", {roots.shape(0)});
  }
  return {std::move(roots), std::move(times)};
}

py::array_t<double> solve(const ActivationSolver& self, const py::handle& roots_obj, const py::handle& times_obj,
                          const py::handle& factor_obj) {
  const auto [roots, root_times] = sources(roots_obj, times_obj);
  std::optional<CArray<double>> speed_factor;
  if (!factor_obj.is_none()) {
    speed_factor = as_array<double>(factor_obj, "speed_factor");
    require_shape(*speed_factor, "speed_factor", {self.n_nodes()});
  }
  py::array_t<double> out(self.n_nodes());
  double* o = out.mutable_data();
  const double* rt = root_times ? root_times->data() : nullptr;
  const double* sf = speed_factor ? speed_factor->data() : nullptr;
  {
    py::gil_scoped_release release;
    self.solve(roots.data(), rt, roots.shape(0), sf, o);
  }
  return out;
}

py::array_t<double> solve_batch(const ActivationSolver& self, const py::handle& roots_obj, const py::handle& times_obj,
                                const py::handle& factors_obj, const py::handle& n_threads_obj) {
  const int n_threads = thread_count(n_threads_obj);
  const auto [roots, root_times] = sources(roots_obj, times_obj);
  const CArray<double> speed_factors = as_array<double>(factors_obj, "speed_factors");
  require_shape(speed_factors, "speed_factors", {-1, self.n_nodes()});
  const py::ssize_t k = speed_factors.shape(0);
  py::array_t<double> out({k, static_cast<py::ssize_t>(self.n_nodes())});
  double* o = out.mutable_data();
  const double* rt = root_times ? root_times->data() : nullptr;
  {
    py::gil_scoped_release release;
    self.solve_batch(roots.data(), rt, roots.shape(0), speed_factors.data(), k, o, n_threads);
  }
  return out;
}

}  // namespace

void bind_activation(py::module_& m) {
  py::class_<ActivationSolver>(m, "ActivationSolver",
                               "Activation times on a tetrahedral mesh (graph and per-tet data built once).")
      .def(py::init(&make_solver), "points"_a, "tets"_a, "fibres"_a, "sheets"_a, "speeds"_a, "endo_speed"_a = py::none(),
           "method"_a = "eikonal",
           "points (N, 3) float64 mm, tets (M, 4) int64, fibres and sheets (N, 3) float64 (orthonormalised here), "
           "speeds (fibre, sheet, normal) in [1e-4, 1e4] m/s, endo_speed (N,) float64 m/s (in [1e-4, 1e4] = fast "
           "layer, NaN or 0 elsewhere) or None, method 'dijkstra' or 'eikonal'. Coordinates finite within +-1e6 mm; "
           "tets distinct, each of four distinct nodes.")
      .def_property_readonly("n_nodes", &ActivationSolver::n_nodes)
      .def_property_readonly("n_edges", &ActivationSolver::n_edges)
      .def_property_readonly("n_layer_triangles", &ActivationSolver::n_layer_triangles)
      .def_property_readonly("method", [](const ActivationSolver& s) {
        return s.method() == ActivationMethod::kDijkstra ? "dijkstra" : "eikonal";
      })
      .def("edges",
           [](const ActivationSolver& s) {
             const auto& e = s.graph().edge_nodes;
             py::array_t<Index> out({static_cast<py::ssize_t>(e.size() / 2), py::ssize_t{2}});
             Index* o = out.mutable_data();
             for (std::size_t i = 0; i < e.size(); ++i) o[i] = e[i];
             return out;
           },
           "Unique undirected edges (E, 2) int64, first index < second.")
      .def("edge_costs",
           [](const ActivationSolver& s) {
             const std::vector<double> c = s.edge_costs();
             py::array_t<double> out(static_cast<py::ssize_t>(c.size()));
             std::copy(c.begin(), c.end(), out.mutable_data());
             return out;
           },
           "Healthy travel time (E,) float64 ms of each edge (the Dijkstra edge weights).")
      .def("solve", &solve, "roots"_a, "root_times"_a = py::none(), "speed_factor"_a = py::none(),
           "Activation times (N,) float64 ms from roots (R,) int64 with root_times (R,) in [0, 1e6] ms (default 0) "
           "and speed_factor (N,) 0 (blocked) or in [1e-6, 1] (default 1); +inf where blocked or unreachable.")
      .def("solve_batch", &solve_batch, "roots"_a, "root_times"_a, "speed_factors"_a, "n_threads"_a = py::none(),
           "Activation times (K, N) float64 ms for speed_factors (K, N), in parallel over K with n_threads "
           "OpenMP threads (in [1, 1024]; None: all).");
}

}  // namespace mitwin::bindings
