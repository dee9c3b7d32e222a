// Bindings of the DTW core: thin conversion, shape checks, GIL released around the work.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "common.hpp"
#include "dtw.hpp"

namespace mitwin::bindings {

namespace {

using mitwin::DtwCost;
using mitwin::DtwOptions;
using mitwin::Index;

// band: None or a negative integer = no band; any radius at or beyond the longest signal keeps
// every cell, so radii saturate at INT64_MAX instead of overflowing (Python ints of any size).
Index band_arg(const py::handle& obj) {
  if (obj.is_none()) return -1;
  if (PyBool_Check(obj.ptr())) fail("band: expected None or an integer radius (samples), got a bool");
  PyObject* as_int = PyNumber_Index(obj.ptr());
  if (as_int == nullptr) {
    PyErr_Clear();
    fail("band: expected None or an integer radius (samples), got " + std::string(py::str(py::repr(obj))));
  }
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(as_int, &overflow);
  Py_DECREF(as_int);
  if (overflow > 0) return std::numeric_limits<Index>::max();
  if (overflow < 0 || v < 0) return -1;
  return static_cast<Index>(v);
}

DtwOptions make_options(const py::handle& band, const std::string& cost, bool normalize, double penalty) {
  DtwOptions opt;
  if (cost == "squared") {
    opt.cost = DtwCost::Squared;
  } else if (cost == "absolute") {
    opt.cost = DtwCost::Absolute;
  } else {
    fail("cost: expected 'squared' or 'absolute', got '" + cost + "'");
  }
  if (!(penalty >= 0.0 && std::isfinite(penalty))) fail("penalty: expected a finite value >= 0, got " + num(penalty));
  opt.band = band_arg(band);
  opt.normalize = normalize;
  opt.penalty = penalty;
  return opt;
}

// A signal batch (n_signals, n_leads, n_samples) float64, finite, with lengths (n_signals,) int64 in
// [1, n_samples] (an empty batch is fine).
void check_batch(const CArray<double>& signals, const CArray<Index>& lengths) {
  require_shape(signals, "signals", {-1, -1, -1});
  require_shape(lengths, "lengths", {signals.shape(0)});
  require_finite(signals, "signals");
  const Index* pl = lengths.data();
  for (py::ssize_t s = 0; s < lengths.shape(0); ++s) {
    if (pl[s] < 1 || pl[s] > signals.shape(2)) {
      fail("lengths: expected lengths in [1, " + std::to_string(signals.shape(2)) + "], got " + std::to_string(pl[s]));
    }
  }
}

CArray<double> signal_arg(const py::handle& obj, const char* name) {
  CArray<double> a = as_array<double>(obj, name);
  require_shape(a, name, {-1, -1});
  if (a.shape(0) < 1 || a.shape(1) < 1) fail(std::string(name) + ": expected at least one lead and one sample, got shape " + shape_of(a));
  require_finite(a, name);
  return a;
}

py::array_t<double> leads(const py::handle& a_obj, const py::handle& len_a_obj, const py::handle& b_obj,
                          const py::handle& len_b_obj, const py::handle& band, const std::string& cost,
                          bool normalize, double penalty) {
  const DtwOptions opt = make_options(band, cost, normalize, penalty);
  const CArray<double> a = signal_arg(a_obj, "a");
  const CArray<double> b = signal_arg(b_obj, "b");
  require_shape(b, "b", {a.shape(0), -1});
  const Index len_a = integer_arg(len_a_obj, "len_a", 1, a.shape(1));
  const Index len_b = integer_arg(len_b_obj, "len_b", 1, b.shape(1));
  const Index n_leads = a.shape(0);
  py::array_t<double> out(n_leads);
  const double* pa = a.data();
  const double* pb = b.data();
  double* po = out.mutable_data();
  const Index sa = a.shape(1);
  const Index sb = b.shape(1);
  {
    py::gil_scoped_release release;
    mitwin::dtw_leads(pa, sa, len_a, pb, sb, len_b, n_leads, opt, po);
  }
  return out;
}

py::array_t<double> all_pairs(const py::handle& signals_obj, const py::handle& lengths_obj, const py::handle& band,
                              const std::string& cost, bool normalize, double penalty, const py::handle& n_threads) {
  const DtwOptions opt = make_options(band, cost, normalize, penalty);
  const int threads = thread_count(n_threads);
  const CArray<double> signals = as_array<double>(signals_obj, "signals");
  const CArray<Index> lengths = as_array<Index>(lengths_obj, "lengths");
  check_batch(signals, lengths);
  const Index n_signals = signals.shape(0);
  const Index n_leads = signals.shape(1);
  const Index n_samples = signals.shape(2);
  require_allocation(mul_sat(mul_sat(n_signals, n_signals), mul_sat(n_leads, 8)), "signals",
                     "the (n_signals, n_signals, n_leads) result");
  py::array_t<double> out({n_signals, n_signals, n_leads});
  const double* ps = signals.data();
  const Index* pl = lengths.data();
  double* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    mitwin::dtw_all_pairs(ps, n_signals, n_leads, n_samples, pl, opt, threads, po);
  }
  return out;
}

py::array_t<double> one_to_many(const py::handle& reference_obj, const py::handle& ref_length_obj,
                                const py::handle& signals_obj, const py::handle& lengths_obj, const py::handle& band,
                                const std::string& cost, bool normalize, double penalty, const py::handle& n_threads) {
  const DtwOptions opt = make_options(band, cost, normalize, penalty);
  const int threads = thread_count(n_threads);
  const CArray<double> signals = as_array<double>(signals_obj, "signals");
  const CArray<Index> lengths = as_array<Index>(lengths_obj, "lengths");
  check_batch(signals, lengths);
  const CArray<double> reference = signal_arg(reference_obj, "reference");
  require_shape(reference, "reference", {signals.shape(1), -1});
  const Index ref_length = integer_arg(ref_length_obj, "ref_length", 1, reference.shape(1));
  const Index n_signals = signals.shape(0);
  const Index n_leads = signals.shape(1);
  const Index n_samples = signals.shape(2);
  py::array_t<double> out({n_signals, n_leads});
  const double* pr = reference.data();
  const Index ref_stride = reference.shape(1);
  const double* ps = signals.data();
  const Index* pl = lengths.data();
  double* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    mitwin::dtw_one_to_many(pr, ref_stride, ref_length, ps, n_signals, n_leads, n_samples, pl, opt, threads, po);
  }
  return out;
}

}  // namespace

void bind_dtw(py::module_& m) {
  using namespace pybind11::literals;
  m.def("dtw_leads", &leads, "a"_a, "len_a"_a, "b"_a, "len_b"_a, "band"_a = py::none(), "cost"_a = "squared",
        "normalize"_a = true, "penalty"_a = 0.0,
        "Per-lead DTW of a (n_leads, Ta) float64 (first len_a samples) and b (n_leads, Tb) float64 "
        "(first len_b samples) -> (n_leads,) float64. band None or < 0: no Sakoe-Chiba band (radii beyond the longest signal keep every cell). Signals finite.");
  m.def("dtw_all_pairs", &all_pairs, "signals"_a, "lengths"_a, "band"_a = py::none(), "cost"_a = "squared",
        "normalize"_a = true, "penalty"_a = 0.0, "n_threads"_a = py::none(),
        "All-pairs DTW of signals (S, n_leads, T) float64 with valid lengths (S,) int64 -> "
        "(S, S, n_leads) float64, symmetric, zero diagonal. n_threads in [1, 1024] or None (all cores).");
  m.def("dtw_one_to_many", &one_to_many, "reference"_a, "ref_length"_a, "signals"_a, "lengths"_a, "band"_a = py::none(),
        "cost"_a = "squared", "normalize"_a = true, "penalty"_a = 0.0, "n_threads"_a = py::none(),
        "DTW of reference (n_leads, T0) float64 (first ref_length samples) to each of signals "
        "(S, n_leads, T) float64 with lengths (S,) int64 -> (S, n_leads) float64.");
}

}  // namespace mitwin::bindings
