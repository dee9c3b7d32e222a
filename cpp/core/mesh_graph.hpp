// Connectivity of a tetrahedral mesh, built once per mesh: unique undirected edges, the
// symmetric CSR adjacency over them, and the node -> tet incidence.
//
// Indices are stored as int32 (meshes up to 2^31 - 1 nodes and CSR slots); the constructor
// checks the limits and every index before it stores anything.
#pragma once

#include <cstdint>
#include <vector>

#include "types.hpp"

namespace mitwin {

struct MeshGraph {
  std::int32_t n_nodes = 0;
  std::int32_t n_tets = 0;
  // tets[4 * t + k]: node k of tet t.
  std::vector<std::int32_t> tets;
  // Unique undirected edges, edge_nodes[2 * e] < edge_nodes[2 * e + 1].
  std::vector<std::int32_t> edge_nodes;
  // CSR adjacency (both directions): the neighbours of node i are
  // indices[indptr[i] .. indptr[i + 1]), sorted ascending; slot_edge[k] is the edge of slot k.
  std::vector<std::int32_t> indptr;
  std::vector<std::int32_t> indices;
  std::vector<std::int32_t> slot_edge;
  // Tets containing node i: node_tets[tet_ptr[i] .. tet_ptr[i + 1]).
  std::vector<std::int32_t> tet_ptr;
  std::vector<std::int32_t> node_tets;

  std::int64_t n_edges() const { return static_cast<std::int64_t>(edge_nodes.size() / 2); }

  // Builds the graph of `n_tets` tets (row-major (n_tets, 4) int64) over `n_nodes` nodes.
  // Throws std::invalid_argument on out-of-range indices, repeated nodes in a tet, or sizes
  // beyond the int32 limits.
  static MeshGraph from_tets(const Index* tets, Index n_tets, Index n_nodes);
};

}  // namespace mitwin
