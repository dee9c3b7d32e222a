// Bindings of the pseudo-ECG core: lead field and QRS synthesis.
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"
#include "leadfield.hpp"

namespace mitwin::bindings {

namespace {

using namespace pybind11::literals;

// Hands a heap-allocated container to numpy without copying it.
template <typename Container>
py::array_t<double> to_numpy(Container&& data, std::vector<py::ssize_t> shape) {
  auto* owned = new Container(std::move(data));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<Container*>(p); });
  return py::array_t<double>(shape, owned->data(), free_when_done);
}

void require(bool ok, const char* message) {
  if (!ok) throw py::value_error(message);
}

py::array_t<double> lead_field_py(const CArray<double>& points, const CArray<std::int64_t>& tets,
                                  const CArray<double>& electrodes, double scale, int n_threads) {
  require(points.ndim() == 2 && points.shape(1) == 3, "points: expected shape (n_points, 3)");
  require(tets.ndim() == 2 && tets.shape(1) == 4, "tets: expected shape (n_tets, 4)");
  require(electrodes.ndim() == 2 && electrodes.shape(1) == 3, "electrodes: expected shape (n_electrodes, 3)");
  const Index n_points = points.shape(0);
  const Index n_tets = tets.shape(0);
  const Index n_electrodes = electrodes.shape(0);
  const std::int64_t* t = tets.data();
  for (Index k = 0; k < 4 * n_tets; ++k)
    require(t[k] >= 0 && t[k] < n_points, "tets: indices must lie in [0, n_points)");
  const double* p = points.data();
  for (Index k = 0; k < 3 * n_points; ++k) require(std::isfinite(p[k]), "points: expected finite values");
  const double* e = electrodes.data();
  for (Index k = 0; k < 3 * n_electrodes; ++k) require(std::isfinite(e[k]), "electrodes: expected finite values");

  RowMatrixXd lead;
  {
    py::gil_scoped_release release;
    lead = lead_field(p, n_points, t, n_tets, e, n_electrodes, scale, n_threads);
  }
  return to_numpy(std::move(lead), {n_points, n_electrodes});
}

py::array_t<double> synthesize_qrs_py(const CArray<double>& lead, const CArray<double>& at, double t0,
                                      double dt, Index n_samples, const CArray<double>& template_values,
                                      Index template_first, const py::object& sos, const py::object& zi,
                                      int n_threads) {
  require(lead.ndim() == 2, "lead: expected shape (n_points, n_leads)");
  require(at.ndim() == 2 && at.shape(1) == lead.shape(0), "at: expected shape (n_maps, n_points)");
  require(template_values.ndim() == 1 && template_values.shape(0) > 0,
          "template_values: expected a non-empty 1-D array");
  require(std::isfinite(dt) && dt > 0.0, "dt: expected a finite value > 0");
  require(std::isfinite(t0), "t0: expected a finite value");
  require(n_samples >= 0, "n_samples: expected >= 0");
  const Index n_points = lead.shape(0);
  const Index n_leads = lead.shape(1);
  const Index n_maps = at.shape(0);
  const double* a = at.data();

  ZeroPhaseFilter filter;
  if (!sos.is_none()) {
    require(!zi.is_none(), "zi: expected the initial state of the sections with sos");
    const auto s = sos.cast<CArray<double>>();
    const auto z = zi.cast<CArray<double>>();
    require(s.ndim() == 2 && s.shape(1) == 6 && s.shape(0) > 0, "sos: expected shape (n_sections, 6)");
    require(z.ndim() == 2 && z.shape(1) == 2 && z.shape(0) == s.shape(0), "zi: expected shape (n_sections, 2)");
    for (py::ssize_t r = 0; r < s.shape(0); ++r) require(s.at(r, 3) == 1.0, "sos: expected a0 = 1 in every section");
    filter.sos.assign(s.data(), s.data() + s.size());
    filter.zi.assign(z.data(), z.data() + z.size());
  }
  SampledTemplate tmpl;
  tmpl.first = template_first;
  tmpl.values.assign(template_values.data(), template_values.data() + template_values.shape(0));
  std::vector<double> out;
  Index invalid = -1;
  {
    py::gil_scoped_release release;
    out = synthesize_qrs(lead.data(), n_points, n_leads, a, n_maps, t0, dt, n_samples, tmpl, filter, n_threads,
                         &invalid);
  }
  if (invalid >= 0)
    throw py::value_error("at: map " + std::to_string(invalid) + " has activation times that are NaN or before t0");
  return to_numpy(std::move(out), {n_maps, n_leads, n_samples});
}

py::tuple value_range_py(const CArray<double>& x, int n_threads) {
  double lo = 0.0, hi = 0.0;
  {
    py::gil_scoped_release release;
    value_range(x.data(), static_cast<Index>(x.size()), n_threads, &lo, &hi);
  }
  return py::make_tuple(lo, hi);
}

}  // namespace

void bind_leadfield(py::module_& m) {
  m.def("value_range", &value_range_py, "x"_a, "n_threads"_a = 0,
        "(min, max) of a float64 array of any shape (both NaN if any value is NaN; (inf, -inf) when empty), "
        "computed in parallel with the GIL released.");
  m.def("lead_field", &lead_field_py, "points"_a, "tets"_a, "electrodes"_a, "scale"_a = 1.0, "n_threads"_a = 0,
        R"doc(Pseudo-ECG lead field L, (n_points, n_electrodes) float64.

phi_e(t) = sum_j L[j, e] Vm_j(t) approximates scale * integral of -grad(Vm) . grad(1/r_e) dV over the
tets, grad(1/r) taken at each tet's centroid.

points: (n_points, 3) float64 mm; tets: (n_tets, 4) int64; electrodes: (n_electrodes, 3) float64 mm;
scale: the constant K; n_threads <= 0 uses all OpenMP threads.)doc");
  m.def("synthesize_qrs", &synthesize_qrs_py, "lead"_a, "at"_a, "t0"_a, "dt"_a, "n_samples"_a, "template_values"_a,
        "template_first"_a, "sos"_a = py::none(), "zi"_a = py::none(), "n_threads"_a = 0,
        R"doc(Signals sum_j lead[j, :] * s(t_i - at[k, j]) at t_i = i * dt, (n_maps, n_leads, n_samples) float64,
t_i = t0 + i * dt.

lead: (n_points, n_leads) float64; at: (n_maps, n_points) float64 ms, finite, >= t0; t0, dt: ms;
template_values: (W,) float64, s(m * dt) for m = template_first .. template_first + W - 1 (0 before,
the last value after). Each node's template is linearly interpolated in AT between samples.
sos: (n_sections, 6) float64 with zi: (n_sections, 2), optional: a zero-phase filter applied to each signal
(forwards and backwards, each pass started in the steady state of its first sample).
Parallel over the maps (n_threads <= 0: all OpenMP threads), GIL released.)doc");
}

}  // namespace mitwin::bindings
