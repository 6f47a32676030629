// The WeightNorm step's mask in two passes over the weight: the fused twin of reference_impl/block_masks.py.
//
// The rule is block_masks.py's, bit for bit: element scores |w| or w*w in float32 (an element whose mask entry
// is 0 scores 0), block means summed element by element in row-major order and divided once (as F.avg_pool2d
// does), the `count` lowest-mean blocks go (of those tied at the cut, the first by position), and in each of
// them the `zeros_per_block` lowest elements (ties: the first by position); scores rank as torch.topk ranks
// them (NaN after +inf). The Python version makes ~10 torch calls per row chunk, each its own pass over the
// chunk and its own parallel region. Here:
//
//   sample    runs of consecutive blocks spread over the weight; two of their quantiles bracket the k-th
//             lowest mean;
//   pass 1    one read of weight and mask: each block's code (below, at, inside, at or above the bracket's
//             ends; a byte), per chunk the counts of each, and the (mean, position) pairs strictly inside
//             (~1% of the blocks);
//   select    nth_element among those pairs gives the cut (or an end of the bracket, counted, is it);
//   pass 2    the mask written in place: whole blocks from their codes and the pairs, without reading the
//             weight again; only blocks of which fewer than all elements go read their scores again.
//
// Pass 1 of one-row blocks of one or four elements runs in AVX-512 registers where the build has them
// (classify_ones, classify_fours): GCC's loops over the scalar rule spent up to twice the read of weight and
// mask on packing and recounting codes. The sample asks for its runs' cache lines a few runs ahead.
// scripts/profile_weight_norm.py builds this file with its stage timers on and states each stage as a multiple
// of one read of the weight.
//
// When every block is chosen (2:4) there is no cut: one pass. If the sample misjudged the bracket (the k-th
// lowest outside it), two histogram passes over the means' bits find the cut exactly instead: slower, never
// wrong. Chunks are claimed one at a time from an atomic counter, so a thread the OS deschedules on a busy
// machine holds back its one chunk, not the pass.
//
// Scores are compared as integer keys: a non-negative float's bits order as the float does, and every NaN
// gets one key, just above +inf's. Built with -ffp-contract=off: no fused multiply-add may change a score.
// Integer keys and exact conversions are what torch computes with denormals kept; under flush-to-zero
// (torch.set_flush_denormal) the kernel declines and the caller uses the readable version.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace {

enum DType : int { F32 = 0, F16 = 1, BF16 = 2 };

constexpr int32_t NAN_KEY = 0x7F800001;  // one above +inf's bits
constexpr int32_t OPEN_LOW = -1;          // below every key: an open lower end of the bracket
constexpr int32_t OPEN_HIGH = INT32_MAX;  // above every key: an open upper end
constexpr int POSITION_BITS = 33;         // (key, position) pairs packed in 64 bits; keys need 31
constexpr uint64_t POSITION_MASK = (uint64_t{1} << POSITION_BITS) - 1;
constexpr int64_t BATCH = 1024;        // blocks scored at once, into buffers that stay in L1 / L2
constexpr int64_t MAX_BLOCK = 64;      // elements of the largest block this kernel takes
constexpr int64_t SAMPLE_RUN = 16;     // consecutive blocks sampled together (one or two cache lines)
constexpr int64_t SAMPLE_AHEAD = 8;    // runs whose lines are asked for before the one being scored
constexpr double SAMPLE_SIGMAS = 4.0;  // half-width of the sampled bracket, in binomial deviations
constexpr int64_t INSIDE_LIMIT = 8;    // a chunk may hold 1 / INSIDE_LIMIT of its blocks inside the bracket

std::atomic<int64_t> exact_searches{0};  // how often the sampled bracket missed (tests read it: the path is taken)

// Seconds the last call spent in each stage, when built with -DWEIGHT_NORM_PROFILE (scripts/profile_weight_norm.py
// reads them); otherwise a stage's timer compiles to nothing.
enum Stage : int { SAMPLE = 0, CLASSIFY = 1, SELECT = 2, WRITE = 3, STAGES = 4 };
double stage_seconds[STAGES] = {0, 0, 0, 0};

struct StageTimer {
#if defined(WEIGHT_NORM_PROFILE)
  Stage stage;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  explicit StageTimer(Stage measured) : stage(measured) {}
  ~StageTimer() {
    stage_seconds[stage] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
#else
  explicit StageTimer(Stage) {}
#endif
};

inline float from_bits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

inline uint32_t to_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// How each weight dtype is stored, read as |w| in float32 (exactly), tested as a mask entry, and written as one.
template <int W>
struct Storage;

template <>
struct Storage<F32> {
  using type = uint32_t;
  static constexpr type one = 0x3F800000u;
  static float magnitude(type bits) { return from_bits(bits & 0x7FFFFFFFu); }
  static bool keeps(type bits) { return (bits & 0x7FFFFFFFu) != 0; }  // any value but +-0 keeps (NaN too)
};

template <>
struct Storage<BF16> {
  using type = uint16_t;
  static constexpr type one = 0x3F80u;
  static float magnitude(type bits) { return from_bits(static_cast<uint32_t>(bits & 0x7FFFu) << 16); }
  static bool keeps(type bits) { return (bits & 0x7FFFu) != 0; }
};

template <>
struct Storage<F16> {
  using type = uint16_t;
  static constexpr type one = 0x3C00u;
  // By bit arithmetic: a normal's exponent rebiased by 127 - 15, inf / NaN moved to float's all-ones
  // exponent, a subnormal m * 2^-24 (exact in float32).
  static float magnitude(type stored) {
    const uint32_t bits = stored & 0x7FFFu;
    const uint32_t exponent = bits >> 10;
    const uint32_t widened = (bits << 13) + ((exponent == 31 ? 224u : 112u) << 23);
    const float subnormal = static_cast<float>(bits) * 5.9604644775390625e-8f;
    return exponent == 0 ? subnormal : from_bits(widened);
  }
  static bool keeps(type bits) { return (bits & 0x7FFFu) != 0; }
};

#if defined(__F16C__) && defined(__AVX__)
constexpr bool HAS_F16C = true;
#else
constexpr bool HAS_F16C = false;
#endif

// |w| of n stored weights as float32: element by element, or for float16 by the F16C instruction where the
// build has it (exact, like the bit arithmetic, and several times faster).
template <int W>
inline void magnitudes(const typename Storage<W>::type* __restrict in, int64_t n, float* __restrict out) {
  int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
  if constexpr (W == F16) {
    const __m256 no_sign = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (; i + 8 <= n; i += 8) {
      const __m256 value = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
      _mm256_storeu_ps(out + i, _mm256_and_ps(value, no_sign));
    }
  }
#endif
  for (; i < n; ++i) out[i] = Storage<W>::magnitude(in[i]);
}

// The order key of a score that is >= +0 or NaN: its bits, with every NaN (of either sign) one above +inf.
inline int32_t key_of(float score) {
  return static_cast<int32_t>(std::min<uint32_t>(to_bits(score) & 0x7FFFFFFFu, NAN_KEY));
}

struct Problem {
  const void* weight;
  void* mask;
  uint8_t* codes;  // one byte per block, the caller's (so its allocator sees the step's largest buffer)
  int64_t rows, cols, block_rows, block_cols;
  int64_t grid_cols, blocks, block_size;
  int64_t zeros_per_block, count;
  int threads;
  int64_t chunk_blocks;
  int64_t sample_size;

  int64_t chunks() const { return (blocks + chunk_blocks - 1) / chunk_blocks; }
  int64_t chunk_start(int64_t chunk) const { return chunk * chunk_blocks; }
  int64_t chunk_end(int64_t chunk) const { return std::min(blocks, (chunk + 1) * chunk_blocks); }
  bool whole_blocks() const { return zeros_per_block >= block_size; }
  // flat index of element j (row-major within the block) of block b
  int64_t element(int64_t b, int64_t j) const {
    if (block_rows == 1) return b * block_cols + j;
    const int64_t row = (b / grid_cols) * block_rows + j / block_cols;
    const int64_t col = (b % grid_cols) * block_cols + j % block_cols;
    return row * cols + col;
  }
};

// One thread's buffers: a batch's element scores and block keys, and a chunk's block verdicts.
struct Scratch {
  std::vector<float> scores;
  std::vector<int32_t> keys;
  std::vector<uint8_t> keep;

  explicit Scratch(const Problem& p) : scores(BATCH * p.block_size), keys(BATCH), keep(p.chunk_blocks) {}
};

// Scores and block keys of a weight of dtype W under norm N (1: |w|, 2: w * w), masked by its mask.
template <int W, int N>
struct Scorer {
  using S = Storage<W>;
  using T = typename S::type;
  const Problem& p;
  const T* __restrict weight;
  const T* __restrict mask;

  static constexpr bool CONVERTS_FIRST = W == F16 && HAS_F16C;  // the instruction converts 8 at once, not 1

  explicit Scorer(const Problem& problem)
      : p(problem), weight(static_cast<const T*>(problem.weight)), mask(static_cast<const T*>(problem.mask)) {}

  // the score of an element of magnitude |w| = `size` under mask entry `entry`: 0 where the mask zeroes it
  static float score(float size, T entry) { return S::keeps(entry) ? (N == 2 ? size * size : size) : 0.0f; }

  // the key of a block's mean, summed as F.avg_pool2d sums it: element by element in row-major order, divided once
  template <int64_t SIZE>
  static int32_t mean_key(const float* scores, int64_t size) {
    const int64_t n = SIZE > 0 ? SIZE : size;
    if (n == 1) return key_of(scores[0]);
    float total = scores[0] + scores[1];
    for (int64_t j = 2; j < n; ++j) total += scores[j];
    return key_of(total / static_cast<float>(n));
  }

  // scores of the elements of blocks [first, first + n), block after block, each in row-major order
  void element_scores(int64_t first, int64_t n, float* __restrict out) const {
    const int64_t size = n * p.block_size;
    if (p.block_rows == 1) {
      const int64_t start = first * p.block_cols;
      magnitudes<W>(weight + start, size, out);
      const T* __restrict m = mask + start;
      for (int64_t i = 0; i < size; ++i) out[i] = score(out[i], m[i]);
      return;
    }
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t j = 0; j < p.block_size; ++j) {
        const int64_t at = p.element(first + b, j);
        out[b * p.block_size + j] = score(S::magnitude(weight[at]), mask[at]);
      }
    }
  }

  // emit(i, key) for the blocks first + i, i in [0, n), of one-row blocks of BC elements, in one loop with no
  // buffer between the weight and the key (float16 with F16C: through `buffer`, its magnitudes converted first)
  template <int64_t BC, typename Emit>
  void each_row_block_key(int64_t first, int64_t n, float* __restrict buffer, Emit emit) const {
    const int64_t start = first * BC;
    const T* __restrict w = weight + start;
    const T* __restrict m = mask + start;
    auto keyed = [&](auto magnitude) {
      if constexpr (BC == 1) {  // no array of one: GCC vectorizes this loop only without it
        for (int64_t i = 0; i < n; ++i) emit(i, key_of(score(magnitude(i), m[i])));
        return;
      }
      for (int64_t i = 0; i < n; ++i) {
        float scores[BC];
        for (int64_t j = 0; j < BC; ++j) scores[j] = score(magnitude(BC * i + j), m[BC * i + j]);
        emit(i, mean_key<BC>(scores, BC));
      }
    };
    if constexpr (CONVERTS_FIRST) {
      magnitudes<W>(w, n * BC, buffer);
      keyed([&](int64_t i) { return buffer[i]; });
    } else {
      keyed([&](int64_t i) { return S::magnitude(w[i]); });
    }
  }

  // asks for the cache lines of one-row blocks [first, first + n) of weight and mask ahead of their scoring: the
  // sample's runs lie far apart, and scored one after another each waits on memory for its lines
  void prefetch(int64_t first, int64_t n) const {
    if (p.block_rows != 1) return;
    const char* w = reinterpret_cast<const char*>(weight + first * p.block_cols);
    const char* m = reinterpret_cast<const char*>(mask + first * p.block_cols);
    const int64_t bytes = n * p.block_cols * static_cast<int64_t>(sizeof(T));
    for (int64_t at = 0; at < bytes; at += 64) {
      __builtin_prefetch(w + at);
      __builtin_prefetch(m + at);
    }
  }

  // keys of the means of blocks [first, first + n); `scores` receives their n * block_size element scores
  void block_keys(int64_t first, int64_t n, int32_t* __restrict keys, float* __restrict scores) const {
    element_scores(first, n, scores);
    const int64_t size = p.block_size;
    for (int64_t b = 0; b < n; ++b) {
      keys[b] = size == 1 ? key_of(scores[b]) : size == 4 ? mean_key<4>(scores + 4 * b, 4) : mean_key<0>(scores + size * b, size);
    }
  }
};

// Each thread's buffers, allocated before the first pass: a failed allocation leaves the mask unwritten.
using Scratches = std::vector<Scratch>;

inline Scratches scratches_for(const Problem& p) {
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(p.threads, p.chunks()));
  return Scratches(threads, Scratch(p));
}

// Runs body(chunk, scratch) for every chunk on one thread per scratch (this one included), each claiming the
// next chunk when it is done with one.
template <typename Body>
void for_each_chunk(const Problem& p, Scratches& scratches, Body body) {
  const int64_t chunks = p.chunks();
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr failure;
  auto worker = [&](Scratch& scratch) {
    try {
      for (int64_t chunk = next++; chunk < chunks && !failed; chunk = next++) body(chunk, scratch);
    } catch (...) {
      if (!failed.exchange(true)) failure = std::current_exception();
    }
  };
  std::vector<std::thread> helpers;
  helpers.reserve(scratches.size() - 1);
  for (size_t t = 1; t < scratches.size(); ++t) helpers.emplace_back(worker, std::ref(scratches[t]));
  worker(scratches[0]);
  for (auto& thread : helpers) thread.join();
  if (failure) std::rethrow_exception(failure);
}

// Calls visit(first, n, keys) for the blocks of a chunk, a batch at a time.
template <typename Scores, typename Visit>
void visit_keys(const Scores& scorer, const Problem& p, int64_t chunk, Scratch& scratch, Visit visit) {
  const int64_t end = p.chunk_end(chunk);
  for (int64_t first = p.chunk_start(chunk); first < end; first += BATCH) {
    const int64_t n = std::min(BATCH, end - first);
    scorer.block_keys(first, n, scratch.keys.data(), scratch.scores.data());
    visit(first, n, static_cast<const int32_t*>(scratch.keys.data()));
  }
}

// Where a block's key lies against the bracket, one byte per block, written by pass 1 and read by pass 2.
enum Code : uint8_t { BELOW = 0, AT_LOW = 1, INSIDE = 2, AT_HIGH = 3, ABOVE = 4 };

struct Bracket {
  int32_t low = OPEN_LOW;    // keys below or at low are counted, not collected
  int32_t high = OPEN_HIGH;  // keys at or above high likewise; low < high

  uint8_t code(int32_t key) const { return (key >= low) + (key > low) + (key >= high) + (key > high); }
};

struct Tally {
  std::vector<int64_t> below, at_low, at_high;  // per chunk
  std::vector<std::vector<uint64_t>> inside;    // per chunk, in position order: (key << POSITION_BITS | block)
  std::atomic<bool> overflow{false};            // a chunk had too many inside: the bracket is useless

  explicit Tally(int64_t chunks) : below(chunks), at_low(chunks), at_high(chunks), inside(chunks) {}

  void reset() {
    for (auto& pairs : inside) std::vector<uint64_t>().swap(pairs);
    overflow = false;
  }

  static int64_t sum(const std::vector<int64_t>& counts) {
    int64_t total = 0;
    for (int64_t count : counts) total += count;
    return total;
  }
};

// Bit j set where codes[j] == code, for 64 codes: one vector compare where the build has one.
inline uint64_t code_mask64(const uint8_t* codes, uint8_t code) {
#if defined(__AVX512BW__)
  return _mm512_cmpeq_epi8_mask(_mm512_loadu_si512(codes), _mm512_set1_epi8(static_cast<char>(code)));
#elif defined(__AVX2__)
  const __m256i wanted = _mm256_set1_epi8(static_cast<char>(code));
  const auto half = [&](const uint8_t* at) {
    const __m256i loaded = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
    return static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(loaded, wanted))));
  };
  return half(codes) | half(codes + 32) << 32;
#else
  uint64_t hits = 0;
  for (int j = 0; j < 64; j += 8) {  // 8 codes a word: the has-zero-byte test on the word xor the code repeated
    uint64_t word;
    std::memcpy(&word, codes + j, sizeof word);
    const uint64_t x = word ^ (0x0101010101010101ull * code);
    if (((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull) == 0) continue;
    for (int k = 0; k < 8; ++k) hits |= static_cast<uint64_t>(codes[j + k] == code) << (j + k);
  }
  return hits;
#endif
}

// Calls found(i) for each i in [0, n) with codes[i] == code, in order: 64 codes at a time into a bit mask,
// then its set bits, so a sparse code costs no branch per code.
template <typename Found>
void each_with_code(const uint8_t* __restrict codes, int64_t n, uint8_t code, Found found) {
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (uint64_t hits = code_mask64(codes + i, code); hits != 0; hits &= hits - 1) found(i + __builtin_ctzll(hits));
  }
  for (; i < n; ++i) {
    if (codes[i] == code) found(i);
  }
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define WEIGHT_NORM_AVX512 1

// Pass 1 in AVX-512 registers, 16 blocks at a time, for one-row blocks of one or four elements: the scores,
// block means, keys and codes of Scorer::score, mean_key, key_of and Bracket::code computed lane by lane (the
// same exact float32 operations in the same order, so the same keys), the counts by population counts of the
// comparison masks. The loops GCC makes of the scalar rule spend most of their time packing compares into
// bytes and counting them again, and (for four-element blocks in half precision) converting through a buffer.

// 16 block keys at a time against the bracket: their codes stored, counted; the keys kept for the pairs.
struct LaneClassifier {
  const __m512i low, high;
  const __m128i one = _mm_set1_epi8(1);
  int64_t below = 0, at_low = 0, inside = 0, at_high = 0;

  explicit LaneClassifier(const Bracket& bracket)
      : low(_mm512_set1_epi32(bracket.low)), high(_mm512_set1_epi32(bracket.high)) {}

  // lanes outside `valid` are neither stored nor counted; keys[0, 16) receives all 16 (the buffer has room)
  void operator()(__m512i key, __mmask16 valid, uint8_t* __restrict code, int32_t* __restrict keys) {
    const __mmask16 ge_low = _mm512_mask_cmpge_epi32_mask(valid, key, low);
    const __mmask16 gt_low = _mm512_mask_cmpgt_epi32_mask(valid, key, low);
    const __mmask16 ge_high = _mm512_mask_cmpge_epi32_mask(valid, key, high);
    const __mmask16 gt_high = _mm512_mask_cmpgt_epi32_mask(valid, key, high);
    __m128i lane_code = _mm_maskz_mov_epi8(ge_low, one);  // the code summed in bytes: no narrowing after
    lane_code = _mm_mask_add_epi8(lane_code, gt_low, lane_code, one);
    lane_code = _mm_mask_add_epi8(lane_code, ge_high, lane_code, one);
    lane_code = _mm_mask_add_epi8(lane_code, gt_high, lane_code, one);
    if (valid == 0xFFFF) {  // a plain store: a masked one takes a microcode assist on each page it faults in
      _mm_storeu_si128(reinterpret_cast<__m128i*>(code), lane_code);
    } else {
      _mm_mask_storeu_epi8(code, valid, lane_code);
    }
    below += __builtin_popcount(valid & ~ge_low);
    at_low += __builtin_popcount(ge_low & ~gt_low);
    inside += __builtin_popcount(gt_low & ~ge_high);
    at_high += __builtin_popcount(ge_high & ~gt_high);
    _mm512_storeu_si512(keys, key);  // in L1, for the few pairs picked out after the batch
  }

  void report(int64_t* counts) const {
    counts[BELOW] = below;
    counts[AT_LOW] = at_low;
    counts[INSIDE] = inside;
    counts[AT_HIGH] = at_high;
  }
};

// The scores of 16 stored weights (lanes outside `valid` 0): |w| or w * w in float32, 0 where the mask zeroes.
template <int W, int N>
inline __m512 lane_scores(const typename Storage<W>::type* weight, const typename Storage<W>::type* mask,
                          __mmask16 valid) {
  const __m512i no_sign = _mm512_set1_epi32(0x7FFFFFFF);
  __m512i bits;  // the weights as float32 bits
  __mmask16 keeps;
  if constexpr (W == F32) {
    bits = _mm512_maskz_loadu_epi32(valid, weight);
    keeps = _mm512_mask_test_epi32_mask(valid, _mm512_maskz_loadu_epi32(valid, mask), no_sign);
  } else {
    const __m256i stored = _mm256_maskz_loadu_epi16(valid, weight);
    bits = W == F16 ? _mm512_castps_si512(_mm512_cvtph_ps(stored)) : _mm512_slli_epi32(_mm512_cvtepu16_epi32(stored), 16);
    keeps = _mm256_mask_test_epi16_mask(valid, _mm256_maskz_loadu_epi16(valid, mask), _mm256_set1_epi16(0x7FFF));
  }
  __m512 score = _mm512_castsi512_ps(_mm512_and_si512(bits, no_sign));
  if constexpr (N == 2) score = _mm512_mul_ps(score, score);
  return _mm512_maskz_mov_ps(keeps, score);
}

// key_of, lane by lane: a score (or a mean of scores) has no sign bit, so only NaNs need the min
inline __m512i lane_keys(__m512 scores) {
  return _mm512_min_epu32(_mm512_castps_si512(scores), _mm512_set1_epi32(NAN_KEY));
}

inline __mmask16 first_lanes(int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << count) - 1);
}

// Pass 1 over one-element blocks [first, first + n).
template <int W, int N>
void classify_ones(const Problem& p, const Bracket& bracket, int64_t first, int64_t n, uint8_t* __restrict code,
                   int32_t* __restrict keys, int64_t* __restrict counts) {
  using T = typename Storage<W>::type;
  const T* __restrict weight = static_cast<const T*>(p.weight) + first;
  const T* __restrict mask = static_cast<const T*>(p.mask) + first;
  LaneClassifier classify(bracket);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 valid = first_lanes(n - i);
    classify(lane_keys(lane_scores<W, N>(weight + i, mask + i, valid)), valid, code + i, keys + i);
  }
  classify.report(counts);
}

// Pass 1 over 1 x 4 blocks [first, first + n): a register holds four blocks' elements, each block in its own
// 128-bit lane; each block's sum is formed in that lane's first element as mean_key forms it, ((s0 + s1) + s2)
// + s3 (a float sum is commutative, not associative), times 1/4 (the same rounding as / 4: a power of two), and
// the four registers' sums gathered into the 16 lanes of one.
template <int W, int N>
void classify_fours(const Problem& p, const Bracket& bracket, int64_t first, int64_t n, uint8_t* __restrict code,
                    int32_t* __restrict keys, int64_t* __restrict counts) {
  using T = typename Storage<W>::type;
  const T* __restrict weight = static_cast<const T*>(p.weight) + 4 * first;
  const T* __restrict mask = static_cast<const T*>(p.mask) + 4 * first;
  const __m512 quarter = _mm512_set1_ps(0.25f);
  const __m512i first_of_pairs = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 28, 24, 20, 16, 12, 8, 4, 0);
  const __m512i halves = _mm512_set_epi32(23, 22, 21, 20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0);
  LaneClassifier classify(bracket);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 valid = first_lanes(n - i);  // blocks
    __m512 sums[4];
    for (int r = 0; r < 4; ++r) {  // blocks i + 4r .. i + 4r + 3: their elements valid where the block is
      const unsigned blocks = (valid >> (4 * r)) & 0xFu;
      const __mmask16 elements = static_cast<__mmask16>((blocks & 1u) * 0xFu | (blocks & 2u) * 0x78u |
                                                         (blocks & 4u) * 0x3C0u | (blocks & 8u) * 0x1E00u);
      const __m512 s = lane_scores<W, N>(weight + 4 * i + 16 * r, mask + 4 * i + 16 * r, elements);
      __m512 total = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(0, 0, 0, 1)));
      total = _mm512_add_ps(total, _mm512_permute_ps(s, _MM_SHUFFLE(0, 0, 0, 2)));
      sums[r] = _mm512_mul_ps(_mm512_add_ps(total, _mm512_permute_ps(s, _MM_SHUFFLE(0, 0, 0, 3))), quarter);
    }
    const __m512i low = _mm512_permutex2var_epi32(_mm512_castps_si512(sums[0]), first_of_pairs, _mm512_castps_si512(sums[1]));
    const __m512i high = _mm512_permutex2var_epi32(_mm512_castps_si512(sums[2]), first_of_pairs, _mm512_castps_si512(sums[3]));
    const __m512 means = _mm512_castsi512_ps(_mm512_permutex2var_epi32(low, halves, high));
    classify(lane_keys(means), valid, code + i, keys + i);
  }
  classify.report(counts);
}
#endif

// Pass 1 over the blocks [first, first + n): their codes into `code`, their keys into `keys` and how many of each
// code into `counts`.
template <int W, int N>
void classify_batch(const Scorer<W, N>& scorer, const Problem& p, const Bracket& bracket, int64_t first, int64_t n,
                    uint8_t* __restrict code, int32_t* __restrict keys, float* __restrict scores, int64_t* counts) {
#if defined(WEIGHT_NORM_AVX512)
  if (p.block_rows == 1 && p.block_size == 1) return classify_ones<W, N>(p, bracket, first, n, code, keys, counts);
  if (p.block_rows == 1 && p.block_size == 4) return classify_fours<W, N>(p, bracket, first, n, code, keys, counts);
#endif
  auto emit = [keys, code, ends = bracket](int64_t i, int32_t key) {  // a copy: byte stores may alias a reference
    keys[i] = key;
    code[i] = ends.code(key);
  };
  if (p.block_rows == 1 && p.block_size == 1) {
    scorer.template each_row_block_key<1>(first, n, scores, emit);
  } else if (p.block_rows == 1 && p.block_size == 4) {
    scorer.template each_row_block_key<4>(first, n, scores, emit);
  } else {
    scorer.block_keys(first, n, keys, scores);
    for (int64_t i = 0; i < n; ++i) code[i] = bracket.code(keys[i]);
  }
  int32_t batch[5] = {0, 0, 0, 0, 0};  // 32-bit counts vectorize twice as wide
  for (int64_t i = 0; i < n; ++i) {
    batch[BELOW] += code[i] == BELOW;
    batch[AT_LOW] += code[i] == AT_LOW;
    batch[INSIDE] += code[i] == INSIDE;
    batch[AT_HIGH] += code[i] == AT_HIGH;
  }
  for (int c = 0; c < 4; ++c) counts[c] = batch[c];
}

// Pass 1: each block's code, and per chunk how many are below and at each end of the bracket and the pairs
// strictly inside it. A chunk with more than 1 / INSIDE_LIMIT of its blocks inside stops collecting and flags
// the bracket useless (a sample blind to the distribution), which bounds the memory.
template <int W, int N>
void classify(const Problem& p, Scratches& scratches, const Bracket& bracket, uint8_t* codes, Tally* tally) {
  const Scorer<W, N> scorer(p);
  for_each_chunk(p, scratches, [&](int64_t chunk, Scratch& scratch) {
    int64_t counts[5] = {0, 0, 0, 0, 0};
    std::vector<uint64_t>& inside = tally->inside[chunk];
    const int64_t limit = std::max<int64_t>(BATCH, p.chunk_blocks / INSIDE_LIMIT);
    const int64_t end = p.chunk_end(chunk);
    for (int64_t first = p.chunk_start(chunk); first < end; first += BATCH) {
      const int64_t n = std::min(BATCH, end - first);
      uint8_t* __restrict code = codes + first;
      int32_t* keys = scratch.keys.data();
      int64_t batch[5] = {0, 0, 0, 0, 0};
      classify_batch<W, N>(scorer, p, bracket, first, n, code, keys, scratch.scores.data(), batch);
      for (int c = 0; c < 5; ++c) counts[c] += batch[c];
      if (batch[INSIDE] == 0) continue;
      if (static_cast<int64_t>(inside.size()) + batch[INSIDE] > limit) {
        tally->overflow = true;
        continue;
      }
      each_with_code(code, n, INSIDE, [&](int64_t i) {
        inside.push_back(static_cast<uint64_t>(keys[i]) << POSITION_BITS | static_cast<uint64_t>(first + i));
      });
    }
    tally->below[chunk] = counts[BELOW];
    tally->at_low[chunk] = counts[AT_LOW];
    tally->at_high[chunk] = counts[AT_HIGH];
  });
}

// The k lowest blocks in the order (key, position): every block of a key below `key`, and of those of `key`
// the ones up to position `last`.
struct Cut {
  int32_t key;
  int64_t last;
  bool chosen(int32_t block_key, int64_t block) const { return block_key < key || (block_key == key && block <= last); }
  bool chosen(uint64_t pair) const {
    return chosen(static_cast<int32_t>(pair >> POSITION_BITS), static_cast<int64_t>(pair & POSITION_MASK));
  }
};

// Position of the `nth` (1-based) block of `code`, given how many each chunk holds.
inline int64_t position_with_code(const Problem& p, const uint8_t* codes, const std::vector<int64_t>& per_chunk,
                                  uint8_t code, int64_t nth) {
  for (int64_t chunk = 0; chunk < p.chunks(); ++chunk) {
    if (nth > per_chunk[chunk]) {
      nth -= per_chunk[chunk];
      continue;
    }
    const int64_t first = p.chunk_start(chunk);
    int64_t found = -1;
    each_with_code(codes + first, p.chunk_end(chunk) - first, code, [&](int64_t i) {
      if (--nth == 0) found = first + i;
    });
    if (found >= 0) return found;
    break;
  }
  throw std::logic_error("fewer blocks of a code than counted");
}

// The rank-th lowest (key, position) of the pairs inside the bracket: the rank-th lowest key by nth_element over
// the keys alone (half the bytes of the pairs), then, of the pairs of that key, the one that makes the rank,
// by position (each chunk's pairs are in position order, and the chunks in order).
inline Cut cut_inside(const std::vector<std::vector<uint64_t>>& pairs, int64_t inside, int64_t rank) {
  std::vector<int32_t> keys;
  keys.reserve(inside);
  for (const auto& chunk_pairs : pairs) {
    for (uint64_t pair : chunk_pairs) keys.push_back(static_cast<int32_t>(pair >> POSITION_BITS));
  }
  std::nth_element(keys.begin(), keys.begin() + (rank - 1), keys.end());
  const int32_t key = keys[rank - 1];
  int64_t below = 0;
  for (int32_t other : keys) below += other < key;
  int64_t tied = rank - below;  // of the pairs of this key, the first `tied` are among the k lowest
  for (const auto& chunk_pairs : pairs) {
    for (uint64_t pair : chunk_pairs) {
      if (static_cast<int32_t>(pair >> POSITION_BITS) == key && --tied == 0) {
        return {key, static_cast<int64_t>(pair & POSITION_MASK)};
      }
    }
  }
  throw std::logic_error("fewer pairs of the cut's key than counted");
}

// The cut from pass 1's tally, or false when the k-th lowest lies outside the bracket (or the tally overflowed).
inline bool cut_from(const Problem& p, const Bracket& bracket, const uint8_t* codes, const Tally& tally, Cut* cut) {
  if (tally.overflow) return false;
  const int64_t below = Tally::sum(tally.below), at_low = Tally::sum(tally.at_low);
  if (p.count <= below) return false;
  if (p.count <= below + at_low) {
    *cut = {bracket.low, position_with_code(p, codes, tally.at_low, AT_LOW, p.count - below)};
    return true;
  }
  int64_t rank = p.count - below - at_low;
  int64_t inside = 0;
  for (const auto& pairs : tally.inside) inside += static_cast<int64_t>(pairs.size());
  if (rank <= inside) {
    *cut = cut_inside(tally.inside, inside, rank);
    return true;
  }
  rank -= inside;
  if (rank <= Tally::sum(tally.at_high)) {
    *cut = {bracket.high, position_with_code(p, codes, tally.at_high, AT_HIGH, rank)};
    return true;
  }
  return false;
}

// Sample quantiles around count / blocks, `sigmas` binomial deviations (plus 2) either side, as
// selection._bracket computes them, from runs of SAMPLE_RUN consecutive blocks spread evenly over the weight.
template <int W, int N>
Bracket sampled_bracket(const Problem& p, double sigmas) {
  const Scorer<W, N> scorer(p);
  const int64_t run = std::min<int64_t>(SAMPLE_RUN, p.blocks);
  const int64_t runs = std::max<int64_t>(1, std::min(p.blocks, p.sample_size) / run);
  std::vector<float> scores(run * p.block_size);
  std::vector<int32_t> sample(runs * run);
  auto start_of = [&](int64_t r) { return runs == 1 ? 0 : (p.blocks - run) * r / (runs - 1); };
  for (int64_t r = 0; r < runs; ++r) {
    if (r + SAMPLE_AHEAD < runs) scorer.prefetch(start_of(r + SAMPLE_AHEAD), run);
    scorer.block_keys(start_of(r), run, sample.data() + r * run, scores.data());
  }
  const double size = static_cast<double>(sample.size());
  const double fraction = static_cast<double>(p.count) / static_cast<double>(p.blocks);
  const double spread = sigmas * std::sqrt(size * fraction * (1.0 - fraction)) + 2.0;
  const int64_t low_rank = static_cast<int64_t>(std::floor(fraction * size - spread));
  const int64_t high_rank = static_cast<int64_t>(std::ceil(fraction * size + spread));
  Bracket bracket;
  if (low_rank >= 1) {
    std::nth_element(sample.begin(), sample.begin() + (low_rank - 1), sample.end());
    bracket.low = sample[low_rank - 1];
  }
  if (high_rank <= static_cast<int64_t>(sample.size())) {
    std::nth_element(sample.begin(), sample.begin() + (high_rank - 1), sample.end());
    bracket.high = sample[high_rank - 1];
  }
  if (bracket.high <= bracket.low) bracket.high = bracket.low + 1;  // a sample of ties: nothing strictly inside
  return bracket;
}

// The exact k-th lowest key by two histogram passes: over the keys' high 15 bits, then over the low 16 bits
// of the keys in the bin that holds it.
template <int W, int N>
int32_t kth_key_by_histograms(const Problem& p, Scratches& scratches) {
  const Scorer<W, N> scorer(p);
  auto histogram = [&](bool low_half, int32_t high_bits) {
    const int64_t bins = low_half ? (1 << 16) : (1 << 15);
    std::vector<std::vector<int64_t>> per_chunk(p.chunks());
    for_each_chunk(p, scratches, [&](int64_t chunk, Scratch& scratch) {
      std::vector<int64_t> counts(bins);
      visit_keys(scorer, p, chunk, scratch, [&](int64_t, int64_t n, const int32_t* k) {
        for (int64_t i = 0; i < n; ++i) {
          if (!low_half) {
            ++counts[k[i] >> 16];
          } else if ((k[i] >> 16) == high_bits) {
            ++counts[k[i] & 0xFFFF];
          }
        }
      });
      per_chunk[chunk] = std::move(counts);
    });
    std::vector<int64_t> total(bins);
    for (const auto& counts : per_chunk) {
      for (int64_t bin = 0; bin < bins; ++bin) total[bin] += counts[bin];
    }
    return total;
  };
  auto find = [](const std::vector<int64_t>& counts, int64_t* rank) {
    for (int64_t bin = 0; bin < static_cast<int64_t>(counts.size()); ++bin) {
      if (*rank <= counts[bin]) return static_cast<int32_t>(bin);
      *rank -= counts[bin];
    }
    throw std::logic_error("rank beyond the histogram");
  };
  int64_t rank = p.count;
  const int32_t high = find(histogram(false, 0), &rank);
  const int32_t low = find(histogram(true, high), &rank);
  return high << 16 | low;
}

// The cut, with `codes` and `tally` filled by pass 1 against the bracket that found it (pass 2 reads them).
template <int W, int N>
Cut find_cut(const Problem& p, Scratches& scratches, uint8_t* codes, Bracket* bracket, Tally* tally) {
  Cut cut{};
  {
    const StageTimer timer(SAMPLE);
    *bracket = sampled_bracket<W, N>(p, SAMPLE_SIGMAS);
  }
  {
    const StageTimer timer(CLASSIFY);
    classify<W, N>(p, scratches, *bracket, codes, tally);
  }
  {
    const StageTimer timer(SELECT);
    if (cut_from(p, *bracket, codes, *tally, &cut)) return cut;
  }
  ++exact_searches;
  const int32_t key = kth_key_by_histograms<W, N>(p, scratches);
  *bracket = Bracket{key, key + 1};  // the k-th lowest at its low end, nothing strictly inside
  tally->reset();
  classify<W, N>(p, scratches, *bracket, codes, tally);
  if (cut_from(p, *bracket, codes, *tally, &cut)) return cut;
  throw std::logic_error("the exact cut was not found");
}

// How pass 2 decides a block from its code: the codes below `first_kept` go, the others stay, but for the
// `compared` one (if any), decided block by block: AT_LOW / AT_HIGH by position alone (their key is the
// cut's), INSIDE by (key, position) from pass 1's pairs, with no second read of the weight.
struct Verdicts {
  int first_kept;
  int compared;  // -1: none
};

inline Verdicts verdicts_for(const Bracket& bracket, const Cut& cut) {
  if (cut.key == bracket.low) return {AT_LOW + 1, AT_LOW};
  if (cut.key == bracket.high) return {AT_HIGH + 1, AT_HIGH};
  return {AT_HIGH, INSIDE};
}

// Pass 2's writer: mask entries in the mask's dtype, 1 kept and 0 zeroed.
template <int W, int N>
struct Writer {
  using T = typename Storage<W>::type;
  static constexpr T one = Storage<W>::one;
  const Problem& p;
  const Scorer<W, N> scorer;
  T* __restrict mask;

  explicit Writer(const Problem& problem) : p(problem), scorer(problem), mask(static_cast<T*>(problem.mask)) {}

  // whole blocks [first, first + n): keep[i] (1 or 0) for every element of block first + i
  void expand(int64_t first, int64_t n, const uint8_t* __restrict keep) const {
    const int64_t size = p.block_size;
    if (p.block_rows == 1) {  // keep * one, not a branch: these loops vectorize
      T* __restrict out = mask + first * size;
      if (size == 1) {
        for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(keep[i] * one);
      } else if (size == 4) {
        for (int64_t i = 0; i < n; ++i) {
          const T value = static_cast<T>(keep[i] * one);
          for (int64_t j = 0; j < 4; ++j) out[4 * i + j] = value;
        }
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const T value = static_cast<T>(keep[i] * one);
          for (int64_t j = 0; j < size; ++j) out[size * i + j] = value;
        }
      }
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < size; ++j) mask[p.element(first + i, j)] = keep[i] ? one : T{0};
    }
  }

  // one chosen block of which zeros_per_block elements go (ties: the first); `scores` holds its element scores
  void write_elements(int64_t b, const float* scores) const {
    int32_t keys[MAX_BLOCK];
    const int64_t size = p.block_size;
    for (int64_t j = 0; j < size; ++j) keys[j] = key_of(scores[j]);
    for (int64_t j = 0; j < size; ++j) {
      int64_t rank = 0;  // how many of the block come before element j in the order (key, position)
      for (int64_t other = 0; other < size; ++other) rank += keys[other] < keys[j] || (keys[other] == keys[j] && other < j);
      mask[p.element(b, j)] = rank >= p.zeros_per_block ? one : T{0};
    }
  }

  // 1 x 4 blocks [first, first + n), every one chosen, `scores` their element scores: the rank of each
  // element in its block by (key, position), vectorized across blocks
  void write_fours(int64_t first, int64_t n, const float* __restrict scores) const {
    T* __restrict out = mask + first * 4;
    const int32_t zeros = static_cast<int32_t>(p.zeros_per_block);
    for (int64_t b = 0; b < n; ++b) {
      const int32_t k0 = key_of(scores[4 * b]), k1 = key_of(scores[4 * b + 1]);
      const int32_t k2 = key_of(scores[4 * b + 2]), k3 = key_of(scores[4 * b + 3]);
      const int32_t r0 = (k1 < k0) + (k2 < k0) + (k3 < k0);
      const int32_t r1 = (k0 <= k1) + (k2 < k1) + (k3 < k1);
      const int32_t r2 = (k0 <= k2) + (k1 <= k2) + (k3 < k2);
      const int32_t r3 = (k0 <= k3) + (k1 <= k3) + (k2 <= k3);
      out[4 * b] = r0 >= zeros ? one : T{0};
      out[4 * b + 1] = r1 >= zeros ? one : T{0};
      out[4 * b + 2] = r2 >= zeros ? one : T{0};
      out[4 * b + 3] = r3 >= zeros ? one : T{0};
    }
  }

  // blocks [first, first + n) of which fewer than all elements go in the chosen ones (keep[i]: not chosen)
  void write_partial(int64_t first, int64_t n, const uint8_t* keep, Scratch& scratch) const {
    const bool fours = p.block_rows == 1 && p.block_size == 4;
    for (int64_t start = 0; start < n; start += BATCH) {
      const int64_t count = std::min(BATCH, n - start);
      float* scores = scratch.scores.data();
      scorer.element_scores(first + start, count, scores);
      if (fours && keep == nullptr) {
        write_fours(first + start, count, scores);
        continue;
      }
      for (int64_t i = start; i < start + count; ++i) {
        if (keep != nullptr && keep[i]) {
          const uint8_t one_block = 1;
          expand(first + i, 1, &one_block);
        } else {
          write_elements(first + i, scores + (i - start) * p.block_size);
        }
      }
    }
  }

  // every block chosen (2:4): each block's lowest elements go
  void all_chosen(int64_t chunk, Scratch& scratch) const {
    write_partial(p.chunk_start(chunk), p.chunk_end(chunk) - p.chunk_start(chunk), nullptr, scratch);
  }

  // the blocks' verdicts from their codes, the compared ones' from the pairs or their positions
  void by_codes(int64_t chunk, const uint8_t* codes, const std::vector<uint64_t>& inside, const Verdicts& verdicts,
                const Cut& cut, Scratch& scratch) const {
    const int64_t first = p.chunk_start(chunk), n = p.chunk_end(chunk) - first;
    const uint8_t* __restrict code = codes + first;
    uint8_t* __restrict keep = scratch.keep.data();
    const int first_kept = verdicts.first_kept;
    for (int64_t i = 0; i < n; ++i) keep[i] = code[i] >= first_kept;
    if (verdicts.compared == INSIDE) {
      for (uint64_t pair : inside) keep[(pair & POSITION_MASK) - first] = !cut.chosen(pair);
    } else if (verdicts.compared >= 0) {  // at an end of the bracket: those after the cut's position stay
      const uint8_t compared = static_cast<uint8_t>(verdicts.compared);
      for (int64_t i = std::max<int64_t>(0, cut.last + 1 - first); i < n; ++i) keep[i] |= code[i] == compared;
    }
    if (p.whole_blocks()) {
      expand(first, n, keep);
    } else {
      write_partial(first, n, keep, scratch);
    }
  }
};

template <int W, int N>
void run(const Problem& p) {
#if defined(WEIGHT_NORM_PROFILE)
  for (double& seconds : stage_seconds) seconds = 0;
#endif
  const Writer<W, N> writer(p);
  Scratches scratches = scratches_for(p);
  if (p.count >= p.blocks) {  // every block chosen (2:4): no cut to find, one pass
    const StageTimer timer(WRITE);
    for_each_chunk(p, scratches, [&](int64_t chunk, Scratch& scratch) { writer.all_chosen(chunk, scratch); });
    return;
  }
  Bracket bracket;
  Tally tally(p.chunks());
  const Cut cut = find_cut<W, N>(p, scratches, p.codes, &bracket, &tally);
  const Verdicts verdicts = verdicts_for(bracket, cut);
  const StageTimer timer(WRITE);
  for_each_chunk(p, scratches, [&](int64_t chunk, Scratch& scratch) {  // allocates nothing: it writes the mask
    writer.by_codes(chunk, p.codes, tally.inside[chunk], verdicts, cut, scratch);
  });
}

template <int W>
void run_with_norm(const Problem& p, int norm) {
  if (norm == 1) {
    run<W, 1>(p);
  } else {
    run<W, 2>(p);
  }
}

// Asks for huge pages under the codes buffer where the system grants them on request (Linux, transparent huge
// pages in "madvise" mode or "always"): the buffer is fresh memory each step, a byte per block (64 MiB at 8192² in
// 1x1 blocks), and faulting it in 4 KiB pages took longer than pass 1 itself. Advice only: refused, nothing changes.
void advise_huge_pages(void* buffer, int64_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t HUGE_PAGE = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(buffer) + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(buffer) + static_cast<uintptr_t>(bytes)) & ~(HUGE_PAGE - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)buffer;
  (void)bytes;
#endif
}

// Whether this thread flushes denormals (torch.set_flush_denormal): then torch's float comparisons and
// products differ from exact ones, and the caller's readable version must decide.
bool flushes_denormals() {
#if defined(__SSE__)
  return (_mm_getcsr() & 0x8040u) != 0;  // DAZ (bit 6) or FTZ (bit 15)
#else
  return false;
#endif
}

}  // namespace

extern "C" {

// Return codes of weight_norm_mask.
enum { OK = 0, BAD_ARGUMENT = 1, FAILED = 2, DECLINED = 3 };

int weight_norm_mask_abi_version() { return 2; }

// How many cuts, in this process, were found by the exact histogram search after the sampled bracket missed.
int64_t weight_norm_mask_exact_searches() { return exact_searches.load(); }

// Seconds the last call spent sampling, in pass 1, selecting the cut and in pass 2 (or the one pass of 2:4):
// zeros unless built with -DWEIGHT_NORM_PROFILE. Not thread-safe: for the profiling script alone.
void weight_norm_mask_stage_seconds(double* out) {
  for (int stage = 0; stage < STAGES; ++stage) out[stage] = stage_seconds[stage];
}

// Writes the keep-mask (1 kept, 0 zeroed) of a contiguous rows x cols weight of `dtype` into its contiguous
// mask of the same dtype, in place. The sides must be whole numbers of blocks of at most 64 elements;
// 0 < count <= blocks and 0 < zeros_per_block, but not count == blocks with whole blocks zeroed (a fill).
// `codes` holds a byte per block (scratch), unless count == blocks (then it may be null).
int weight_norm_mask(const void* weight, void* mask, uint8_t* codes, int dtype, int64_t rows, int64_t cols,
                     int64_t block_rows, int64_t block_cols, int64_t zeros_per_block, int64_t count, int norm,
                     int threads, int64_t chunk_elements, int64_t sample_size) {
  if (rows <= 0 || cols <= 0 || block_rows <= 0 || block_cols <= 0 || rows % block_rows || cols % block_cols ||
      block_rows * block_cols > MAX_BLOCK || (norm != 1 && norm != 2) || threads < 1 || chunk_elements < 1 ||
      sample_size < 1 || (dtype != F32 && dtype != F16 && dtype != BF16)) {
    return BAD_ARGUMENT;
  }
  Problem p{};
  p.weight = weight;
  p.mask = mask;
  p.codes = codes;
  p.rows = rows;
  p.cols = cols;
  p.block_rows = block_rows;
  p.block_cols = block_cols;
  p.grid_cols = cols / block_cols;
  p.block_size = block_rows * block_cols;
  p.blocks = (rows / block_rows) * p.grid_cols;
  p.zeros_per_block = zeros_per_block;
  p.count = count;
  p.threads = threads;
  p.chunk_blocks = std::max<int64_t>(1, chunk_elements / p.block_size);
  p.sample_size = sample_size;
  if (count < 1 || count > p.blocks || zeros_per_block < 1 || p.blocks >= (int64_t{1} << POSITION_BITS) ||
      (count == p.blocks && p.whole_blocks()) || (count < p.blocks && codes == nullptr)) {
    return BAD_ARGUMENT;
  }
  if (flushes_denormals()) return DECLINED;
  if (codes != nullptr && p.blocks >= (int64_t{8} << 20)) advise_huge_pages(codes, p.blocks);
  try {
    switch (dtype) {
      case F32: run_with_norm<F32>(p, norm); break;
      case F16: run_with_norm<F16>(p, norm); break;
      default: run_with_norm<BF16>(p, norm); break;
    }
  } catch (...) {
    return FAILED;
  }
  return OK;
}

}  // extern "C"
