// Huge-page host allocations (host_memory.h).
#include "dsbench/kernels/host_memory.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace dsbench::kernels {

namespace {
constexpr size_t kHuge = size_t(2) << 20;
}

void* host_alloc(size_t bytes) {
  const size_t align = bytes >= kHuge ? kHuge : 64;
  const size_t size = (std::max<size_t>(bytes, 1) + align - 1) / align * align;
  void* p = std::aligned_alloc(align, size);
  if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: where THP is off the buffer stays on small pages and works the same.
  if (align == kHuge) (void)::madvise(p, size, MADV_HUGEPAGE);
#endif
  return p;
}

void host_free(void* p) { std::free(p); }

}  // namespace dsbench::kernels
