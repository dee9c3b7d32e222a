// Bindings of the DTW core: thin conversion, shape checks, GIL released around the work.
#include <cstdint>
#include <string>

#include "common.hpp"
#include "dtw.hpp"

namespace mitwin::bindings {

namespace {

using mitwin::DtwCost;
using mitwin::DtwOptions;
using mitwin::Index;

DtwOptions make_options(Index band, const std::string& cost, bool normalize, double penalty) {
  DtwOptions opt;
  if (cost == "squared") {
    opt.cost = DtwCost::Squared;
  } else if (cost == "absolute") {
    opt.cost = DtwCost::Absolute;
  } else {
    throw py::value_error("cost: expected 'squared' or 'absolute', got '" + cost + "'");
  }
  if (!(penalty >= 0.0)) throw py::value_error("penalty: expected a finite value >= 0");
  opt.band = band;
  opt.normalize = normalize;
  opt.penalty = penalty;
  return opt;
}

void check_length(Index len, Index n_samples, const char* name) {
  if (len < 1 || len > n_samples) {
    throw py::value_error(std::string(name) + ": expected a length in [1, " + std::to_string(n_samples) +
                          "], got " + std::to_string(len));
  }
}

py::array_t<double> leads(const CArray<double>& a, Index len_a, const CArray<double>& b, Index len_b, Index band,
                          const std::string& cost, bool normalize, double penalty) {
  const DtwOptions opt = make_options(band, cost, normalize, penalty);
  if (a.ndim() != 2 || b.ndim() != 2 || a.shape(0) != b.shape(0)) {
    throw py::value_error("a, b: expected (n_leads, n_samples) arrays with the same number of leads");
  }
  check_length(len_a, a.shape(1), "len_a");
  check_length(len_b, b.shape(1), "len_b");
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

void check_batch(const CArray<double>& signals, const CArray<std::int64_t>& lengths) {
  if (signals.ndim() != 3) throw py::value_error("signals: expected shape (n_signals, n_leads, n_samples)");
  if (lengths.ndim() != 1 || lengths.shape(0) != signals.shape(0)) {
    throw py::value_error("lengths: expected shape (n_signals,)");
  }
  const auto* pl = lengths.data();
  for (py::ssize_t s = 0; s < lengths.shape(0); ++s) check_length(pl[s], signals.shape(2), "lengths");
}

py::array_t<double> all_pairs(const CArray<double>& signals, const CArray<std::int64_t>& lengths, Index band,
                              const std::string& cost, bool normalize, double penalty, int n_threads) {
  const DtwOptions opt = make_options(band, cost, normalize, penalty);
  check_batch(signals, lengths);
  const Index n_signals = signals.shape(0);
  const Index n_leads = signals.shape(1);
  const Index n_samples = signals.shape(2);
  py::array_t<double> out({n_signals, n_signals, n_leads});
  const double* ps = signals.data();
  const auto* pl = reinterpret_cast<const Index*>(lengths.data());
  double* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    mitwin::dtw_all_pairs(ps, n_signals, n_leads, n_samples, pl, opt, n_threads, po);
  }
  return out;
}

py::array_t<double> one_to_many(const CArray<double>& reference, Index ref_length, const CArray<double>& signals,
                                const CArray<std::int64_t>& lengths, Index band, const std::string& cost,
                                bool normalize, double penalty, int n_threads) {
  const DtwOptions opt = make_options(band, cost, normalize, penalty);
  check_batch(signals, lengths);
  if (reference.ndim() != 2 || reference.shape(0) != signals.shape(1)) {
    throw py::value_error("reference: expected shape (n_leads, n_samples) with the leads of signals");
  }
  check_length(ref_length, reference.shape(1), "ref_length");
  const Index n_signals = signals.shape(0);
  const Index n_leads = signals.shape(1);
  const Index n_samples = signals.shape(2);
  py::array_t<double> out({n_signals, n_leads});
  const double* pr = reference.data();
  const Index ref_stride = reference.shape(1);
  const double* ps = signals.data();
  const auto* pl = reinterpret_cast<const Index*>(lengths.data());
  double* po = out.mutable_data();
  {
    py::gil_scoped_release release;
    mitwin::dtw_one_to_many(pr, ref_stride, ref_length, ps, n_signals, n_leads, n_samples, pl, opt, n_threads, po);
  }
  return out;
}

}  // namespace

void bind_dtw(py::module_& m) {
  using namespace pybind11::literals;
  m.def("dtw_leads", &leads, "a"_a, "len_a"_a, "b"_a, "len_b"_a, "band"_a = -1, "cost"_a = "squared",
        "normalize"_a = true, "penalty"_a = 0.0,
        "Per-lead DTW of a (n_leads, Ta) float64 (first len_a samples) and b (n_leads, Tb) float64 "
        "(first len_b samples) -> (n_leads,) float64. band < 0: no Sakoe-Chiba band.");
  m.def("dtw_all_pairs", &all_pairs, "signals"_a, "lengths"_a, "band"_a = -1, "cost"_a = "squared",
        "normalize"_a = true, "penalty"_a = 0.0, "n_threads"_a = 0,
        "All-pairs DTW of signals (S, n_leads, T) float64 with valid lengths (S,) int64 -> "
        "(S, S, n_leads) float64, symmetric, zero diagonal. n_threads <= 0: all cores.");
  m.def("dtw_one_to_many", &one_to_many, "reference"_a, "ref_length"_a, "signals"_a, "lengths"_a, "band"_a = -1,
        "cost"_a = "squared", "normalize"_a = true, "penalty"_a = 0.0, "n_threads"_a = 0,
        "DTW of reference (n_leads, T0) float64 (first ref_length samples) to each of signals "
        "(S, n_leads, T) float64 with lengths (S,) int64 -> (S, n_leads) float64.");
}

}  // namespace mitwin::bindings
