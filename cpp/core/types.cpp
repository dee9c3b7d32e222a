#include "types.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mitwin {

int resolve_threads(int n_threads) {
#ifdef _OPENMP
  return n_threads > 0 ? n_threads : omp_get_max_threads();
#else
  (void)n_threads;
  return 1;
#endif
}

}  // namespace mitwin
