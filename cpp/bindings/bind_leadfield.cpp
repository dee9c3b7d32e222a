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

// Sizes the synthesis accepts: sample counts and the template offset within +-2^40 (their sums and
// differences stay far from overflow); the allocation is bounded separately.
constexpr Index kMaxSamples = Index{1} << 40;

py::array_t<double> lead_field_py(const py::handle& points_obj, const py::handle& tets_obj,
                                  const py::handle& electrodes_obj, double scale, const py::handle& n_threads_obj) {
  const int n_threads = thread_count(n_threads_obj);
  const CArray<double> points = as_array<double>(points_obj, "points");
  require_shape(points, "points", {-1, 3});
  if (points.shape(0) < 1) fail("points: expected at least one point, got shape " + shape_of(points));
  require_finite(points, "points", kMaxCoordinate);
  const CArray<Index> tets = as_array<Index>(tets_obj, "tets");
  require_tets(tets, points.shape(0));
  const CArray<double> electrodes = as_array<double>(electrodes_obj, "electrodes");
  require_shape(electrodes, "electrodes", {-1, 3});
  require_finite(electrodes, "electrodes", kMaxCoordinate);
  if (!std::isfinite(scale)) fail("scale: expected a finite constant, got " + num(scale));
  const Index n_points = points.shape(0);
  const Index n_tets = tets.shape(0);
  const Index n_electrodes = electrodes.shape(0);
  // the result plus the node -> tet incidence (two int64 arrays of about 4 n_tets)
  require_allocation(add_sat(mul_sat(mul_sat(n_points, n_electrodes), 8), mul_sat(n_tets, 80)), "electrodes",
                     "the (n_points, n_electrodes) lead field");

  RowMatrixXd lead;
  {
    py::gil_scoped_release release;
    lead = lead_field(points.data(), n_points, tets.data(), n_tets, electrodes.data(), n_electrodes, scale,
                      n_threads);
  }
  return to_numpy(std::move(lead), {n_points, n_electrodes});
}

py::array_t<double> synthesize_qrs_py(const py::handle& lead_obj, const py::handle& at_obj, double t0, double dt,
                                      const py::handle& n_samples_obj, const py::handle& template_obj,
                                      const py::handle& template_first_obj, const py::object& sos,
                                      const py::object& zi, const py::handle& n_threads_obj) {
  const int n_threads = thread_count(n_threads_obj);
  const CArray<double> lead = as_array<double>(lead_obj, "lead");
  require_shape(lead, "lead", {-1, -1});
  require_finite(lead, "lead");
  const CArray<double> at = as_array<double>(at_obj, "at");
  require_shape(at, "at", {-1, lead.shape(0)});
  const CArray<double> template_values = as_array<double>(template_obj, "template_values");
  require_shape(template_values, "template_values", {-1});
  if (template_values.shape(0) < 1) fail("template_values: expected a non-empty 1-D array, got shape (0,)");
  require_finite(template_values, "template_values");
  if (!(std::isfinite(dt) && dt > 0.0)) fail("dt: expected a finite value > 0 ms, got " + num(dt));
  if (!std::isfinite(t0)) fail("t0: expected a finite value, got " + num(t0));
  const Index n_samples = integer_arg(n_samples_obj, "n_samples", 0, kMaxSamples);
  const Index template_first = integer_arg(template_first_obj, "template_first", -kMaxSamples, kMaxSamples);
  const Index n_points = lead.shape(0);
  const Index n_leads = lead.shape(1);
  const Index n_maps = at.shape(0);
  const Index doubles =
      synthesize_qrs_doubles(n_points, n_leads, n_maps, n_samples, template_first, template_values.shape(0), n_threads);
  require_allocation(mul_sat(doubles, 8), "n_samples",
                     std::to_string(n_samples) + " samples of " + std::to_string(n_leads) + " leads for " +
                         std::to_string(n_maps) + " maps");

  ZeroPhaseFilter filter;
  if (!sos.is_none()) {
    if (zi.is_none()) fail("zi: expected the initial state of the sections with sos, got None");
    const CArray<double> s = as_array<double>(sos, "sos");
    const CArray<double> z = as_array<double>(zi, "zi");
    require_shape(s, "sos", {-1, 6});
    if (s.shape(0) < 1) fail("sos: expected at least one section, got shape " + shape_of(s));
    require_shape(z, "zi", {s.shape(0), 2});
    require_finite(s, "sos");
    require_finite(z, "zi");
    for (py::ssize_t r = 0; r < s.shape(0); ++r) {
      if (s.at(r, 3) != 1.0) fail("sos: expected a0 = 1 in every section, got " + num(s.at(r, 3)));
    }
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
    out = synthesize_qrs(lead.data(), n_points, n_leads, at.data(), n_maps, t0, dt, n_samples, tmpl, filter,
                         n_threads, &invalid);
  }
  if (invalid >= 0) {
    fail("at: map " + std::to_string(invalid) + " has activation times that are NaN or before t0 (+inf = never "
         "activates is allowed)");
  }
  return to_numpy(std::move(out), {n_maps, n_leads, n_samples});
}

py::tuple value_range_py(const py::handle& x_obj, const py::handle& n_threads_obj, bool skip_inf) {
  const int n_threads = thread_count(n_threads_obj);
  const CArray<double> x = as_array<double>(x_obj, "x");
  double lo = 0.0, hi = 0.0;
  {
    py::gil_scoped_release release;
    value_range(x.data(), static_cast<Index>(x.size()), n_threads, &lo, &hi, skip_inf);
  }
  return py::make_tuple(lo, hi);
}

}  // namespace

void bind_leadfield(py::module_& m) {
  m.def("value_range", &value_range_py, "x"_a, "n_threads"_a = py::none(), "skip_inf"_a = false,
        "(min, max) of a float64 array of any shape (both NaN if any value is NaN; (inf, -inf) when empty), "
        "computed in parallel with the GIL released. skip_inf: leave +inf values (never activating) out.");
  m.def("lead_field", &lead_field_py, "points"_a, "tets"_a, "electrodes"_a, "scale"_a = 1.0, "n_threads"_a = py::none(),
        R"doc(Pseudo-ECG lead field L, (n_points, n_electrodes) float64.

phi_e(t) = sum_j L[j, e] Vm_j(t) approximates scale * integral of -grad(Vm) . grad(1/r_e) dV over the
tets, grad(1/r) taken at each tet's centroid.

points: (n_points, 3) float64 mm; tets: (n_tets, 4) int64; electrodes: (n_electrodes, 3) float64 mm;
scale: the constant K; n_threads in [1, 1024] or None (all OpenMP threads). Coordinates finite, within +-1e6 mm;
tets distinct, each of four distinct nodes.)doc");
  m.def("synthesize_qrs", &synthesize_qrs_py, "lead"_a, "at"_a, "t0"_a, "dt"_a, "n_samples"_a, "template_values"_a,
        "template_first"_a, "sos"_a = py::none(), "zi"_a = py::none(), "n_threads"_a = py::none(),
        R"doc(Signals sum_j lead[j, :] * s(t_i - at[k, j]) at t_i = i * dt, (n_maps, n_leads, n_samples) float64,
t_i = t0 + i * dt.

lead: (n_points, n_leads) float64; at: (n_maps, n_points) float64 ms, >= t0, +inf for nodes that never
activate (no contribution); t0, dt: ms; n_samples in [0, 2^40] (the memory it needs is checked first);
template_values: (W,) float64, s(m * dt) for m = template_first .. template_first + W - 1 (0 before,
the last value after). Each node's template is linearly interpolated in AT between samples.
sos: (n_sections, 6) float64 with zi: (n_sections, 2), optional: a zero-phase filter applied to each signal
(forwards and backwards, each pass started in the steady state of its first sample).
Parallel over the maps (n_threads in [1, 1024] or None: all OpenMP threads), GIL released.)doc");
}

}  // namespace mitwin::bindings
