#include "types.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mitwin {

int resolve_threads(int n_threads) {
#ifdef _OPENMP
  const int n = n_threads > 0 ? n_threads : omp_get_max_threads();
  return n < 1 ? 1 : (n > kMaxThreads ? kMaxThreads : n);
#else
  (void)n_threads;
  return 1;
#endif
}

}  // namespace mitwin
