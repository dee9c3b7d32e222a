// Shared helpers for the pybind11 bindings of mitwin._core.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace mitwin::bindings {

// Read-only, C-contiguous views; forcecast converts other dtypes once at the boundary.
template <typename T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

void bind_activation(py::module_& m);
void bind_leadfield(py::module_& m);
void bind_dtw(py::module_& m);

}  // namespace mitwin::bindings
