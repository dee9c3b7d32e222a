#include "activation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define MITWIN_INLINE inline __attribute__((always_inline))
#else
#define MITWIN_INLINE inline
#endif

namespace mitwin {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Values that decrease by less than this (ms) are not re-queued.
constexpr double kTol = 1e-9;
// Nodes within this many edges of a root are initialised with the exact travel time.
constexpr int kInitHops = 2;
// A virtual source is followed up to this many (median) edge lengths before the wave restarts
// from the tetrahedral solution: long straight rays would cut through curved, non-convex walls.
constexpr double kRayEdges = 10.0;
// A settled node is corrected by a node processed after it only when their times differ by
// less than this many bucket widths (they may have been processed out of order); nodes settled
// earlier are final. Two widths keep the solve as monotone in the speed factors as a full
// label-correcting pass (tests/test_forward.py) at a fraction of its work.
constexpr double kReopenBuckets = 2.0;
// Eikonal buckets per smallest edge cost. Nodes within a bucket are processed in any order and
// corrected within kReopenBuckets widths, so narrower buckets mean fewer out-of-order values and
// fewer correction solves: with 4, about 30 % fewer local solves on a 166k-node block and 16 %
// fewer on the 153.6k-node shell than with one bucket per edge (and a few % fewer node visits).
constexpr double kEikonalBucketsPerEdge = 4.0;
// Upper bound on the number of circular buckets; beyond it the bucket width grows (the driver
// is label correcting: nodes processed out of order are corrected, only the work grows).
constexpr std::int64_t kMaxBuckets = 1 << 16;


// local edge index of the vertex pair (i, j) of a tet
constexpr int kPair[4][4] = {{-1, 0, 1, 2}, {0, -1, 3, 4}, {1, 3, -1, 5}, {2, 4, 5, -1}};
// the three vertices opposite vertex k
constexpr int kFace[4][3] = {{1, 2, 3}, {0, 2, 3}, {0, 1, 3}, {0, 1, 2}};

inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

struct Vec3 {
  double x, y, z;
};
inline Vec3 sub(const double* a, const double* b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
inline double dot(const Vec3& a, const double* b) { return a.x * b[0] + a.y * b[1] + a.z * b[2]; }

// Orthonormal frame from the (sign-aligned) sum of nodal frames: f normalised, s made
// orthogonal to f, n = f x s. frames: pointers to 9 doubles each.
void average_frame(const double* const* frames, int count, double* out) {
  double f[3] = {0, 0, 0}, s[3] = {0, 0, 0};
  const double* f0 = frames[0];
  const double* s0 = frames[0] + 3;
  for (int c = 0; c < count; ++c) {
    const double* fr = frames[c];
    const double sf = (fr[0] * f0[0] + fr[1] * f0[1] + fr[2] * f0[2]) < 0 ? -1.0 : 1.0;
    const double ss = (fr[3] * s0[0] + fr[4] * s0[1] + fr[5] * s0[2]) < 0 ? -1.0 : 1.0;
    for (int d = 0; d < 3; ++d) {
      f[d] += sf * fr[d];
      s[d] += ss * fr[3 + d];
    }
  }
  double nf = std::sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]);
  for (double& v : f) v /= nf;
  double sf = s[0] * f[0] + s[1] * f[1] + s[2] * f[2];
  for (int d = 0; d < 3; ++d) s[d] -= sf * f[d];
  double ns = std::sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
  if (ns < 1e-8) {  // sheets parallel to the fibre on average: use the first node's sheet normal
    for (int d = 0; d < 3; ++d) s[d] = frames[0][6 + d];
    sf = s[0] * f[0] + s[1] * f[1] + s[2] * f[2];
    for (int d = 0; d < 3; ++d) s[d] -= sf * f[d];
    ns = std::sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
  }
  for (double& v : s) v /= ns;
  out[0] = f[0], out[1] = f[1], out[2] = f[2];
  out[3] = s[0], out[4] = s[1], out[5] = s[2];
  out[6] = f[1] * s[2] - f[2] * s[1];
  out[7] = f[2] * s[0] - f[0] * s[2];
  out[8] = f[0] * s[1] - f[1] * s[0];
}

// Squared travel time along d in the frame F with speeds v: sum_k (F_k . d / v_k)^2.
inline double metric_len2(const double* frame, const Vec3& d, const std::array<double, 3>& v) {
  const double a = dot(d, frame) / v[0];
  const double b = dot(d, frame + 3) / v[1];
  const double c = dot(d, frame + 6) / v[2];
  return a * a + b * b + c * c;
}

// Travel time to x from the segment a-b with known times ta, tb, linear in between.
// Squared metric lengths lab = |b-a|^2, lax = |x-a|^2, lbx = |x-b|^2 (healthy metric);
// s scales the metric (slowness of x), inv_s = 1 / s.
inline double solve_edge(double ta, double tb, double lab, double lax, double lbx, double s, double inv_s) {
  double best = std::min(ta + s * std::sqrt(lax), tb + s * std::sqrt(lbx));
  const double d = (tb - ta) * inv_s;
  if (d * d < lab) {
    const double il = 1.0 / lab;
    const double er = 0.5 * (lab + lax - lbx);
    const double c0 = std::max(lax - er * er * il, 0.0);
    const double n = std::sqrt(c0 / (1.0 - d * d * il));
    const double mu = (er - n * d) * il;
    if (mu > 0.0 && mu < 1.0) best = std::min(best, ta + s * (d * mu + n));
  }
  return best;
}

inline double solve_edge(double ta, double tb, double lab, double lax, double lbx, double s) {
  return solve_edge(ta, tb, lab, lax, lbx, s, 1.0 / s);
}

// Travel time to x from the triangle a-b-c with known times, linear in between (the
// tetrahedral local solver). The minimiser over the triangle is found in closed form; when it
// falls outside, the minimum lies on an edge.
inline double solve_face(double ta, double tb, double tc, double lab, double lac, double lbc, double lax,
                         double lbx, double lcx, double s) {
  const double a11 = lab, a22 = lac, a12 = 0.5 * (lab + lac - lbc);
  const double det = a11 * a22 - a12 * a12;
  const double inv_s = 1.0 / s;
  // edges to search when the minimiser is outside: those whose constraint it violates (for a
  // convex objective the constrained minimum lies on one of them)
  bool on_ab = true, on_ac = true, on_bc = true;
  if (det > 1e-14 * a11 * a22) {
    const double id = 1.0 / det;
    const double i11 = a22 * id, i22 = a11 * id, i12 = -a12 * id;
    const double d1 = (tb - ta) * inv_s, d2 = (tc - ta) * inv_s;
    const double p1 = i11 * d1 + i12 * d2, p2 = i12 * d1 + i22 * d2;
    const double sq = d1 * p1 + d2 * p2;
    if (sq < 1.0) {
      const double b1 = 0.5 * (lab + lax - lbx), b2 = 0.5 * (lac + lax - lcx);
      const double l1 = i11 * b1 + i12 * b2, l2 = i12 * b1 + i22 * b2;
      const double c0 = std::max(lax - (b1 * l1 + b2 * l2), 0.0);
      const double n = std::sqrt(c0 / (1.0 - sq));
      const double m1 = l1 - n * p1, m2 = l2 - n * p2;
      if (m1 >= 0.0 && m2 >= 0.0 && m1 + m2 <= 1.0) return ta + s * (d1 * m1 + d2 * m2 + n);
      on_ac = m1 < 0.0;
      on_ab = m2 < 0.0;
      on_bc = m1 + m2 > 1.0;
    }
  }
  double best = kInf;
  if (on_ab) best = std::min(best, solve_edge(ta, tb, lab, lax, lbx, s, inv_s));
  if (on_ac) best = std::min(best, solve_edge(ta, tc, lac, lax, lcx, s, inv_s));
  if (on_bc) best = std::min(best, solve_edge(tb, tc, lbc, lbx, lcx, s, inv_s));
  return best;
}

// Update of vertex K (1, 2 or 3) of a tet from its opposite face, which holds vertex 0 (the
// node being processed, always known) and two others; unknown (+inf) vertices drop out.
// tt: the four times; L: squared metric edge lengths (pairs 01 02 03 12 13 23); s: slowness of K.
template <int K>
inline double tet_update(const double* tt, const float* L, double s) {
  constexpr int b = kFace[K][1], c = kFace[K][2];
  const bool kb = tt[b] < kInf, kc = tt[c] < kInf;
  if (kb && kc) {
    return solve_face(tt[0], tt[b], tt[c], L[kPair[0][b]], L[kPair[0][c]], L[kPair[b][c]], L[kPair[0][K]],
                      L[kPair[b][K]], L[kPair[c][K]], s);
  }
  if (kb) return solve_edge(tt[0], tt[b], L[kPair[0][b]], L[kPair[0][K]], L[kPair[b][K]], s);
  if (kc) return solve_edge(tt[0], tt[c], L[kPair[0][c]], L[kPair[0][K]], L[kPair[c][K]], s);
  return tt[0] + s * std::sqrt(static_cast<double>(L[kPair[0][K]]));
}

// Metric distance of x to the triangle a, b, c (healthy metric): the lower bound of any update
// of x from that face beyond the smallest known time on it.
double face_height(double lab, double lac, double lbc, double lax, double lbx, double lcx) {
  // metric distance from x to the triangle a-b-c (not just its plane)
  const double a11 = lab, a22 = lac, a12 = 0.5 * (lab + lac - lbc);
  const double det = a11 * a22 - a12 * a12;
  const double b1 = 0.5 * (lab + lax - lbx), b2 = 0.5 * (lac + lax - lcx);
  if (det > 0.0) {
    const double l1 = (a22 * b1 - a12 * b2) / det, l2 = (a11 * b2 - a12 * b1) / det;
    if (l1 >= 0.0 && l2 >= 0.0 && l1 + l2 <= 1.0) {
      const double c0 = lax - (b1 * l1 + b2 * l2);
      return c0 > 0.0 ? 0.999 * std::sqrt(c0) : 0.0;
    }
  }
  // closest point on an edge: squared distance from x to segment p-q given |q-p|^2, |x-p|^2, |x-q|^2
  auto seg = [](double lpq, double lpx, double lqx) {
    const double e = 0.5 * (lpq + lpx - lqx);
    if (e <= 0.0) return lpx;
    if (e >= lpq) return lqx;
    return std::max(lpx - e * e / lpq, 0.0);
  };
  const double d2 = std::min({seg(lab, lax, lbx), seg(lac, lax, lcx), seg(lbc, lbx, lcx)});
  return 0.999 * std::sqrt(d2);
}

std::string str(Index v) { return std::to_string(v); }

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

}  // namespace

ActivationSolver::ActivationSolver(const double* points, Index n_nodes, const Index* tets, Index n_tets,
                                   const double* fibres, const double* sheets, const std::array<double, 3>& speeds,
                                   const double* endo_speed, ActivationMethod method)
    : method_(method), graph_(MeshGraph::from_tets(tets, n_tets, n_nodes)), speeds_(speeds) {
  init_points(points);
  init_frames(fibres, sheets);
  init_layer(endo_speed);
  init_edge_costs();
  if (method_ == ActivationMethod::kEikonal) {
    init_metric();
    init_tet_records();
    init_layer_triangles();
  }
}

void ActivationSolver::init_points(const double* points) {
  for (double v : speeds_) {
    if (!(v >= kMinSpeed && v <= kMaxSpeed)) {
      throw std::invalid_argument("speeds: expected speeds in [" + num(kMinSpeed) + ", " + num(kMaxSpeed) +
                                  "] m/s, got " + num(v));
    }
  }
  points_.assign(points, points + 3 * static_cast<std::size_t>(graph_.n_nodes));
  for (double v : points_) {
    if (!(std::abs(v) <= kMaxCoordinate)) {
      throw std::invalid_argument("points: expected finite coordinates within +-" + num(kMaxCoordinate) + " mm, got " +
                                  num(v));
    }
  }
}

void ActivationSolver::init_frames(const double* fibres, const double* sheets) {
  // nodal frames, orthonormalised
  const std::size_t n = static_cast<std::size_t>(graph_.n_nodes);
  frames_.resize(9 * n);
  for (std::size_t i = 0; i < n; ++i) {
    const double* f = fibres + 3 * i;
    const double* s = sheets + 3 * i;
    const double nf = std::sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]);
    if (!(nf > 1e-12) || !std::isfinite(nf)) {
      throw std::invalid_argument("fibres: node " + str(static_cast<Index>(i)) + " has a zero or non-finite fibre");
    }
    double* fr = &frames_[9 * i];
    for (int d = 0; d < 3; ++d) fr[d] = f[d] / nf;
    const double sf = s[0] * fr[0] + s[1] * fr[1] + s[2] * fr[2];
    double sp[3] = {s[0] - sf * fr[0], s[1] - sf * fr[1], s[2] - sf * fr[2]};
    const double ns = std::sqrt(sp[0] * sp[0] + sp[1] * sp[1] + sp[2] * sp[2]);
    const double ns0 = std::sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
    if (!(ns > 1e-6 * ns0) || !(ns0 > 1e-12) || !std::isfinite(ns)) {
      throw std::invalid_argument("sheets: node " + str(static_cast<Index>(i)) +
                                  " has a zero, non-finite or fibre-parallel sheet");
    }
    for (int d = 0; d < 3; ++d) fr[3 + d] = sp[d] / ns;
    fr[6] = fr[1] * fr[5] - fr[2] * fr[4];
    fr[7] = fr[2] * fr[3] - fr[0] * fr[5];
    fr[8] = fr[0] * fr[4] - fr[1] * fr[3];
  }
}

void ActivationSolver::init_layer(const double* endo_speed) {
  const std::size_t n = static_cast<std::size_t>(graph_.n_nodes);
  endo_.assign(n, 0.0);
  layer_.assign(n, 0);
  if (endo_speed == nullptr) return;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = endo_speed[i];
    if (v < 0.0 || std::isinf(v) || (v > 0.0 && !(v >= kMinSpeed && v <= kMaxSpeed))) {
      throw std::invalid_argument("endo_speed: node " + str(static_cast<Index>(i)) + " has speed " + num(v) +
                                  "; expected [" + num(kMinSpeed) + ", " + num(kMaxSpeed) +
                                  "] m/s on the layer, NaN or 0 off it");
    }
    if (v > 0.0) {
      endo_[i] = v;
      layer_[i] = 1;
    }
  }
}

void ActivationSolver::init_edge_costs() {
  // healthy edge costs on the CSR slots (the same value in both directions)
  const std::vector<double> cost = edge_costs();
  adj_.resize(graph_.indices.size());
  min_cost_ = kInf;
  max_increment_ = 0.0;
  for (std::size_t k = 0; k < adj_.size(); ++k) {
    const double c = cost[static_cast<std::size_t>(graph_.slot_edge[k])];
    adj_[k] = {graph_.indices[k], static_cast<float>(c)};
    min_cost_ = std::min(min_cost_, static_cast<double>(adj_[k].cost));
    max_increment_ = std::max(max_increment_, static_cast<double>(adj_[k].cost));
  }
  if (!(min_cost_ > 0.0)) throw std::invalid_argument("points: the mesh has an edge of zero length");
}

void ActivationSolver::init_metric() {
  // nodal metric rows f / vf, s / vs, n / vn, and the length up to which a ray is followed
  const std::size_t n = static_cast<std::size_t>(graph_.n_nodes);
  metric_.resize(9 * n);
  for (std::size_t i = 0; i < n; ++i) {
    for (int r = 0; r < 3; ++r) {
      for (int d = 0; d < 3; ++d) metric_[9 * i + 3 * r + d] = frames_[9 * i + 3 * r + d] / speeds_[r];
    }
  }
  std::vector<double> len(static_cast<std::size_t>(graph_.n_edges()));
  for (std::size_t e = 0; e < len.size(); ++e) {
    const Vec3 d = sub(&points_[3 * static_cast<std::size_t>(graph_.edge_nodes[2 * e + 1])],
                       &points_[3 * static_cast<std::size_t>(graph_.edge_nodes[2 * e])]);
    len[e] = std::sqrt(d.x * d.x + d.y * d.y + d.z * d.z);
    max_edge_ = std::max(max_edge_, len[e]);
  }
  std::nth_element(len.begin(), len.begin() + static_cast<std::ptrdiff_t>(len.size() / 2), len.end());
  const double ray = kRayEdges * len[len.size() / 2];
  ray_length2_ = ray * ray;
}

void ActivationSolver::init_tet_records() {
  // per node, one record for each of its tets (in the order of graph_.node_tets)
  const std::size_t m = static_cast<std::size_t>(graph_.n_tets);
  incidence_.resize(graph_.node_tets.size());
  std::vector<std::int32_t> next(graph_.tet_ptr.begin(), graph_.tet_ptr.end() - 1);
  for (std::size_t t = 0; t < m; ++t) {
    const std::int32_t* tv = &graph_.tets[4 * t];
    const double* fr[4];
    for (int k = 0; k < 4; ++k) fr[k] = &frames_[9 * static_cast<std::size_t>(tv[k])];
    double frame[9];
    average_frame(fr, 4, frame);
    double L[4][4];
    for (int i = 0; i < 4; ++i) {
      L[i][i] = 0.0;
      for (int j = i + 1; j < 4; ++j) {
        const Vec3 d = sub(&points_[3 * static_cast<std::size_t>(tv[j])], &points_[3 * static_cast<std::size_t>(tv[i])]);
        L[i][j] = L[j][i] = metric_len2(frame, d, speeds_);
        max_increment_ = std::max(max_increment_, std::sqrt(L[i][j]));
      }
    }
    for (int ui = 0; ui < 4; ++ui) {
      // local order: the node itself, then the other three in tet order
      const int g[4] = {ui, kFace[ui][0], kFace[ui][1], kFace[ui][2]};
      const std::size_t pt = static_cast<std::size_t>(next[static_cast<std::size_t>(tv[ui])]++);
      Incidence& in = incidence_[pt];
      for (int c = 0; c < 3; ++c) in.other[c] = tv[g[c + 1]];
      for (int i = 0; i < 4; ++i) {
        for (int j = i + 1; j < 4; ++j) in.len2[kPair[i][j]] = static_cast<float>(L[g[i]][g[j]]);
      }
      for (int k = 1; k < 4; ++k) {
        const int a = g[kFace[k][0]], b = g[kFace[k][1]], c = g[kFace[k][2]], x = g[k];
        in.height[k - 1] = static_cast<float>(face_height(L[a][b], L[a][c], L[b][c], L[a][x], L[b][x], L[c][x]));
      }
    }
  }
}

void ActivationSolver::init_layer_triangles() {
  // fast-layer triangles: tet faces with all three nodes on the layer, each once
  const std::size_t n = static_cast<std::size_t>(graph_.n_nodes);
  const std::size_t m = static_cast<std::size_t>(graph_.n_tets);
  std::vector<std::array<std::int32_t, 3>> tris;
  for (std::size_t t = 0; t < m; ++t) {
    const std::int32_t* tv = &graph_.tets[4 * t];
    for (int k = 0; k < 4; ++k) {
      std::array<std::int32_t, 3> f = {tv[kFace[k][0]], tv[kFace[k][1]], tv[kFace[k][2]]};
      if (layer_[f[0]] && layer_[f[1]] && layer_[f[2]]) {
        std::sort(f.begin(), f.end());
        tris.push_back(f);
      }
    }
  }
  std::sort(tris.begin(), tris.end());
  tris.erase(std::unique(tris.begin(), tris.end()), tris.end());
  tri_nodes_.resize(3 * tris.size());
  tri_len2_.resize(3 * tris.size());
  tri_ptr_.assign(n + 1, 0);
  for (std::size_t r = 0; r < tris.size(); ++r) {
    const auto& f = tris[r];
    const double v = (endo_[f[0]] + endo_[f[1]] + endo_[f[2]]) / 3.0;
    const int pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    for (int p = 0; p < 3; ++p) {
      const Vec3 d = sub(&points_[3 * static_cast<std::size_t>(f[pairs[p][1]])],
                         &points_[3 * static_cast<std::size_t>(f[pairs[p][0]])]);
      tri_len2_[3 * r + p] = (d.x * d.x + d.y * d.y + d.z * d.z) / (v * v);
    }
    for (int k = 0; k < 3; ++k) {
      tri_nodes_[3 * r + k] = f[k];
      ++tri_ptr_[static_cast<std::size_t>(f[k]) + 1];
    }
  }
  for (std::size_t i = 0; i < n; ++i) tri_ptr_[i + 1] += tri_ptr_[i];
  node_tris_.resize(tri_nodes_.size());
  std::vector<std::int32_t> fill(tri_ptr_.begin(), tri_ptr_.end() - 1);
  for (std::size_t r = 0; r < tris.size(); ++r) {
    for (int k = 0; k < 3; ++k) node_tris_[static_cast<std::size_t>(fill[tris[r][k]]++)] = static_cast<std::int32_t>(r);
  }
}

std::vector<double> ActivationSolver::edge_costs() const {
  const std::size_t ne = static_cast<std::size_t>(graph_.n_edges());
  std::vector<double> cost(ne);
  for (std::size_t e = 0; e < ne; ++e) {
    const std::size_t i = static_cast<std::size_t>(graph_.edge_nodes[2 * e]);
    const std::size_t j = static_cast<std::size_t>(graph_.edge_nodes[2 * e + 1]);
    const Vec3 d = sub(&points_[3 * j], &points_[3 * i]);
    if (layer_[i] && layer_[j]) {
      cost[e] = std::sqrt(d.x * d.x + d.y * d.y + d.z * d.z) / (0.5 * (endo_[i] + endo_[j]));
    } else {
      const double* fr[2] = {&frames_[9 * i], &frames_[9 * j]};
      double frame[9];
      average_frame(fr, 2, frame);
      cost[e] = std::sqrt(metric_len2(frame, d, speeds_));
    }
  }
  return cost;
}

void ActivationSolver::check_sources(const Index* roots, const double* root_times, Index n_roots) const {
  if (n_roots <= 0) throw std::invalid_argument("roots: expected at least one root node");
  for (Index r = 0; r < n_roots; ++r) {
    if (roots[r] < 0 || roots[r] >= n_nodes()) {
      throw std::invalid_argument("roots: index " + str(roots[r]) + " is outside [0, " + str(n_nodes()) + ")");
    }
    if (root_times != nullptr && !(root_times[r] >= 0.0 && root_times[r] <= kMaxRootTime)) {
      throw std::invalid_argument("root_times: expected start times in [0, " + num(kMaxRootTime) + "] ms, got " +
                                  num(root_times[r]));
    }
  }
}

void ActivationSolver::check_factors(const double* speed_factor, Index n_sets) const {
  if (speed_factor == nullptr) return;
  const std::size_t total = static_cast<std::size_t>(n_sets) * static_cast<std::size_t>(n_nodes());
  for (std::size_t i = 0; i < total; ++i) {
    const double f = speed_factor[i];
    if (!(f == 0.0 || (f >= kMinFactor && f <= 1.0))) {
      throw std::invalid_argument("speed_factor: expected 0 (blocked) or values in [" + num(kMinFactor) +
                                  ", 1], got " + num(f));
    }
  }
}

namespace detail {

// Circular bucket queue over the workspace's buckets.
struct Buckets {
  std::vector<std::vector<std::int32_t>>& b;
  double inv_width;
  std::int64_t n_buckets;
  std::int64_t cur;
  std::int64_t count = 0;

  void push(std::int32_t v, double t) {
    // clamp in floating point first, so that huge times never overflow the integer index
    const double kd = t * inv_width;
    std::int64_t k = kd >= static_cast<double>(cur + n_buckets - 1) ? cur + n_buckets - 1 : static_cast<std::int64_t>(kd);
    if (k < cur) k = cur;
    b[static_cast<std::size_t>(k & (n_buckets - 1))].push_back(v);
    ++count;
  }

  // Re-queues every queued node with the window starting at the earliest of their times.
  void restart(const std::uint8_t* queued, const double* t) {
    std::vector<std::int32_t> live;
    double t_min = std::numeric_limits<double>::infinity();
    for (std::int64_t k = 0; k < n_buckets; ++k) {
      for (std::int32_t v : b[static_cast<std::size_t>(k)]) {
        if (queued[v]) {
          live.push_back(v);
          t_min = std::min(t_min, t[v]);
        }
      }
      b[static_cast<std::size_t>(k)].clear();
    }
    count = 0;
    cur = std::max(cur, static_cast<std::int64_t>(t_min * inv_width));
    for (std::int32_t v : live) push(v, t[v]);
  }
};

}  // namespace detail

// The state of one solve: the workspace's arrays and the bucket queue. The update steps copy the
// pointers they use into locals first: stores through the uint8_t queue flags may alias anything,
// so pointers read from a struct (or from *this) would be reloaded after every store.
struct ActivationSolver::Sweep {
  double* t;
  const double* slow;
  std::uint8_t* queued;
  std::int32_t* src;     // Eikonal: node at the virtual source of each value
  double* tsrc;          // Eikonal: time at that source
  const double* medium;  // Eikonal: slowness off the fast layer, -1 on it
  double width;          // bucket width, ms
  double inv_width;
  std::int64_t n_buckets;  // circular buckets, a power of two
  std::int64_t first;      // bucket of the earliest start
};

namespace {

// The one relaxation: lower t[v] to c when that gains more than tol, and queue v.
MITWIN_INLINE bool relax(double* t, std::uint8_t* queued, detail::Buckets& q, std::int32_t v, double c, double tol) {
  if (!(c < t[v] - tol)) return false;
  t[v] = c;
  queued[v] = 1;
  q.push(v, c);
  return true;
}

}  // namespace

bool ActivationSolver::near_blocked(std::int32_t root, const std::vector<std::int32_t>& blocked) const {
  // A blocked node within a ray's reach (plus the longest edge: the tets around a blocked node do
  // not conduct either) of the root: a straight ray from it might cut through blocked tissue.
  if (blocked.empty()) return false;
  const double reach = std::sqrt(ray_length2_) + max_edge_;
  const double* pr = &points_[3 * static_cast<std::size_t>(root)];
  for (std::int32_t b : blocked) {
    const Vec3 d = sub(&points_[3 * static_cast<std::size_t>(b)], pr);
    if (d.x * d.x + d.y * d.y + d.z * d.z <= reach * reach) return true;
  }
  return false;
}

void ActivationSolver::exact_init(const Index* roots, const double* root_times, Index n_roots,
                                  ActivationWorkspace& ws) const {
  // Nodes within kInitHops edges of a root get t0 + s * sqrt(d^T M d) in the frame of the edge
  // root-node, s the larger slowness of the two; on the layer also the isotropic time at the
  // endocardial speed. These are upper bounds that the local solver may still lower. They are
  // also the only seeds of straight rays (src = root): a root with blocked tissue within a ray's
  // reach gets neither, and its surroundings are timed by the local solver alone.
  std::vector<std::int32_t>& ring = ws.ring;
  for (Index r = 0; r < n_roots; ++r) {
    const std::int32_t root = static_cast<std::int32_t>(roots[r]);
    if (!(ws.slow[static_cast<std::size_t>(root)] < kInf)) continue;  // blocked: never starts
    if (near_blocked(root, ws.blocked)) continue;  // no straight rays that could cross blocked tissue
    const double t0 = root_times != nullptr ? root_times[r] : 0.0;
    const std::int32_t mark = static_cast<std::int32_t>(r) + 1;
    ring.clear();
    ring.push_back(root);
    ws.stamp[static_cast<std::size_t>(root)] = mark;
    std::size_t begin = 0;
    for (int hop = 0; hop < kInitHops; ++hop) {
      const std::size_t end = ring.size();
      for (std::size_t q = begin; q < end; ++q) {
        const std::int32_t u = ring[q];
        for (std::int32_t k = graph_.indptr[static_cast<std::size_t>(u)]; k < graph_.indptr[static_cast<std::size_t>(u) + 1]; ++k) {
          const std::int32_t v = graph_.indices[static_cast<std::size_t>(k)];
          if (ws.stamp[static_cast<std::size_t>(v)] != mark) {
            ws.stamp[static_cast<std::size_t>(v)] = mark;
            ring.push_back(v);
          }
        }
      }
      begin = end;
    }
    const std::size_t ir = static_cast<std::size_t>(root);
    for (std::size_t q = 1; q < ring.size(); ++q) {
      const std::size_t x = static_cast<std::size_t>(ring[q]);
      const Vec3 d = sub(&points_[3 * x], &points_[3 * ir]);
      const double s = std::max(ws.slow[ir], ws.slow[x]);
      const double* fr[2] = {&frames_[9 * ir], &frames_[9 * x]};
      double frame[9];
      average_frame(fr, 2, frame);
      double t = t0 + s * std::sqrt(metric_len2(frame, d, speeds_));
      if (layer_[ir] && layer_[x]) {
        t = std::min(t, t0 + s * std::sqrt(d.x * d.x + d.y * d.y + d.z * d.z) / (0.5 * (endo_[ir] + endo_[x])));
      }
      if (t < ws.t[x]) {
        ws.t[x] = t;
        ws.src[x] = root;
        ws.tsrc[x] = t0;
      }
    }
  }
}

std::unique_ptr<ActivationWorkspace> ActivationSolver::acquire() const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (pool_.empty()) return std::make_unique<ActivationWorkspace>();
  std::unique_ptr<ActivationWorkspace> ws = std::move(pool_.back());
  pool_.pop_back();
  return ws;
}

void ActivationSolver::release(std::unique_ptr<ActivationWorkspace> ws) const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (pool_.size() < 64) pool_.push_back(std::move(ws));
}

void ActivationSolver::solve(const Index* roots, const double* root_times, Index n_roots, const double* speed_factor,
                             double* out) const {
  std::unique_ptr<ActivationWorkspace> ws = acquire();
  solve(roots, root_times, n_roots, speed_factor, out, *ws);
  release(std::move(ws));
}

void ActivationSolver::solve(const Index* roots, const double* root_times, Index n_roots, const double* speed_factor,
                             double* out, ActivationWorkspace& ws) const {
  check_sources(roots, root_times, n_roots);
  check_factors(speed_factor, 1);
  solve_checked(roots, root_times, n_roots, speed_factor, out, ws);
}

double ActivationSolver::init_times(const Index* roots, const double* root_times, Index n_roots,
                                    const double* speed_factor, ActivationWorkspace& ws) const {
  // slowness 1 / factor per node, the start times at the roots, and (Eikonal) the sources and the
  // exact times around the roots; returns the largest slowness
  const std::size_t n = static_cast<std::size_t>(n_nodes());
  ws.t.assign(n, kInf);
  ws.queued.assign(n, 0);
  ws.slow.resize(n);
  ws.blocked.clear();
  double max_slow = 1.0;
  if (speed_factor != nullptr) {
    for (std::size_t i = 0; i < n; ++i) {
      // blocked (factor 0): infinite slowness, so every update of the node is +inf
      ws.slow[i] = speed_factor[i] > 0.0 ? 1.0 / speed_factor[i] : kInf;
      if (ws.slow[i] < kInf) {
        max_slow = std::max(max_slow, ws.slow[i]);
      } else {
        ws.blocked.push_back(static_cast<std::int32_t>(i));
      }
    }
  } else {
    std::fill(ws.slow.begin(), ws.slow.end(), 1.0);
  }
  for (Index r = 0; r < n_roots; ++r) {
    const std::size_t root = static_cast<std::size_t>(roots[r]);
    if (!(ws.slow[root] < kInf)) continue;  // a root in blocked tissue never starts
    const double t0 = root_times != nullptr ? root_times[r] : 0.0;
    ws.t[root] = std::min(ws.t[root], t0);
  }
  if (method_ == ActivationMethod::kEikonal) {
    ws.stamp.assign(n, 0);
    ws.medium.resize(n);
    for (std::size_t i = 0; i < n; ++i) ws.medium[i] = layer_[i] ? -1.0 : ws.slow[i];
    ws.src.resize(n);
    for (std::size_t i = 0; i < n; ++i) ws.src[i] = static_cast<std::int32_t>(i);
    ws.tsrc.resize(n);  // read only where src is not the node itself, and written with it
    exact_init(roots, root_times, n_roots, ws);
  }
  return max_slow;
}

ActivationSolver::Sweep ActivationSolver::start_sweep(const double* root_times, Index n_roots,
                                                      double max_slow, ActivationWorkspace& ws) const {
  // bucket width: the smallest edge cost (no edge gets cheaper, factors are <= 1), for the Eikonal
  // solve a fraction of it; widened when the costliest step would need more than kMaxBuckets buckets
  double width = method_ == ActivationMethod::kEikonal ? min_cost_ / kEikonalBucketsPerEdge : min_cost_;
  const double span = std::ceil(max_increment_ * max_slow / width) + 2.0;
  std::int64_t n_buckets = span < static_cast<double>(kMaxBuckets) ? static_cast<std::int64_t>(span) : kMaxBuckets + 1;
  if (n_buckets > kMaxBuckets) {
    n_buckets = kMaxBuckets;
    width = max_increment_ * max_slow / static_cast<double>(kMaxBuckets - 2);
  }
  std::int64_t pow2 = 1;  // a power of two, so that the circular index is a mask
  while (pow2 < n_buckets) pow2 <<= 1;
  n_buckets = pow2;
  if (ws.buckets.size() < static_cast<std::size_t>(n_buckets)) ws.buckets.resize(static_cast<std::size_t>(n_buckets));
  for (auto& b : ws.buckets) b.clear();
  double t_start = kInf, t_last = 0.0;  // the latest start's bucket index must stay exact in double (< 2^52)
  for (Index r = 0; r < n_roots; ++r) {
    const double t0 = root_times != nullptr ? root_times[r] : 0.0;
    t_start = std::min(t_start, t0);
    t_last = std::max(t_last, t0);
  }
  if (!(t_start < kInf)) t_start = 0.0;
  if (t_last / width > 0x1p52) {
    throw std::invalid_argument("root_times: a start at " + num(t_last) + " ms is more than 2^52 bucket widths (" +
                                num(width) + " ms, the shortest edge's travel time) away");
  }
  return Sweep{ws.t.data(),   ws.slow.data(), ws.queued.data(), ws.src.data(), ws.tsrc.data(), ws.medium.data(),
               width,         1.0 / width,    n_buckets,        static_cast<std::int64_t>(t_start / width)};
}

template <class Visit>
void ActivationSolver::drain(const Sweep& s, detail::Buckets& q, Visit&& visit) const {
  // Processes the queued nodes bucket by bucket: visit(u, bucket, p) for node u at position p of
  // its bucket (the time t[u] is final unless a later correction re-queues u).
  std::uint8_t* const queued = s.queued;
  const double* const t = s.t;
  std::int64_t idle = 0;  // buckets visited in a row without processing a node
  while (q.count > 0) {
    std::vector<std::int32_t>& bucket = q.b[static_cast<std::size_t>(q.cur & (q.n_buckets - 1))];
    bool processed = false;
    for (std::size_t p = 0; p < bucket.size(); ++p) {
      const std::int32_t u = bucket[p];
      if (!queued[u]) continue;
      if (t[u] * q.inv_width >= static_cast<double>(q.cur + 1)) {
        // a value beyond the circular window (a late start time) waits for its own cycle
        q.push(u, t[u]);
        continue;
      }
      queued[u] = 0;
      processed = true;
      visit(u, bucket, p);
    }
    q.count -= static_cast<std::int64_t>(bucket.size());
    bucket.clear();
    ++q.cur;
    idle = processed ? 0 : idle + 1;
    // a whole cycle without work: every queued value lies beyond the window (late starts); move
    // the window to the earliest of them instead of stepping through the empty buckets
    if (idle >= q.n_buckets && q.count > 0) {
      q.restart(queued, t);
      idle = 0;
    }
  }
}

MITWIN_INLINE void ActivationSolver::relax_edges(const Sweep& s, detail::Buckets& q, std::int32_t u) const {
  // Dijkstra: every edge of u
  double* const t = s.t;
  std::uint8_t* const queued = s.queued;
  const double* const slow = s.slow;
  const std::int32_t* const indptr = graph_.indptr.data();
  const Slot* const adj = adj_.data();
  const double tu = t[u];
  for (std::int32_t k = indptr[u]; k < indptr[u + 1]; ++k) {
    const std::int32_t v = adj[k].node;
    relax(t, queued, q, v, tu + static_cast<double>(adj[k].cost) * slow[v], 0.0);
  }
}

MITWIN_INLINE void ActivationSolver::follow_ray(const Sweep& s, detail::Buckets& q, std::int32_t u) const {
  // virtual source: follow the straight ray from u's source to its neighbours in the same medium
  // (same speed factor, off the layer), timed with the larger of the two nodal metrics. A node that
  // is its own source (its value came from a local solve) has nothing to add: the ray from it is
  // the one-node update of its tets.
  std::int32_t* const src = s.src;
  if (layer_[static_cast<std::size_t>(u)] || src[u] == u) return;
  double* const t = s.t;
  std::uint8_t* const queued = s.queued;
  double* const tsrc = s.tsrc;
  const double* const medium = s.medium;
  const double* const pts = points_.data();
  const double* const metric = metric_.data();
  const std::int32_t* const indptr = graph_.indptr.data();
  const Slot* const adj = adj_.data();
  const double ray2 = ray_length2_;
  const std::int32_t su_node = src[u];
  const double* su = &pts[3 * static_cast<std::size_t>(su_node)];
  const double tsu = tsrc[u];
  const double slow_u = s.slow[u];
  const double* gu = &metric[9 * static_cast<std::size_t>(u)];
  for (std::int32_t k = indptr[u]; k < indptr[u + 1]; ++k) {
    const std::int32_t v = adj[k].node;
    if (medium[v] != slow_u || (!queued[v] && t[v] < kInf)) continue;  // other medium, or settled
    const Vec3 d = sub(&pts[3 * static_cast<std::size_t>(v)], su);
    if (d.x * d.x + d.y * d.y + d.z * d.z > ray2) continue;
    const double* gv = &metric[9 * static_cast<std::size_t>(v)];
    const double a0 = dot(d, gu), a1 = dot(d, gu + 3), a2 = dot(d, gu + 6);
    const double b0 = dot(d, gv), b1 = dot(d, gv + 3), b2 = dot(d, gv + 6);
    const double l2 = std::max(a0 * a0 + a1 * a1 + a2 * a2, b0 * b0 + b1 * b1 + b2 * b2);
    if (relax(t, queued, q, v, tsu + slow_u * std::sqrt(l2), kTol)) {
      src[v] = su_node;
      tsrc[v] = tsu;
    }
  }
}

// Not forced inline: GCC 12 dropped the prefetch below when this was inlined into the driver
// (about 30 % slower on the 153.6k-node shell); as a call per node it keeps it.
void ActivationSolver::update_tets(const Sweep& s, detail::Buckets& q, std::int32_t u,
                                   const std::vector<std::int32_t>& bucket, std::size_t p) const {
  // update the other three nodes of every tet of u from their opposite faces
  double* const t = s.t;
  std::uint8_t* const queued = s.queued;
  std::int32_t* const src = s.src;
  const double* const slow = s.slow;
  const Incidence* const incidence = incidence_.data();
  const std::int32_t* const tet_ptr = graph_.tet_ptr.data();
  const double tu = t[u];
  const double final_before = tu - kReopenBuckets * s.width;
  // The records of the next node in the bucket are fetched while u's are processed, one cache
  // line per record (a burst of prefetches would stall on the full miss queue).
  const char* ahead = nullptr;
  const char* ahead_end = nullptr;
  for (std::size_t r = p + 1; r < bucket.size(); ++r) {
    const std::int32_t w = bucket[r];
    if (!queued[w]) continue;  // already processed: a stale entry
    ahead = reinterpret_cast<const char*>(incidence + tet_ptr[w]);
    ahead_end = reinterpret_cast<const char*>(incidence + tet_ptr[w + 1]);
    break;
  }
  for (std::int32_t pt = tet_ptr[u]; pt < tet_ptr[u + 1]; ++pt) {
    if (ahead < ahead_end) {
      prefetch(ahead);
      ahead += 64;
    }
    const Incidence& in = incidence[pt];
    // Only settled values (finite and not waiting in the queue) enter a face update, and a face
    // with a queued node is left to that node: it updates the tet when it is processed. Two
    // queued nodes: every face opposite another node holds one of them.
    const unsigned queued_mask = static_cast<unsigned>(queued[in.other[0]]) |
                                 static_cast<unsigned>(queued[in.other[1]]) << 1 |
                                 static_cast<unsigned>(queued[in.other[2]]) << 2;
    if (queued_mask & (queued_mask - 1)) continue;
    // One queued node: the only node whose opposite face is settled. None: every other node that
    // may have been processed out of order, until the first improvement queues one (then every
    // remaining face holds it); a node settled more than kReopenBuckets bucket widths before u is
    // final.
    const double tt[4] = {tu, t[in.other[0]], t[in.other[1]], t[in.other[2]]};
    const unsigned targets =
        queued_mask ? queued_mask
                    : (static_cast<unsigned>(tt[1] > final_before) | static_cast<unsigned>(tt[2] > final_before) << 1 |
                       static_cast<unsigned>(tt[3] > final_before) << 2);
    if (targets == 0) continue;
    const float* L = in.len2;
    for (int k = 1; k < 4; ++k) {
      if (!(targets >> (k - 1) & 1u)) continue;
      const std::int32_t x = in.other[k - 1];
      const double sx = slow[x];
      const double lo = std::min({tu, tt[kFace[k][1]], tt[kFace[k][2]]});
      if (lo + sx * in.height[k - 1] >= tt[k] - kTol) continue;
      const double cand = k == 1 ? tet_update<1>(tt, L, sx) : (k == 2 ? tet_update<2>(tt, L, sx) : tet_update<3>(tt, L, sx));
      if (relax(t, queued, q, x, cand, kTol)) {
        src[x] = x;  // a value found by a local solve becomes a point source of its own
        break;
      }
    }
  }
}

void ActivationSolver::update_layer(const Sweep& s, detail::Buckets& q, std::int32_t u) const {
  // fast layer: isotropic triangles and edges at the endocardial speed
  double* const t = s.t;
  std::uint8_t* const queued = s.queued;
  std::int32_t* const src = s.src;
  const double* const slow = s.slow;
  const double tu = t[u];
  for (std::int32_t pr = tri_ptr_[static_cast<std::size_t>(u)]; pr < tri_ptr_[static_cast<std::size_t>(u) + 1]; ++pr) {
    const std::size_t r = static_cast<std::size_t>(node_tris_[static_cast<std::size_t>(pr)]);
    const std::int32_t* rv = &tri_nodes_[3 * r];
    const double* L = &tri_len2_[3 * r];
    const int ui = rv[0] == u ? 0 : (rv[1] == u ? 1 : 2);
    for (int k = 0; k < 3; ++k) {
      if (k == ui) continue;
      const int y = 3 - k - ui;  // the third vertex
      const std::int32_t x = rv[k];
      const double ty = t[rv[y]];
      // triangle edge index of the pair (i, j): 01 -> 0, 02 -> 1, 12 -> 2
      auto e = [](int i, int j) { return i + j - 1; };
      const double cand = ty < kInf ? solve_edge(tu, ty, L[e(ui, y)], L[e(ui, k)], L[e(y, k)], slow[x])
                                    : tu + slow[x] * std::sqrt(L[e(ui, k)]);
      if (relax(t, queued, q, x, cand, kTol)) src[x] = x;
    }
  }
  const std::int32_t* const indptr = graph_.indptr.data();
  const Slot* const adj = adj_.data();
  for (std::int32_t k = indptr[u]; k < indptr[u + 1]; ++k) {
    const std::int32_t v = adj[k].node;
    if (!layer_[static_cast<std::size_t>(v)]) continue;
    if (relax(t, queued, q, v, tu + static_cast<double>(adj[k].cost) * slow[v], kTol)) src[v] = v;
  }
}

void ActivationSolver::solve_checked(const Index* roots, const double* root_times, Index n_roots,
                                     const double* speed_factor, double* out, ActivationWorkspace& ws) const {
  const double max_slow = init_times(roots, root_times, n_roots, speed_factor, ws);
  const Sweep s = start_sweep(root_times, n_roots, max_slow, ws);
  // the queue is a local of its own (not a member of s), so that the pointers of s stay in registers
  detail::Buckets q{ws.buckets, s.inv_width, s.n_buckets, s.first};
  const std::size_t n = static_cast<std::size_t>(n_nodes());
  for (std::size_t i = 0; i < n; ++i) {
    if (s.t[i] < kInf) {
      q.push(static_cast<std::int32_t>(i), s.t[i]);
      s.queued[i] = 1;
    }
  }
  if (method_ == ActivationMethod::kDijkstra) {
    drain(s, q, [&](std::int32_t u, const std::vector<std::int32_t>&, std::size_t) { relax_edges(s, q, u); });
  } else {
    drain(s, q, [&](std::int32_t u, const std::vector<std::int32_t>& bucket, std::size_t p) {
      follow_ray(s, q, u);
      update_tets(s, q, u, bucket, p);
      if (layer_[static_cast<std::size_t>(u)]) update_layer(s, q, u);
    });
  }
  std::copy(ws.t.begin(), ws.t.end(), out);
}

void ActivationSolver::solve_batch(const Index* roots, const double* root_times, Index n_roots,
                                   const double* speed_factors, Index n_sets, double* out, int n_threads) const {
  check_sources(roots, root_times, n_roots);
  if (n_sets < 0) throw std::invalid_argument("speed_factors: expected at least zero rows");
  check_factors(speed_factors, n_sets);
  const int nt = static_cast<int>(std::min<Index>(std::max(1, resolve_threads(n_threads)), std::max<Index>(n_sets, 1)));
  const std::size_t n = static_cast<std::size_t>(n_nodes());
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
  {
    std::unique_ptr<ActivationWorkspace> ws = acquire();
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
    for (Index k = 0; k < n_sets; ++k) {
      solve_checked(roots, root_times, n_roots, speed_factors + static_cast<std::size_t>(k) * n,
                    out + static_cast<std::size_t>(k) * n, *ws);
    }
    release(std::move(ws));
  }
  (void)nt;
}

}  // namespace mitwin
