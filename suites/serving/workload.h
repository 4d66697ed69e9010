// What the load client sends and when: prompts (random, or a JSONL file) and arrival times
// (gamma inter-arrivals: shape = burstiness, scale = 1 / (rate * burstiness); 1.0 is Poisson).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dsbench::serving {

struct LoadRequest {
  std::string prompt;               // text prompt (used when prompt_ids is empty)
  std::vector<int32_t> prompt_ids;  // token-id prompt (completions only)
  int64_t prompt_len = 0;           // as the dataset counts it (words or ids); usage wins when given
  int64_t output_len = 16;          // max_tokens
};

enum class PromptFormat { kText, kIds };

struct RandomDatasetOptions {
  int64_t num_prompts = 100;
  int64_t input_len = 1024;
  int64_t output_len = 128;
  double range_ratio = 0.0;  // lengths uniform in [len*(1-r), len*(1+r)], r in [0, 1)
  PromptFormat format = PromptFormat::kText;
  int64_t id_min = 100, id_max = 4000;  // token ids drawn from [id_min, id_max) for kIds
  uint64_t seed = 0;
};

// Text prompts are input_len random common English words (about one token each for BPE
// tokenizers; a byte-level server counts characters). UsageError on bad lengths or ratio.
std::vector<LoadRequest> random_dataset(const RandomDatasetOptions& opts);

// One JSON object per line: {"prompt": "..."} or {"prompt": [ids]}, optional "output_len"
// (or "max_tokens"). Blank lines are skipped; takes the first num_prompts (cycling when the file
// is shorter). UsageError naming file:line on bad content.
std::vector<LoadRequest> jsonl_dataset(const std::filesystem::path& path, int64_t num_prompts,
                                       int64_t default_output_len);

// Intended send times in seconds from the start: all 0 for an infinite rate.
std::vector<double> arrival_times(int64_t n, double request_rate, double burstiness, uint64_t seed);

}  // namespace dsbench::serving
