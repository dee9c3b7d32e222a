// Bindings of the activation solver: shape checks, GIL release, call into the core.
#include <array>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "activation.hpp"
#include "common.hpp"

#include <pybind11/stl.h>

namespace mitwin::bindings {
namespace {

using namespace pybind11::literals;

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s += std::to_string(a.shape(d)) + (d + 1 < a.ndim() ? ", " : "");
  return s + (a.ndim() == 1 ? ",)" : ")");
}

void require(const py::array& a, const char* name, std::initializer_list<py::ssize_t> shape) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  py::ssize_t d = 0;
  std::string want = "(";
  for (py::ssize_t s : shape) {
    if (ok && s >= 0 && a.shape(d) != s) ok = false;
    want += (s < 0 ? std::string("N") : std::to_string(s)) + (d + 1 < static_cast<py::ssize_t>(shape.size()) ? ", " : "");
    ++d;
  }
  want += shape.size() == 1 ? ",)" : ")";
  if (!ok) throw py::value_error(std::string(name) + ": expected shape " + want + ", got " + shape_of(a));
}

ActivationMethod parse_method(const std::string& m) {
  if (m == "dijkstra") return ActivationMethod::kDijkstra;
  if (m == "eikonal") return ActivationMethod::kEikonal;
  throw py::value_error("method: expected 'dijkstra' or 'eikonal', got '" + m + "'");
}

std::unique_ptr<ActivationSolver> make_solver(const CArray<double>& points, const CArray<Index>& tets,
                                              const CArray<double>& fibres, const CArray<double>& sheets,
                                              const std::array<double, 3>& speeds,
                                              const std::optional<CArray<double>>& endo_speed, const std::string& method) {
  require(points, "points", {-1, 3});
  const py::ssize_t n = points.shape(0);
  require(tets, "tets", {-1, 4});
  require(fibres, "fibres", {n, 3});
  require(sheets, "sheets", {n, 3});
  if (endo_speed) require(*endo_speed, "endo_speed", {n});
  const ActivationMethod m = parse_method(method);
  const double* endo = endo_speed ? endo_speed->data() : nullptr;
  py::gil_scoped_release release;
  return std::make_unique<ActivationSolver>(points.data(), n, tets.data(), tets.shape(0), fibres.data(), sheets.data(),
                                            speeds, endo, m);
}

py::array_t<double> solve(const ActivationSolver& self, const CArray<Index>& roots,
                          const std::optional<CArray<double>>& root_times, const std::optional<CArray<double>>& speed_factor) {
  require(roots, "roots", {-1});
  if (root_times) require(*root_times, "root_times", {roots.shape(0)});
  if (speed_factor) require(*speed_factor, "speed_factor", {self.n_nodes()});
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

py::array_t<double> solve_batch(const ActivationSolver& self, const CArray<Index>& roots,
                                const std::optional<CArray<double>>& root_times, const CArray<double>& speed_factors,
                                int n_threads) {
  require(roots, "roots", {-1});
  if (root_times) require(*root_times, "root_times", {roots.shape(0)});
  require(speed_factors, "speed_factors", {-1, self.n_nodes()});
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
           "speeds (fibre, sheet, normal) m/s, endo_speed (N,) float64 m/s (finite > 0 = fast layer) or None, "
           "method 'dijkstra' or 'eikonal'.")
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
           "Activation times (N,) float64 ms from roots (R,) int64 with root_times (R,) ms (default 0) and "
           "speed_factor (N,) in (0, 1] (default 1); +inf where unreachable.")
      .def("solve_batch", &solve_batch, "roots"_a, "root_times"_a, "speed_factors"_a, "n_threads"_a = 0,
           "Activation times (K, N) float64 ms for speed_factors (K, N), in parallel over K with n_threads "
           "OpenMP threads (<= 0: all).");
}

}  // namespace mitwin::bindings
