// A mask applied to its weight in place, in one pass: the fused twin of fake_sparsity._apply_mask(out=weight).
//
// The rule is torch.where(mask.bool(), weight, 0): an entry whose mask value is zero (+0 or -0) becomes +0,
// every other entry (NaN masks included) keeps its weight bit for bit, inf and NaN weights too. Both are read
// as unsigned integers of the element's width, so a zero mask value is one whose bits other than the sign are
// all 0, and there is no float arithmetic at all: nothing a build flag or a rounding mode could change.
//
// Why a kernel for something torch does in one call: baking a mask is where the readable version's row chunks
// (a comparison into a reused buffer and a multiply, two parallel regions per chunk, then a sum to catch
// non-finite weights) each wait for the slowest thread; on a machine whose cores are all busy that is one
// scheduler time slice per region. Here chunks are claimed one at a time from an atomic counter, so a thread
// the OS deschedules holds back its one chunk, not the pass, and small weights use one thread and no parallel
// region at all (the caller chooses the thread count). No buffer is allocated, and a helper thread that cannot
// start leaves its chunks to the others: the pass always completes.
//
// Under flush-to-zero (torch.set_flush_denormal) torch may read a denormal mask value as zero; the kernel then
// declines and the caller uses the readable version.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace {

bool flushes_denormals() {
#if defined(__SSE__)
  return (_mm_getcsr() & 0x8040u) != 0;  // DAZ (bit 6) or FTZ (bit 15)
#else
  return false;
#endif
}

// Zeroes weight[i] wherever mask[i] is +0 or -0, for i in [begin, end). Written as a select so that the
// compiler vectorizes it (a masked blend per vector; the weight's lines are written whole anyway).
template <typename Bits>
void apply(Bits* __restrict weight, const Bits* __restrict mask, int64_t begin, int64_t end) {
  constexpr Bits magnitude = static_cast<Bits>(~Bits{0}) >> 1;  // every bit but the sign
  for (int64_t i = begin; i < end; ++i) weight[i] = (mask[i] & magnitude) ? weight[i] : Bits{0};
}

template <typename Bits>
void run(void* weight, const void* mask, int64_t elements, int threads, int64_t chunk_elements) {
  auto* w = static_cast<Bits*>(weight);
  const auto* m = static_cast<const Bits*>(mask);
  const int64_t chunks = (elements + chunk_elements - 1) / chunk_elements;
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t chunk = next++; chunk < chunks; chunk = next++) {
      apply(w, m, chunk * chunk_elements, std::min(elements, (chunk + 1) * chunk_elements));
    }
  };
  const int64_t helpers_wanted = std::min<int64_t>(threads, chunks) - 1;
  std::vector<std::thread> helpers;
  try {
    helpers.reserve(std::max<int64_t>(0, helpers_wanted));
    for (int64_t t = 0; t < helpers_wanted; ++t) helpers.emplace_back(worker);
  } catch (...) {
    // a thread that could not start: the threads that did and this one claim every chunk between them
  }
  worker();
  for (auto& helper : helpers) helper.join();
}

}  // namespace

extern "C" {

// Return codes of mask_in_place.
enum { OK = 0, BAD_ARGUMENT = 1, DECLINED = 3 };  // 2 (FAILED) is weight_norm_mask's alone

int mask_in_place_abi_version() { return 1; }

// Applies the contiguous `mask` to the contiguous `weight` of the same shape and dtype, `elements` entries of
// `element_bytes` (2, 4 or 8) each, in place, on `threads` threads claiming `chunk_elements` at a time.
int mask_in_place(void* weight, const void* mask, int element_bytes, int64_t elements, int threads,
                  int64_t chunk_elements) {
  if (weight == nullptr || mask == nullptr || elements < 0 || threads < 1 || chunk_elements < 1 ||
      (element_bytes != 2 && element_bytes != 4 && element_bytes != 8)) {
    return BAD_ARGUMENT;
  }
  if (flushes_denormals()) return DECLINED;
  switch (element_bytes) {
    case 2: run<uint16_t>(weight, mask, elements, threads, chunk_elements); break;
    case 4: run<uint32_t>(weight, mask, elements, threads, chunk_elements); break;
    default: run<uint64_t>(weight, mask, elements, threads, chunk_elements); break;
  }
  return OK;
}

}  // extern "C"
