#include "leadfield.hpp"

#include <algorithm>
#include <cmath>

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

}  // namespace

RowMatrixXd lead_field(const double* points, Index n_points, const Index* tets, Index n_tets,
                       const double* electrodes, Index n_electrodes, double scale, int n_threads) {
  RowMatrixXd lead = RowMatrixXd::Zero(n_points, n_electrodes);
  std::vector<Index> offsets, entries;
  node_incidence(tets, n_tets, n_points, offsets, entries);
  const int threads = resolve_threads(n_threads);
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
                                   const SampledTemplate& tmpl, int n_threads, Index* first_invalid) {
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
  constexpr Index kChunk = 2048;  // nodes per cache block: 2048 * n_leads doubles of L
  constexpr Index kMaxBlocks = 16;
  constexpr Index kGroup = 32;  // maps per group: bounds the partial bins to 16 * 32 * n_bins * n_leads
  const Index n_blocks = std::clamp<Index>((n_points + kChunk - 1) / kChunk, 1, kMaxBlocks);
  const Index block_len = (n_points + n_blocks - 1) / n_blocks;
  const Index group = std::min(kGroup, n_maps);
  std::vector<double> partial(static_cast<size_t>(n_blocks * group * bin_size));
  std::vector<char> invalid(static_cast<size_t>(n_blocks * n_maps), 0);
  const int threads = resolve_threads(n_threads);
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
            for (Index j = c0; j < c1; ++j) {
              const double u = (times[j] - t0) * inv_dt;
              if (!(u >= 0.0 && u < u_limit)) {  // NaN, before t0, or past the window
                if (!(u >= 0.0)) invalid[blk * n_maps + k] = 1;
                continue;
              }
              const double fl = std::floor(u);
              const double f = u - fl;
              const double* w = lead + j * n_leads;
              double* lo = mb + static_cast<Index>(fl) * n_leads;
              double* hi = lo + n_leads;
              for (Index e = 0; e < n_leads; ++e) {
                lo[e] += (1.0 - f) * w[e];
                hi[e] += f * w[e];
              }
            }
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
        std::copy_n(partial.data() + q * bin_size, bin_size, bins.data());
        for (Index blk = 1; blk < n_blocks; ++blk) {
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
