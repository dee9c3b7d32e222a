#include "leadfield.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mitwin {

namespace {

struct Vec3 {
  double x, y, z;
};

inline Vec3 load(const double* p, Index i) { return {p[3 * i], p[3 * i + 1], p[3 * i + 2]}; }
inline Vec3 sub(const Vec3& a, const Vec3& b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline double dot(const Vec3& a, const Vec3& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}

// Node -> incident tets in compressed rows: tets of node j are entries[offsets[j] .. offsets[j+1]),
// each entry encoding 4 * tet + local vertex.
void node_incidence(const Index* tets, Index n_tets, Index n_points, std::vector<Index>& offsets,
                    std::vector<Index>& entries) {
  offsets.assign(static_cast<size_t>(n_points) + 1, 0);
  for (Index k = 0; k < 4 * n_tets; ++k) ++offsets[static_cast<size_t>(tets[k]) + 1];
  for (Index j = 0; j < n_points; ++j) offsets[j + 1] += offsets[j];
  entries.resize(static_cast<size_t>(4 * n_tets));
  std::vector<Index> fill(offsets.begin(), offsets.end() - 1);
  for (Index k = 0; k < 4 * n_tets; ++k) entries[fill[tets[k]]++] = k;
}

// On x86-64 with GCC, the binning kernel is also compiled for FMA (with 256-bit AVX) and picked at load
// time when the CPU has it (function multi-versioning, dispatched on the CPU's features); the portable
// build stays the default.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MITWIN_KERNEL_CLONES __attribute__((target_clones("fma", "default")))
#define MITWIN_ALWAYS_INLINE __attribute__((always_inline))
#else
#define MITWIN_KERNEL_CLONES
#define MITWIN_ALWAYS_INLINE
#endif

// Adds the lead weights of nodes [c0, c1) to the bins at (at - t0) / dt, linearly interpolated between
// the two neighbouring bins. E > 0 fixes the number of leads at compile time (E = 0: n_leads at run time).
// Returns true if a time is NaN or before t0 (those nodes are skipped, as are nodes past u_limit).
template <int E>
MITWIN_ALWAYS_INLINE inline bool bin_nodes_impl(const double* lead, const double* times, Index c0, Index c1,
                                                double t0, double inv_dt, double u_limit, Index n_leads,
                                                double* bins) {
  const Index n_e = E > 0 ? E : n_leads;
  bool bad = false;
  for (Index j = c0; j < c1; ++j) {
    const double u = (times[j] - t0) * inv_dt;
    if (!(u >= 0.0 && u < u_limit)) {  // NaN, before t0, or past the window
      bad = bad || !(u >= 0.0);
      continue;
    }
    const Index b = static_cast<Index>(u);  // = floor(u) for u >= 0
    const double f = u - static_cast<double>(b);
    const double g = 1.0 - f;
    const double* w = lead + j * n_e;
    double* lo = bins + b * n_e;
    double* hi = lo + n_e;
    if constexpr (E > 0) {
      // local copy: the compiler then knows the weights do not alias the bins and vectorises
      double wl[E > 0 ? E : 1];
      for (int e = 0; e < E; ++e) wl[e] = w[e];
      for (int e = 0; e < E; ++e) lo[e] += g * wl[e];
      for (int e = 0; e < E; ++e) hi[e] += f * wl[e];
    } else {
      for (Index e = 0; e < n_e; ++e) {
        lo[e] += g * w[e];
        hi[e] += f * w[e];
      }
    }
  }
  return bad;
}

MITWIN_KERNEL_CLONES bool bin_nodes_8(const double* lead, const double* times, Index c0, Index c1, double t0,
                                      double inv_dt, double u_limit, double* bins) {
  return bin_nodes_impl<8>(lead, times, c0, c1, t0, inv_dt, u_limit, 8, bins);
}

MITWIN_KERNEL_CLONES bool bin_nodes_9(const double* lead, const double* times, Index c0, Index c1, double t0,
                                      double inv_dt, double u_limit, double* bins) {
  return bin_nodes_impl<9>(lead, times, c0, c1, t0, inv_dt, u_limit, 9, bins);
}

bool bin_nodes(const double* lead, const double* times, Index c0, Index c1, double t0, double inv_dt,
               double u_limit, Index n_leads, double* bins) {
  switch (n_leads) {  // the usual lead counts, unrolled at compile time
    case 8:
      return bin_nodes_8(lead, times, c0, c1, t0, inv_dt, u_limit, bins);
    case 9:
      return bin_nodes_9(lead, times, c0, c1, t0, inv_dt, u_limit, bins);
    default:
      return bin_nodes_impl<0>(lead, times, c0, c1, t0, inv_dt, u_limit, n_leads, bins);
  }
}

constexpr Index kChunk = 2048;  // nodes per cache block: 2048 * n_leads doubles of L
constexpr Index kMaxBlocks = 16;
constexpr Index kMinBlockWork = 16384;  // node-maps per block at least: few partial bins for one map
constexpr Index kGroup = 32;  // maps per group: bounds the partial bins to 16 * 32 * n_bins * n_leads

// Number of node blocks for a group of `group` maps (fixed by the sizes, never by the thread count).
Index block_count(Index n_points, Index group) {
  const Index work = n_points > (std::numeric_limits<Index>::max() - kMinBlockWork) / std::max<Index>(group, 1)
                         ? std::numeric_limits<Index>::max() - kMinBlockWork
                         : n_points * group;
  return std::clamp<Index>((work + kMinBlockWork - 1) / kMinBlockWork, 1, kMaxBlocks);
}

Index mul_sat(Index a, Index b) {
  if (a <= 0 || b <= 0) return 0;
  return a > std::numeric_limits<Index>::max() / b ? std::numeric_limits<Index>::max() : a * b;
}

Index add_sat(Index a, Index b) {
  return a > std::numeric_limits<Index>::max() - b ? std::numeric_limits<Index>::max() : a + b;
}

}  // namespace

Index synthesize_qrs_doubles(Index n_points, Index n_leads, Index n_maps, Index n_samples, Index template_first,
                             Index template_width, int n_threads) {
  (void)template_width;
  const Index group = std::min(kGroup, n_maps);
  const Index n_blocks = block_count(n_points, group);
  // n_bins = max(n_samples - first, 0) + 1, computed without overflow for any first
  const Index span = template_first >= 0 ? std::max<Index>(n_samples - template_first, 0)
                                         : add_sat(n_samples, -template_first);
  const Index n_bins = add_sat(span, 1);
  const Index bin_size = mul_sat(n_bins, n_leads);
  const Index out = mul_sat(mul_sat(n_maps, n_leads), n_samples);
  const Index partial = mul_sat(mul_sat(n_blocks, group), bin_size);
  const Index per_thread = add_sat(bin_size, mul_sat(add_sat(n_bins, 1), n_leads));
  // every thread of the region holds its bins; no more threads than blocks or maps
  const Index threads = std::min<Index>(resolve_threads(n_threads), std::max(n_blocks, group));
  return add_sat(add_sat(out, partial), mul_sat(per_thread, threads));
}

void value_range(const double* x, Index n, int n_threads, double* lo, double* hi, bool skip_inf) {
  double mn = std::numeric_limits<double>::infinity();
  double mx = -std::numeric_limits<double>::infinity();
  Index n_nan = 0;
  const int threads = static_cast<int>(std::min<Index>(resolve_threads(n_threads), n / 65536 + 1));
  (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) reduction(min : mn) reduction(max : mx) \
    reduction(+ : n_nan) if (n > 65536)
#endif
  for (Index i = 0; i < n; ++i) {
    const double v = x[i];
    if (std::isnan(v)) ++n_nan;
    if (skip_inf && v == std::numeric_limits<double>::infinity()) continue;
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  if (n_nan > 0) mn = mx = std::numeric_limits<double>::quiet_NaN();
  *lo = mn;
  *hi = mx;
}

void zero_phase_filter(const ZeroPhaseFilter& filter, double* x, Index n) {
  const size_t n_sections = filter.sos.size() / 6;
  if (n == 0 || n_sections == 0) return;
  std::vector<double> z(2 * n_sections);
  // one pass of the cascade (direct form II transposed) over x[i], i = start, start + step, ...
  auto pass = [&](Index start, Index step) {
    const double x0 = x[start];
    for (size_t s = 0; s < n_sections; ++s) {
      z[2 * s] = filter.zi[2 * s] * x0;
      z[2 * s + 1] = filter.zi[2 * s + 1] * x0;
    }
    for (Index c = 0, i = start; c < n; ++c, i += step) {
      double v = x[i];
      for (size_t s = 0; s < n_sections; ++s) {
        const double* q = filter.sos.data() + 6 * s;
        const double y = q[0] * v + z[2 * s];
        z[2 * s] = q[1] * v - q[4] * y + z[2 * s + 1];
        z[2 * s + 1] = q[2] * v - q[5] * y;
        v = y;
      }
      x[i] = v;
    }
  };
  pass(0, 1);
  pass(n - 1, -1);
}

RowMatrixXd lead_field(const double* points, Index n_points, const Index* tets, Index n_tets,
                       const double* electrodes, Index n_electrodes, double scale, int n_threads) {
  RowMatrixXd lead = RowMatrixXd::Zero(n_points, n_electrodes);
  std::vector<Index> offsets, entries;
  node_incidence(tets, n_tets, n_points, offsets, entries);
  // no more threads than blocks of the dynamic schedule below
  const int threads = static_cast<int>(std::min<Index>(resolve_threads(n_threads), n_points / 1024 + 1));
  (void)threads;

  // Local vertex a of a tet and the other three in an order (b, c, d); the sign of the triple product
  // below makes the result independent of that order and of the tet's orientation.
  static constexpr int others[4][3] = {{1, 2, 3}, {0, 2, 3}, {0, 1, 3}, {0, 1, 2}};

#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1024) num_threads(threads)
#endif
  for (Index j = 0; j < n_points; ++j) {
    double* row = lead.data() + j * n_electrodes;
    for (Index q = offsets[j]; q < offsets[j + 1]; ++q) {
      const Index t = entries[q] / 4;
      const int a = static_cast<int>(entries[q] % 4);
      const Index* tet = tets + 4 * t;
      const Vec3 pa = load(points, tet[a]);
      const Vec3 pb = load(points, tet[others[a][0]]);
      const Vec3 pc = load(points, tet[others[a][1]]);
      const Vec3 pd = load(points, tet[others[a][2]]);
      // grad N_a = n / ((pa - pb) . n) with n = (pc - pb) x (pd - pb), and vol = |(pa - pb) . n| / 6,
      // so vol * grad N_a = sign((pa - pb) . n) * n / 6: the inward normal of the opposite face
      // scaled by its area / 3.
      Vec3 n = cross(sub(pc, pb), sub(pd, pb));
      const double s = dot(sub(pa, pb), n) >= 0.0 ? 1.0 / 6.0 : -1.0 / 6.0;
      n = {s * n.x, s * n.y, s * n.z};
      const Vec3 c = {0.25 * (pa.x + pb.x + pc.x + pd.x), 0.25 * (pa.y + pb.y + pc.y + pd.y),
                      0.25 * (pa.z + pb.z + pc.z + pd.z)};
      for (Index e = 0; e < n_electrodes; ++e) {
        const Vec3 d = sub(c, load(electrodes, e));
        const double r2 = dot(d, d);
        const double inv_r = 1.0 / std::sqrt(r2);
        row[e] += scale * dot(n, d) * inv_r * inv_r * inv_r;
      }
    }
  }
  return lead;
}

std::vector<double> synthesize_qrs(const double* lead, Index n_points, Index n_leads, const double* at,
                                   Index n_maps, double t0, double dt, Index n_samples,
                                   const SampledTemplate& tmpl, const ZeroPhaseFilter& filter, int n_threads,
                                   Index* first_invalid) {
  std::vector<double> out(static_cast<size_t>(n_maps * n_leads * n_samples), 0.0);
  if (first_invalid != nullptr) *first_invalid = -1;
  if (n_maps == 0 || n_leads == 0 || tmpl.values.empty()) return out;
  const Index first = tmpl.first;
  const Index width = static_cast<Index>(tmpl.values.size());
  const Index last = first + width - 1;
  const double tail = tmpl.values.back();
  const double inv_dt = 1.0 / dt;
  // Output sample i reads bins b <= i - first, so bins up to n_samples - 1 - first are needed; one more
  // holds the upper neighbour of the last. Nodes whose lower bin lies beyond are skipped.
  const Index n_bins = std::max<Index>(n_samples - first, 0) + 1;
  const double u_limit = static_cast<double>(n_bins - 1);
  const Index bin_size = n_bins * n_leads;

  // The nodes are cut into a fixed number of blocks (independent of the thread count, so the sums and
  // the result are too); each block bins its nodes for every map of a group into its own partial bins,
  // reading its part of L once per group. Blocks are scheduled dynamically, then the partial bins are
  // summed in block order and convolved, in parallel over the maps.
  const Index group = std::min(kGroup, n_maps);
  const Index n_blocks = block_count(n_points, group);
  const Index block_len = (n_points + n_blocks - 1) / n_blocks;
  std::vector<double> partial(static_cast<size_t>(n_blocks * group * bin_size));
  std::vector<char> invalid(static_cast<size_t>(n_blocks * n_maps), 0);
  const int threads = static_cast<int>(std::min<Index>(resolve_threads(n_threads), std::max(n_blocks, group)));
  (void)threads;

  for (Index g0 = 0; g0 < n_maps; g0 += group) {
    const Index g_n = std::min(group, n_maps - g0);
    std::fill(partial.begin(), partial.end(), 0.0);
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
      for (Index blk = 0; blk < n_blocks; ++blk) {
        const Index b0 = blk * block_len;
        const Index b1 = std::min(n_points, b0 + block_len);
        for (Index c0 = b0; c0 < b1; c0 += kChunk) {
          const Index c1 = std::min(b1, c0 + kChunk);
          for (Index q = 0; q < g_n; ++q) {
            const Index k = g0 + q;
            const double* times = at + k * n_points;
            double* mb = partial.data() + (blk * group + q) * bin_size;
            const bool bad = bin_nodes(lead, times, c0, c1, t0, inv_dt, u_limit, n_leads, mb);
            if (bad) invalid[blk * n_maps + k] = 1;
          }
        }
      }

      std::vector<double> bins(static_cast<size_t>(bin_size));
      std::vector<double> prefix(static_cast<size_t>((n_bins + 1) * n_leads));
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
      for (Index q = 0; q < g_n; ++q) {
        const Index k = g0 + q;
        std::fill(bins.begin(), bins.end(), 0.0);
        for (Index blk = 0; blk < n_blocks; ++blk) {
          const double* src = partial.data() + (blk * group + q) * bin_size;
          for (Index x = 0; x < bin_size; ++x) bins[x] += src[x];
        }
        // prefix[c] = sum of bins b < c
        std::fill(prefix.begin(), prefix.begin() + n_leads, 0.0);
        for (Index b = 0; b < n_bins; ++b)
          for (Index e = 0; e < n_leads; ++e)
            prefix[(b + 1) * n_leads + e] = prefix[b * n_leads + e] + bins[b * n_leads + e];

        double* dst = out.data() + k * n_leads * n_samples;
        for (Index i = 0; i < n_samples; ++i) {
          // bins fully past the template (i - b > last) contribute the plateau value `tail`
          const Index c = std::clamp<Index>(i - last, 0, n_bins);
          for (Index e = 0; e < n_leads; ++e) dst[e * n_samples + i] = tail * prefix[c * n_leads + e];
          // bins inside the template window: b = i - m for m in [first, last]
          const Index b_lo = std::max<Index>(i - last, 0);
          const Index b_hi = std::min<Index>(i - first, n_bins - 1);
          for (Index b = b_lo; b <= b_hi; ++b) {
            const double s = tmpl.values[static_cast<size_t>(i - b - first)];
            const double* w = bins.data() + b * n_leads;
            for (Index e = 0; e < n_leads; ++e) dst[e * n_samples + i] += s * w[e];
          }
        }
        if (!filter.sos.empty())
          for (Index e = 0; e < n_leads; ++e) zero_phase_filter(filter, dst + e * n_samples, n_samples);
      }
    }
  }
  if (first_invalid != nullptr) {
    for (Index k = 0; k < n_maps && *first_invalid < 0; ++k)
      for (Index blk = 0; blk < n_blocks; ++blk)
        if (invalid[blk * n_maps + k]) {
          *first_invalid = k;
          break;
        }
  }
  return out;
}

}  // namespace mitwin
