#include "mesh_graph.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace mitwin {

MeshGraph MeshGraph::from_tets(const Index* tets, Index n_tets, Index n_nodes) {
  constexpr Index kMax = std::numeric_limits<std::int32_t>::max();
  if (n_nodes <= 0 || n_nodes > kMax) {
    throw std::invalid_argument("n_nodes must lie in [1, 2^31 - 1], got " + std::to_string(n_nodes));
  }
  if (n_tets <= 0 || n_tets > kMax / 4) {
    throw std::invalid_argument("n_tets must lie in [1, 2^29 - 1], got " + std::to_string(n_tets));
  }
  MeshGraph g;
  g.n_nodes = static_cast<std::int32_t>(n_nodes);
  g.n_tets = static_cast<std::int32_t>(n_tets);
  g.tets.resize(static_cast<std::size_t>(4 * n_tets));
  for (Index t = 0; t < n_tets; ++t) {
    for (int k = 0; k < 4; ++k) {
      const Index v = tets[4 * t + k];
      if (v < 0 || v >= n_nodes) {
        throw std::invalid_argument("tets: index " + std::to_string(v) + " in tet " + std::to_string(t) +
                                    " is outside [0, " + std::to_string(n_nodes) + ")");
      }
      for (int l = 0; l < k; ++l) {
        if (tets[4 * t + l] == v) {
          throw std::invalid_argument("tets: tet " + std::to_string(t) + " repeats node " + std::to_string(v));
        }
      }
      g.tets[static_cast<std::size_t>(4 * t + k)] = static_cast<std::int32_t>(v);
    }
  }

  // node -> tet incidence (counting sort)
  const std::size_t n = static_cast<std::size_t>(n_nodes);
  g.tet_ptr.assign(n + 1, 0);
  for (std::int32_t v : g.tets) ++g.tet_ptr[static_cast<std::size_t>(v) + 1];
  for (std::size_t i = 0; i < n; ++i) g.tet_ptr[i + 1] += g.tet_ptr[i];
  g.node_tets.resize(g.tets.size());
  {
    std::vector<std::int32_t> fill(g.tet_ptr.begin(), g.tet_ptr.end() - 1);
    for (std::int32_t t = 0; t < g.n_tets; ++t) {
      for (int k = 0; k < 4; ++k) g.node_tets[static_cast<std::size_t>(fill[g.tets[4 * t + k]]++)] = t;
    }
  }

  // neighbours of each node from its tets: gather, sort, unique (rows are short)
  std::vector<std::int32_t> row;
  std::vector<std::int32_t> nbr;
  nbr.reserve(g.tets.size() * 3);
  g.indptr.assign(n + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    row.clear();
    for (std::int32_t p = g.tet_ptr[i]; p < g.tet_ptr[i + 1]; ++p) {
      const std::int32_t* tv = &g.tets[4 * static_cast<std::size_t>(g.node_tets[static_cast<std::size_t>(p)])];
      for (int k = 0; k < 4; ++k) {
        if (tv[k] != static_cast<std::int32_t>(i)) row.push_back(tv[k]);
      }
    }
    std::sort(row.begin(), row.end());
    row.erase(std::unique(row.begin(), row.end()), row.end());
    if (nbr.size() + row.size() > static_cast<std::size_t>(kMax)) {
      throw std::invalid_argument("tets: the mesh has more than 2^31 - 1 directed edges");
    }
    nbr.insert(nbr.end(), row.begin(), row.end());
    g.indptr[i + 1] = static_cast<std::int32_t>(nbr.size());
  }
  g.indices = std::move(nbr);

  // edge ids: edges numbered in CSR order of their smaller node
  g.slot_edge.assign(g.indices.size(), -1);
  g.edge_nodes.reserve(g.indices.size());
  std::int32_t e = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::int32_t k = g.indptr[i]; k < g.indptr[i + 1]; ++k) {
      const std::int32_t j = g.indices[static_cast<std::size_t>(k)];
      if (j > static_cast<std::int32_t>(i)) {
        g.slot_edge[static_cast<std::size_t>(k)] = e++;
        g.edge_nodes.push_back(static_cast<std::int32_t>(i));
        g.edge_nodes.push_back(j);
      }
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    for (std::int32_t k = g.indptr[i]; k < g.indptr[i + 1]; ++k) {
      const std::int32_t j = g.indices[static_cast<std::size_t>(k)];
      if (j < static_cast<std::int32_t>(i)) {
        const auto first = g.indices.begin() + g.indptr[static_cast<std::size_t>(j)];
        const auto last = g.indices.begin() + g.indptr[static_cast<std::size_t>(j) + 1];
        const auto it = std::lower_bound(first, last, static_cast<std::int32_t>(i));
        g.slot_edge[static_cast<std::size_t>(k)] = g.slot_edge[static_cast<std::size_t>(it - g.indices.begin())];
      }
    }
  }
  return g;
}

}  // namespace mitwin
