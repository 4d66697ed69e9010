// Large host buffers on transparent huge pages where the OS offers them (Linux: madvise with
// MADV_HUGEPAGE, honoured when THP is "madvise" or "always"). Streaming weights and KV blocks from
// 2 MiB pages takes far fewer TLB misses: on the development host, both cores reading 256 MiB got
// 15.7-17.3 GB/s from 4 KiB pages and 18.6-19.2 GB/s from huge pages, in the same minutes.
#pragma once

#include <cstddef>

namespace dsbench::kernels {

// Uninitialised, 64-byte aligned at least; from 2 MiB up, 2 MiB aligned and advised for huge
// pages (the pages are faulted in on first write). Throws std::bad_alloc. Free with host_free.
void* host_alloc(size_t bytes);
void host_free(void* p);

}  // namespace dsbench::kernels
