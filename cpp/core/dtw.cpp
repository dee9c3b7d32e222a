#include "dtw.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mitwin {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

inline double local_cost(double x, double y, DtwCost cost) {
  const double d = x - y;
  return cost == DtwCost::Squared ? d * d : std::abs(d);
}

// Accumulated cost C(n-1, m-1) with rows over the longer sequence and columns over the shorter
// one (m <= n), in two rolling buffers of m + 1 entries; entry k holds column j = k - 1.
double accumulated_cost(const double* a, Index n, const double* b, Index m, const DtwOptions& opt,
                        std::vector<double>& work) {
  const auto width = static_cast<std::size_t>(m + 1);
  work.assign(2 * width, kInf);
  double* prev = work.data();
  double* cur = work.data() + width;
  prev[0] = 0.0;  // the virtual cell C(-1, -1)
  // A radius of n or more keeps every cell: saturate it there, so that the limits below cannot
  // overflow whatever band was asked for.
  const bool banded = opt.band >= 0 && opt.band < n;
  const Index band = banded ? opt.band : 0;
  const Index shift = n - m;  // >= 0
  for (Index i = 0; i < n; ++i) {
    const Index lo = banded ? std::max<Index>(0, i - band - shift) : 0;
    const Index hi = banded ? std::min<Index>(m - 1, i + band) : m - 1;
    // Cells just outside this row's strip are read by this row and the next one: make them inf.
    cur[lo] = kInf;
    if (hi + 2 <= m) cur[hi + 2] = kInf;
    const double ai = a[i];
    for (Index j = lo; j <= hi; ++j) {
      const double best = std::min(std::min(prev[j + 1], cur[j]), prev[j]);
      cur[j + 1] = local_cost(ai, b[j], opt.cost) + best;
    }
    std::swap(prev, cur);
  }
  return prev[m];
}

// Runs fn(item, work) for item in [0, n_items) on n_threads OpenMP threads (dynamic schedule),
// each thread with its own DTW work buffer.
template <class Fn>
void for_each_item(Index n_items, int n_threads, Fn&& fn) {
  const int threads = static_cast<int>(std::min<Index>(resolve_threads(n_threads), std::max<Index>(n_items, 1)));
  (void)threads;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
  {
    std::vector<double> work;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 4)
#endif
    for (Index item = 0; item < n_items; ++item) fn(item, work);
  }
}

}  // namespace

double dtw_distance(const double* a, Index n, const double* b, Index m, const DtwOptions& opt,
                    std::vector<double>& work) {
  const double acc = (m <= n) ? accumulated_cost(a, n, b, m, opt, work) : accumulated_cost(b, m, a, n, opt, work);
  const double z = opt.normalize ? static_cast<double>(n + m) : 1.0;
  double d = opt.cost == DtwCost::Squared ? std::sqrt(acc / z) : acc / z;
  if (opt.penalty != 0.0 && n != m) {
    const double diff = static_cast<double>(n - m);
    d += opt.penalty * diff * diff / static_cast<double>(std::min(n, m));
  }
  return d;
}

void dtw_leads(const double* a, Index stride_a, Index len_a, const double* b, Index stride_b, Index len_b,
               Index n_leads, const DtwOptions& opt, double* out) {
  std::vector<double> work;
  for (Index l = 0; l < n_leads; ++l) {
    out[l] = dtw_distance(a + l * stride_a, len_a, b + l * stride_b, len_b, opt, work);
  }
}

void dtw_all_pairs(const double* signals, Index n_signals, Index n_leads, Index n_samples, const Index* lengths,
                   const DtwOptions& opt, int n_threads, double* out) {
  const Index per_signal = n_leads * n_samples;
  const Index n_pairs = n_signals * (n_signals - 1) / 2;
  for (Index s = 0; s < n_signals; ++s) {
    for (Index l = 0; l < n_leads; ++l) out[(s * n_signals + s) * n_leads + l] = 0.0;
  }
  // Work items are (pair, lead); the pair index p enumerates s < t row by row, row s starting
  // at pair row_start[s].
  std::vector<Index> row_start(static_cast<std::size_t>(n_signals) + 1, 0);
  for (Index s = 0; s < n_signals; ++s) row_start[s + 1] = row_start[s] + (n_signals - s - 1);
  for_each_item(n_pairs * n_leads, n_threads, [&](Index item, std::vector<double>& work) {
    const Index p = item / n_leads;
    const Index l = item % n_leads;
    const Index s = static_cast<Index>(std::upper_bound(row_start.begin(), row_start.end(), p) - row_start.begin()) - 1;
    const Index t = s + 1 + (p - row_start[s]);
    const double d = dtw_distance(signals + s * per_signal + l * n_samples, lengths[s],
                                  signals + t * per_signal + l * n_samples, lengths[t], opt, work);
    out[(s * n_signals + t) * n_leads + l] = d;
    out[(t * n_signals + s) * n_leads + l] = d;
  });
}

void dtw_one_to_many(const double* reference, Index ref_stride, Index ref_len, const double* signals,
                     Index n_signals, Index n_leads, Index n_samples, const Index* lengths, const DtwOptions& opt,
                     int n_threads, double* out) {
  for_each_item(n_signals * n_leads, n_threads, [&](Index item, std::vector<double>& work) {
    const Index s = item / n_leads;
    const Index l = item % n_leads;
    out[item] = dtw_distance(reference + l * ref_stride, ref_len, signals + (s * n_leads + l) * n_samples,
                             lengths[s], opt, work);
  });
}

}  // namespace mitwin
