// Array types shared by the mitwin C++ core and its bindings.
// Everything crossing the Python boundary is double / int64, row-major, C-contiguous.
#pragma once

#include <cstdint>

#include <Eigen/Core>

namespace mitwin {

using Index = std::int64_t;

using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixXi = Eigen::Matrix<Index, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixX3d = Eigen::Matrix<double, Eigen::Dynamic, 3, Eigen::RowMajor>;
using RowMatrixX4i = Eigen::Matrix<Index, Eigen::Dynamic, 4, Eigen::RowMajor>;
using VectorXd = Eigen::VectorXd;
using VectorXi = Eigen::Matrix<Index, Eigen::Dynamic, 1>;

// Largest thread count the core uses (mitwin._validate.MAX_THREADS is the same bound).
constexpr int kMaxThreads = 1024;

// Number of OpenMP threads to use: n_threads <= 0 means "all available"; the result lies in
// [1, kMaxThreads] whatever is asked.
int resolve_threads(int n_threads);

}  // namespace mitwin
