// The compiled module mitwin._core. Each bind_*.cpp registers one part of the core.
#include "common.hpp"

namespace {

bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "mitwin's C++ core: activation solver, lead field and QRS synthesis, DTW.";
  m.def("openmp_enabled", &openmp_enabled, "True when the core was built with OpenMP.");
  mitwin::bindings::bind_activation(m);
  mitwin::bindings::bind_leadfield(m);
  mitwin::bindings::bind_dtw(m);
}
