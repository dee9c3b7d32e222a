// Pseudo-ECG (Gima & Rudy 2002, Eq. 3 of Li et al.) on linear tetrahedra: lead field and QRS synthesis.
//
// The extracellular potential at an electrode x_e is
//
//     phi_e(t) = K * integral over the myocardium of  -grad(Vm) . grad(1/r) dV,   r = |x - x_e|.
//
// On linear tets grad(Vm) is constant per tet and linear in the nodal Vm, so with grad(1/r) taken at the
// tet centroid c (one-point quadrature, exact for a constant integrand; the electrodes are outside the
// myocardium, so 1/r is smooth over every tet):
//
//     phi_e(t) = sum_j L[j, e] * Vm_j(t),
//     L[j, e]  = K * sum_{tets T containing j} vol_T * grad(N_j^T) . (c_T - x_e) / |c_T - x_e|^3,
//
// because -grad(1/r) = (x - x_e) / r^3. With this sign a depolarisation front moving towards an
// electrode gives a positive potential there (the usual ECG convention).
//
// Every row of L sums to zero over a tet's nodes (sum_a grad N_a = 0), so a uniform Vm (rest or plateau)
// contributes nothing: only the upstroke, through Vm_j(t) = rest + amplitude * s(t - AT_j), matters.
#pragma once

#include <vector>

#include "types.hpp"

namespace mitwin {

// Lead field L (n_points x n_electrodes), row-major, K = `scale`.
// Accumulated per node over its incident tets (a node -> tets incidence gather), so the OpenMP loop over
// nodes has no race and the result does not depend on the thread count. Orientation-independent.
RowMatrixXd lead_field(const double* points, Index n_points, const Index* tets, Index n_tets,
                       const double* electrodes, Index n_electrodes, double scale, int n_threads);

// A sampled upstroke s(m * dt) for m = first, ..., first + values.size() - 1; s = 0 before `first`
// and s = values.back() after the last sample.
struct SampledTemplate {
  Index first = 0;
  std::vector<double> values;
};

// An IIR filter in second-order sections, run forwards and backwards (zero phase) over each signal.
// sos: n_sections rows (b0, b1, b2, a0, a1, a2) with a0 = 1; zi: n_sections rows (z0, z1), the state of
// each section in the steady state of a unit input. Each pass starts in the steady state of its first
// sample (scipy.signal.sosfiltfilt with padtype=None). Empty sos: no filter.
struct ZeroPhaseFilter {
  std::vector<double> sos;
  std::vector<double> zi;
};

// Smallest and largest of x[0 .. n) (both NaN if any value is NaN), in parallel: the range of a batch
// of activation maps without a serial pass over it. With skip_inf, +inf values (nodes that never
// activate) are left out: the range of the times that occur ((inf, -inf) if none does).
void value_range(const double* x, Index n, int n_threads, double* lo, double* hi, bool skip_inf = false);

// Filters x[0 .. n) in place.
void zero_phase_filter(const ZeroPhaseFilter& filter, double* x, Index n);

// QRS synthesis for K activation maps.
//
// Sample i is at time t0 + i * dt. For each map k: the lead weights L[j, :] are binned at (AT_j - t0) / dt
// with linear interpolation between the two neighbouring sample times (weight 1 - f to bin b = floor(u),
// f to bin b + 1, u = (AT - t0) / dt, f = u - b), then the binned weights are convolved with the sampled
// template:
//
//     out[k, e, i] = sum_j L[j, e] * ((1 - f_j) s((i - b_j) dt) + f_j s((i - b_j - 1) dt))
//
// i.e. each node's template is linearly interpolated in AT between samples, so the signal is continuous
// (piecewise linear) in AT. Cost O(N * E + T * E * W), W = template length. Each signal is then passed
// through `filter` (if it has sections).
//
// at: (n_maps, n_points) row-major, ms. Output (n_maps, E, n_samples). Nodes activated too late to reach the
// output window are skipped; so are nodes with AT = +inf (blocked tissue, cut-off islands): they never
// depolarise and contribute nothing. A map with an activation time that is NaN or before t0 (-inf included)
// is invalid: its output is left incomplete and `first_invalid` (if given) receives the lowest such map
// index (-1 if none).
//
// Parallel over fixed blocks of nodes (dynamic schedule), then over maps. The lead weights are read in
// chunks of nodes that stay in cache while up to 32 maps are binned, so a batch reads L once per 32 maps,
// not once per map. The summation order is fixed, so the result does not depend on the thread count.
// Number of doubles synthesize_qrs allocates for these sizes (output, partial bins of every block,
// per-thread bins), saturating at INT64_MAX: for a caller to bound the memory before the call.
Index synthesize_qrs_doubles(Index n_points, Index n_leads, Index n_maps, Index n_samples, Index template_first,
                             Index template_width, int n_threads);

std::vector<double> synthesize_qrs(const double* lead, Index n_points, Index n_leads, const double* at,
                                   Index n_maps, double t0, double dt, Index n_samples,
                                   const SampledTemplate& tmpl, const ZeroPhaseFilter& filter, int n_threads,
                                   Index* first_invalid = nullptr);

}  // namespace mitwin
