// Placeholder; the bindings land with their issue.
#include "common.hpp"

namespace mitwin::bindings {

void bind_activation(py::module_& /*m*/) {}

}  // namespace mitwin::bindings
