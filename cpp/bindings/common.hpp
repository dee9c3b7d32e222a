// Shared boundary checks for the pybind11 bindings of mitwin._core.
//
// Every binder converts and validates its arguments with these helpers before any work starts, so
// that mitwin._core called directly (without the Python wrappers) still rejects bad input with a
// ValueError naming the argument, what was expected and what came:
//  * arrays: dtype kind (no booleans, complex numbers, objects or strings; no floats as indices),
//    shape, finiteness, magnitude of coordinates, index ranges;
//  * counts and sizes (thread counts, sample counts, lengths, bands): Python integers checked in
//    64-bit range first, then against their bounds;
//  * allocations: the bytes an output (or a work buffer) needs are computed with saturating
//    arithmetic and compared with a limit before anything is allocated.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "types.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace py = pybind11;

namespace mitwin::bindings {

// Read-only, C-contiguous views; forcecast converts other (accepted) dtypes once at the boundary.
template <typename T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// Largest |coordinate| accepted for points and electrodes, mm (a heart is ~100 mm; beyond this the
// geometry overflows or loses all precision in squared distances).
constexpr double kMaxCoordinate = 1e6;

// Same bound as mitwin._validate.MAX_THREADS and mitwin::kMaxThreads.
constexpr std::int64_t kMaxThreadCount = kMaxThreads;

[[noreturn]] inline void fail(const std::string& message) { throw py::value_error(message); }

// A double for a message: "%.6g".
inline std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

inline std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) s += std::to_string(a.shape(d)) + (d + 1 < a.ndim() ? ", " : "");
  return s + (a.ndim() == 1 ? ",)" : ")");
}

inline std::string describe(const py::array& a) {
  return "shape " + shape_of(a) + " dtype " + std::string(py::str(a.dtype()));
}

// The array `obj` as C-contiguous T, rejecting dtypes that a cast would reinterpret: booleans
// (a mask read as 0/1), complex numbers (the imaginary part dropped), objects, strings, dates;
// and, for integer T, floating-point arrays (indices truncated).
template <typename T>
CArray<T> as_array(const py::handle& obj, const char* name) {
  py::array raw = py::array::ensure(obj);
  if (!raw) fail(std::string(name) + ": expected an array, got " + std::string(py::str(py::type::of(obj))));
  const char kind = raw.dtype().kind();
  const bool numeric = kind == 'i' || kind == 'u' || (kind == 'f' && std::is_floating_point_v<T>);
  if (!numeric) {
    fail(std::string(name) + ": expected " + (std::is_floating_point_v<T> ? "a real (float or integer)" : "an integer") +
         " array, got " + describe(raw));
  }
  return CArray<T>::ensure(raw);
}

// Shape check; -1 in `shape` means any length.
inline void require_shape(const py::array& a, const char* name, std::initializer_list<py::ssize_t> shape) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  py::ssize_t d = 0;
  std::string want = "(";
  for (py::ssize_t s : shape) {
    if (ok && s >= 0 && a.shape(d) != s) ok = false;
    want += (s < 0 ? std::string("N") : std::to_string(s)) + (d + 1 < static_cast<py::ssize_t>(shape.size()) ? ", " : "");
    ++d;
  }
  want += shape.size() == 1 ? ",)" : ")";
  if (!ok) fail(std::string(name) + ": expected shape " + want + ", got " + shape_of(a));
}

// Every value finite (and, with max_abs > 0, |value| <= max_abs).
inline void require_finite(const CArray<double>& a, const char* name, double max_abs = 0.0) {
  const double* p = a.data();
  const py::ssize_t n = a.size();
  for (py::ssize_t k = 0; k < n; ++k) {
    if (!std::isfinite(p[k])) fail(std::string(name) + ": expected finite values, got " + num(p[k]));
    if (max_abs > 0.0 && std::abs(p[k]) > max_abs) {
      fail(std::string(name) + ": expected coordinates within +-" + num(max_abs) + " mm, got " + num(p[k]));
    }
  }
}

// Every index in [0, upper).
inline void require_indices(const CArray<Index>& a, const char* name, Index upper) {
  const Index* p = a.data();
  const py::ssize_t n = a.size();
  for (py::ssize_t k = 0; k < n; ++k) {
    if (p[k] < 0 || p[k] >= upper) {
      fail(std::string(name) + ": indices must lie in [0, " + std::to_string(upper) + "), got " + std::to_string(p[k]));
    }
  }
}

// Tets (M, 4) int64 over n_points nodes: indices in range, four distinct nodes per tet, no tet
// listed twice (in any vertex order).
inline void require_tets(const CArray<Index>& tets, Index n_points, const char* name = "tets") {
  require_shape(tets, name, {-1, 4});
  if (tets.shape(0) < 1) fail(std::string(name) + ": expected at least one tetrahedron, got shape " + shape_of(tets));
  require_indices(tets, name, n_points);
  const Index m = tets.shape(0);
  const Index* p = tets.data();
  auto sorted_row = [p](Index t) {
    std::array<Index, 4> r = {p[4 * t], p[4 * t + 1], p[4 * t + 2], p[4 * t + 3]};
    std::sort(r.begin(), r.end());
    return r;
  };
  // each sorted row hashed to 64 bits; rows are compared only where two hashes are equal
  std::vector<std::pair<std::uint64_t, Index>> keys(static_cast<std::size_t>(m));
  for (Index t = 0; t < m; ++t) {
    const std::array<Index, 4> r = sorted_row(t);
    if (r[0] == r[1] || r[1] == r[2] || r[2] == r[3]) {
      fail(std::string(name) + ": tet " + std::to_string(t) + " repeats node " +
           std::to_string(r[0] == r[1] ? r[1] : (r[1] == r[2] ? r[2] : r[3])) + " (degenerate)");
    }
    std::uint64_t h = static_cast<std::uint64_t>(r[0]) * 0x9E3779B97F4A7C15ull;
    for (int k = 1; k < 4; ++k) h = (h ^ static_cast<std::uint64_t>(r[static_cast<std::size_t>(k)])) * 0xBF58476D1CE4E5B9ull;
    keys[static_cast<std::size_t>(t)] = {h, t};
  }
  std::sort(keys.begin(), keys.end());
  for (std::size_t k = 1; k < keys.size(); ++k) {
    if (keys[k].first != keys[k - 1].first) continue;
    const std::array<Index, 4> a = sorted_row(keys[k - 1].second);
    if (a == sorted_row(keys[k].second)) {
      fail(std::string(name) + ": tets " + std::to_string(keys[k - 1].second) + " and " +
           std::to_string(keys[k].second) + " have the same nodes (" + std::to_string(a[0]) + ", " +
           std::to_string(a[1]) + ", " + std::to_string(a[2]) + ", " + std::to_string(a[3]) + ") (a duplicate)");
    }
  }
}

// A Python integer (or numpy integer; not a bool, not a float) in [lo, hi].
inline Index integer_arg(const py::handle& obj, const char* name, Index lo, Index hi) {
  const std::string want = std::string(name) + ": expected an integer in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "], got ";
  if (PyBool_Check(obj.ptr())) fail(want + "a bool");
  PyObject* as_int = PyNumber_Index(obj.ptr());
  if (as_int == nullptr) {
    PyErr_Clear();
    fail(want + std::string(py::str(py::repr(obj))));
  }
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(as_int, &overflow);
  Py_DECREF(as_int);
  if (overflow != 0 || v < lo || v > hi) fail(want + std::string(py::str(py::repr(obj))));
  return static_cast<Index>(v);
}

// Thread count: None = every core (capped), else an integer in [1, 1024].
inline int thread_count(const py::handle& obj, const char* name = "n_threads") {
  if (obj.is_none()) return 0;  // resolve_threads(0): all cores, capped at kMaxThreads
  return static_cast<int>(integer_arg(obj, name, 1, kMaxThreadCount));
}

// a * b, saturating at INT64_MAX (a, b >= 0).
inline Index mul_sat(Index a, Index b) {
  if (a <= 0 || b <= 0) return 0;
  return a > std::numeric_limits<Index>::max() / b ? std::numeric_limits<Index>::max() : a * b;
}

inline Index add_sat(Index a, Index b) {
  return a > std::numeric_limits<Index>::max() - b ? std::numeric_limits<Index>::max() : a + b;
}

// Bytes any single call may allocate: half the physical memory, at most 64 GiB (8 GiB when the
// memory size is unknown).
inline Index allocation_limit() {
  Index limit = Index{8} << 30;
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) limit = mul_sat(static_cast<Index>(pages), static_cast<Index>(page)) / 2;
#endif
  return std::min<Index>(limit, Index{64} << 30);
}

inline std::string gib(Index bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g GiB", static_cast<double>(bytes) / static_cast<double>(Index{1} << 30));
  return buf;
}

// Fails (naming `name` and `what`) when `bytes` exceed allocation_limit().
inline void require_allocation(Index bytes, const char* name, const std::string& what) {
  const Index limit = allocation_limit();
  if (bytes > limit) {
    fail(std::string(name) + ": " + what + " would need " + gib(bytes) + ", more than the " + gib(limit) +
         " one call may allocate here");
  }
}

void bind_activation(py::module_& m);
void bind_leadfield(py::module_& m);
void bind_dtw(py::module_& m);

}  // namespace mitwin::bindings
