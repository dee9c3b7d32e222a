// Dynamic time warping (DTW) between multi-lead signals of different lengths.
//
// For two single-lead sequences a (n samples) and b (m samples) the accumulated cost is
//
//   C(i, j) = c(a_i, b_j) + min(C(i-1, j), C(i, j-1), C(i-1, j-1)),   C(-1, -1) = 0,
//
// with the local cost c = (a_i - b_j)^2 ("squared") or |a_i - b_j| ("absolute"): the symmetric
// step pattern without slope weights, as in dtaidistance and tslearn. A Sakoe-Chiba band of radius
// r >= 0 adapted to unequal lengths keeps the cells with
//
//   -r - max(0, n - m) <= j - i <= r + max(0, m - n),
//
// i.e. the strip between the two diagonals j = i and j = i + (m - n), widened by r on both sides
// (tslearn's sakoe_chiba_radius = r, dtaidistance's window = r + 1); r < 0 means no band. The strip
// always holds a path from (0, 0) to (n - 1, m - 1), so any r >= 0 is feasible; r >= max(n, m)
// keeps every cell (the same as no band), and larger radii are treated as that.
//
// The distance of one lead is
//
//   d = sqrt(C(n-1, m-1) / z)   (squared cost)      d = C(n-1, m-1) / z   (absolute cost)
//   z = n + m when normalised (Camps et al. 2021), else 1,
//
// plus the duration penalty of Camps et al. 2021, Med. Image Anal. 73:102143,
//
//   d += w * (n - m)^2 / min(n, m).
//
// Only two rows of C are kept, each of min(n, m) + 1 entries. Nothing here touches Python.
#pragma once

#include <vector>

#include "types.hpp"

namespace mitwin {

enum class DtwCost { Squared, Absolute };

struct DtwOptions {
  DtwCost cost = DtwCost::Squared;
  Index band = -1;         // Sakoe-Chiba radius in samples; < 0: no band
  bool normalize = true;   // divide the accumulated cost by n + m
  double penalty = 0.0;    // weight w of (n - m)^2 / min(n, m)
};

// DTW distance of two single-lead sequences; work is resized as needed (reuse it across calls).
double dtw_distance(const double* a, Index n, const double* b, Index m, const DtwOptions& opt,
                    std::vector<double>& work);

// Per-lead DTW of two multi-lead signals stored row-major: a (n_leads, stride_a) with the first
// len_a samples valid, b likewise; out has n_leads entries.
void dtw_leads(const double* a, Index stride_a, Index len_a, const double* b, Index stride_b, Index len_b,
               Index n_leads, const DtwOptions& opt, double* out);

// All pairs of S signals (S, n_leads, T) row-major with valid lengths (S,): out (S, S, n_leads),
// symmetric with a zero diagonal; each unordered pair is computed once, pairs in parallel.
void dtw_all_pairs(const double* signals, Index n_signals, Index n_leads, Index n_samples, const Index* lengths,
                   const DtwOptions& opt, int n_threads, double* out);

// One reference (n_leads, ref_stride) with ref_len valid samples against S signals (S, n_leads, T):
// out (S, n_leads); (signal, lead) items in parallel.
void dtw_one_to_many(const double* reference, Index ref_stride, Index ref_len, const double* signals,
                     Index n_signals, Index n_leads, Index n_samples, const Index* lengths, const DtwOptions& opt,
                     int n_threads, double* out);

}  // namespace mitwin
