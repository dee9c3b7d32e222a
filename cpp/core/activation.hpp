// Ventricular activation times on a tetrahedral mesh.
//
// Two methods share one set-up per mesh and one label-correcting driver:
//  * Dijkstra: shortest paths along mesh edges (the graph model of Camps et al. 2021). An edge
//    i -> j costs sqrt(d^T F diag(1/vf^2, 1/vs^2, 1/vn^2) F^T d) with F the edge's frame
//    (the two nodal frames, sign-aligned, averaged and re-orthonormalised), or |d| / v_endo on
//    the fast endocardial layer (both ends in the layer, v_endo the mean of the two ends).
//  * Eikonal: the anisotropic Eikonal equation sqrt(grad t^T V^2 grad t) = 1 with the
//    tetrahedral local solver: a node is updated from the opposite face of each of its tets
//    (3, 2 or 1 known nodes), in the metric M = F diag(1/v^2) F^T of the tet (frame from its
//    four nodes). Known means settled (processed and not re-queued since); a face with a node
//    still in the queue is left to that node, which updates the tet when it is processed. A
//    settled node is updated again only by a node processed after it whose time is at most two
//    bucket widths later (the two may have been processed out of order); one settled earlier
//    than that is final, as in fast marching.
//    Fast-layer triangles and edges update isotropically at the endocardial speed. Nodes
//    within two edges of a root are initialised exactly, t0 + sqrt(d^T M d).
//    Each value also remembers its source: the root it was timed from along a straight ray, or
//    the node itself when a local solve gave it. In a homogeneous stretch around a root (same
//    speed factor, off the layer) a neighbour not yet settled may take the straight-ray time
//    from the root, timed with the larger of the two nodal metrics, for up to ten median edge
//    lengths. This removes the first-order error that linear interpolation accumulates around
//    a point source; past the ray limit (curved, non-convex walls) the tetrahedral solution
//    takes over.
//    Per node, the records of its tets are stored one after the other in a fixed local vertex
//    order with their geometry inline, so that processing a node reads one contiguous block.
//
// Speed factors are per node, 0 or in [kMinFactor, 1]. Reaching node x costs 1 / factor(x) times
// the healthy cost (the factor of the node being reached scales the local metric), so a layer
// of n slow nodes at spacing h delays a plane wave by n * h * (1/factor - 1) / v.
//
// Blocked tissue: a factor of 0 gives the node infinite slowness. It never activates (+inf, also
// when it is a root) and is never a known value of any update, so no wave passes through it:
//  * Dijkstra: an edge with a blocked end carries nothing;
//  * Eikonal: a tet with a blocked vertex carries a wave only between its other vertices, over
//    the face or edges they span (never across the blocked vertex); the same for the fast
//    layer's triangles and edges.
// The non-conducting region is thus the open star of the blocked nodes (the interiors of every
// tet, face and edge that touches one). Nodes cut off from every root by it stay at +inf.
//
// The queue is a circular bucket queue whose bucket width is the smallest edge cost (a quarter of
// it for the Eikonal solve): for Dijkstra every node in the current bucket is final, so each node
// is processed once; for the Eikonal solve values may still decrease and a node is re-queued
// (label correcting), which corrects the nodes a bucket processed out of order. A value beyond the circular window (a late
// start time) is re-queued for its own cycle rather than processed early.
//
// Units: mm, m/s (= mm/ms), ms. The solver object is immutable after construction and safe to
// call from several threads, each with its own Workspace.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "mesh_graph.hpp"
#include "types.hpp"

namespace mitwin {

enum class ActivationMethod { kDijkstra, kEikonal };

namespace detail {
struct Buckets;  // the circular bucket queue of one solve (activation.cpp)
}

// Bounds on the inputs (Python checks the same, mitwin.ep.activation): conduction speeds (m/s) and
// coordinates (mm) of a physical range, so that no travel time overflows or underflows; root start
// times (ms) within a horizon, so that the bucket queue reaches every start in bounded work.
constexpr double kMinSpeed = 1e-4;
constexpr double kMaxSpeed = 1e4;
constexpr double kMaxCoordinate = 1e6;
constexpr double kMaxRootTime = 1e6;
// Smallest speed factor of a conducting node (0 is accepted too: blocked).
constexpr double kMinFactor = 1e-6;

// Per-thread scratch buffers, reused across solves (no allocation inside the solve loop once
// the buckets have grown to their working size).
struct ActivationWorkspace {
  std::vector<double> t;
  std::vector<double> slow;
  std::vector<std::uint8_t> queued;
  std::vector<std::vector<std::int32_t>> buckets;
  std::vector<std::int32_t> stamp;
  std::vector<std::int32_t> src;  // (n,) node at the virtual source of each value (Eikonal)
  std::vector<double> tsrc;       // (n,) time at that source, when it is not the node itself
  std::vector<std::int32_t> ring;
  std::vector<double> medium;  // (n,) slowness off the fast layer, -1 on it (Eikonal)
  std::vector<std::int32_t> blocked;  // nodes with speed factor 0
};

class ActivationSolver {
 public:
  // points (n_nodes, 3), fibres and sheets (n_nodes, 3) row-major; tets (n_tets, 4);
  // speeds (fibre, sheet, sheet-normal) m/s > 0; endo_speed (n_nodes,) or nullptr: nodes with
  // a finite value > 0 form the fast layer. Throws std::invalid_argument on bad input.
  ActivationSolver(const double* points, Index n_nodes, const Index* tets, Index n_tets, const double* fibres,
                   const double* sheets, const std::array<double, 3>& speeds, const double* endo_speed,
                   ActivationMethod method);

  Index n_nodes() const { return graph_.n_nodes; }
  Index n_edges() const { return graph_.n_edges(); }
  Index n_layer_triangles() const { return static_cast<Index>(tri_nodes_.size() / 3); }
  ActivationMethod method() const { return method_; }
  const MeshGraph& graph() const { return graph_; }

  // Healthy cost (ms) of every undirected edge, in the order of graph().edge_nodes.
  std::vector<double> edge_costs() const;

  // Activation times (ms) into out (n_nodes,); unreachable and blocked nodes get +inf. roots
  // (n_roots,), root_times (n_roots,) in [0, kMaxRootTime] or nullptr (all 0), speed_factor
  // (n_nodes,) 0 (blocked) or in [kMinFactor, 1], or nullptr (all 1).
  void solve(const Index* roots, const double* root_times, Index n_roots, const double* speed_factor, double* out,
             ActivationWorkspace& ws) const;
  void solve(const Index* roots, const double* root_times, Index n_roots, const double* speed_factor,
             double* out) const;

  // K solves with the rows of speed_factors (K, n_nodes) into out (K, n_nodes), in parallel
  // over K with n_threads OpenMP threads (<= 0: all). Identical to K calls of solve().
  void solve_batch(const Index* roots, const double* root_times, Index n_roots, const double* speed_factors,
                   Index n_sets, double* out, int n_threads) const;

 private:
  void check_sources(const Index* roots, const double* root_times, Index n_roots) const;
  void check_factors(const double* speed_factor, Index n_sets) const;
  // set-up, one step each
  void init_points(const double* points);
  void init_frames(const double* fibres, const double* sheets);
  void init_layer(const double* endo_speed);
  void init_edge_costs();
  void init_metric();
  void init_tet_records();
  void init_layer_triangles();

  // one solve: initial times, the queue, then the nodes in bucket order, each visited by the
  // method's update steps, which share one relaxation (Sweep::relax)
  struct Sweep;
  void solve_checked(const Index* roots, const double* root_times, Index n_roots, const double* speed_factor,
                     double* out, ActivationWorkspace& ws) const;
  double init_times(const Index* roots, const double* root_times, Index n_roots, const double* speed_factor,
                    ActivationWorkspace& ws) const;
  void exact_init(const Index* roots, const double* root_times, Index n_roots, ActivationWorkspace& ws) const;
  bool near_blocked(std::int32_t root, const std::vector<std::int32_t>& blocked) const;
  Sweep start_sweep(const double* root_times, Index n_roots, double max_slow, ActivationWorkspace& ws) const;
  template <class Visit>
  void drain(const Sweep& s, detail::Buckets& q, Visit&& visit) const;
  void relax_edges(const Sweep& s, detail::Buckets& q, std::int32_t u) const;
  void follow_ray(const Sweep& s, detail::Buckets& q, std::int32_t u) const;
  void update_tets(const Sweep& s, detail::Buckets& q, std::int32_t u, const std::vector<std::int32_t>& bucket,
                   std::size_t p) const;
  void update_layer(const Sweep& s, detail::Buckets& q, std::int32_t u) const;

  struct Slot {
    std::int32_t node;
    float cost;
  };

  ActivationMethod method_;
  MeshGraph graph_;
  std::vector<double> points_;      // (n, 3)
  std::vector<double> frames_;      // (n, 9): f, s, n per node, orthonormal
  std::vector<double> endo_;        // (n,) endocardial speed, 0 off the layer
  std::vector<std::uint8_t> layer_; // (n,) 1 on the fast layer
  std::vector<Slot> adj_;           // CSR slots of graph_: neighbour and healthy edge cost (ms)
  double min_cost_ = 0.0;           // smallest edge cost: the bucket width
  double max_increment_ = 0.0;      // largest healthy one-step increase of a node's time
  double ray_length2_ = 0.0;        // squared length (mm^2) up to which a virtual source is followed
  double max_edge_ = 0.0;           // longest edge, mm (Eikonal)
  std::vector<double> metric_;      // (n, 9): rows f / vf, s / vs, n / vn: |metric_ d| = travel time of d
  // Eikonal data: per node, one record for each of its tets (in the order of
  // graph().node_tets), read sequentially when the node is processed. The tet is renumbered
  // locally with the node as vertex 0 and its other nodes as 1, 2, 3; the record holds those
  // nodes, the squared metric lengths of the six edges (pairs 01 02 03 12 13 23) and, for
  // k = 1, 2, 3, the metric distance of vertex k to the opposite face (a lower bound on how
  // much an update through that face adds).
  struct Incidence {
    std::int32_t other[3];
    float len2[6];
    float height[3];
  };
  std::vector<Incidence> incidence_;
  std::vector<std::int32_t> tri_nodes_;  // (n_tri, 3) fast-layer triangles
  std::vector<double> tri_len2_;    // (n_tri, 3): squared isotropic travel times of edges 01, 02, 12
  std::vector<std::int32_t> tri_ptr_, node_tris_;
  std::array<double, 3> speeds_;
  // Workspaces kept between calls of solve(); each call takes one (or makes a new one) under
  // the mutex, so concurrent calls never share buffers.
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<ActivationWorkspace>> pool_;
  std::unique_ptr<ActivationWorkspace> acquire() const;
  void release(std::unique_ptr<ActivationWorkspace> ws) const;
};

}  // namespace mitwin
