// Placeholder; the bindings land with their issue.
#include "common.hpp"

namespace mitwin::bindings {

void bind_dtw(py::module_& /*m*/) {}

}  // namespace mitwin::bindings
