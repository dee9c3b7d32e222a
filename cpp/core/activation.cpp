// Placeholder translation unit; the implementation lands with its issue.
#include "types.hpp"
