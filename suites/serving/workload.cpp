// Datasets and arrival schedules of the load client (see workload.h).
#include "serving/workload.h"

#include <cmath>
#include <algorithm>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "dsbench/error.h"

namespace dsbench::serving {

namespace {
// Short, common words: each is a single token in the usual BPE vocabularies.
const char* const kWords[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
    "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
    "been", "if", "more", "when", "will", "would", "who", "so", "no", "time", "people", "year",
    "way", "day", "man", "thing", "world", "life", "hand", "part", "child", "eye", "place",
    "work", "week", "case", "point", "number", "group", "fact", "good", "new", "first", "last",
    "long", "great", "little", "own", "other", "old", "right", "big", "high", "small", "large",
    "next", "early", "young", "few", "public", "bad", "same", "able"};
constexpr size_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);

int64_t draw_len(std::mt19937_64& rng, int64_t len, double r) {
  int64_t lo = std::max<int64_t>(1, static_cast<int64_t>(std::floor(len * (1 - r))));
  int64_t hi = std::max<int64_t>(lo, static_cast<int64_t>(std::floor(len * (1 + r))));
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}
}  // namespace

std::vector<LoadRequest> random_dataset(const RandomDatasetOptions& o) {
  if (o.num_prompts < 1) throw UsageError("--num-prompts: must be at least 1");
  if (o.input_len < 1) throw UsageError("--input-len: must be at least 1");
  if (o.output_len < 1) throw UsageError("--output-len: must be at least 1");
  if (!(o.range_ratio >= 0 && o.range_ratio < 1)) throw UsageError("--range-ratio: must be in [0, 1)");
  if (o.format == PromptFormat::kIds && !(o.id_min >= 0 && o.id_max > o.id_min))
    throw UsageError("--id-range: expected LO:HI with 0 <= LO < HI");
  std::mt19937_64 rng(o.seed);
  std::vector<LoadRequest> out(static_cast<size_t>(o.num_prompts));
  for (auto& r : out) {
    r.prompt_len = draw_len(rng, o.input_len, o.range_ratio);
    r.output_len = draw_len(rng, o.output_len, o.range_ratio);
    if (o.format == PromptFormat::kIds) {
      std::uniform_int_distribution<int64_t> id(o.id_min, o.id_max - 1);
      r.prompt_ids.resize(static_cast<size_t>(r.prompt_len));
      for (auto& t : r.prompt_ids) t = static_cast<int32_t>(id(rng));
    } else {
      std::uniform_int_distribution<size_t> w(0, kNumWords - 1);
      for (int64_t i = 0; i < r.prompt_len; ++i) {
        if (i) r.prompt += ' ';
        r.prompt += kWords[w(rng)];
      }
    }
  }
  return out;
}

std::vector<LoadRequest> jsonl_dataset(const std::filesystem::path& path, int64_t num_prompts,
                                       int64_t default_output_len) {
  std::ifstream in(path);
  if (!in) throw UsageError("--dataset: cannot open '" + path.string() + "'");
  std::vector<LoadRequest> rows;
  std::string line;
  for (int64_t lineno = 1; std::getline(in, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(lineno);
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw UsageError(where + ": expected one JSON object per line");
    if (!j.contains("prompt")) throw UsageError(where + ": missing field 'prompt'");
    LoadRequest r;
    const auto& p = j["prompt"];
    if (p.is_string()) {
      r.prompt = p.get<std::string>();
      r.prompt_len = static_cast<int64_t>(std::count(r.prompt.begin(), r.prompt.end(), ' ') + 1);
    } else if (p.is_array()) {
      for (const auto& t : p) {
        if (!t.is_number_integer()) throw UsageError(where + ": prompt: expected a string or token ids");
        r.prompt_ids.push_back(t.get<int32_t>());
      }
      r.prompt_len = static_cast<int64_t>(r.prompt_ids.size());
    } else {
      throw UsageError(where + ": prompt: expected a string or token ids");
    }
    if (r.prompt.empty() && r.prompt_ids.empty()) throw UsageError(where + ": prompt: empty");
    r.output_len = default_output_len;
    for (const char* k : {"output_len", "max_tokens"})
      if (j.contains(k)) {
        if (!j[k].is_number_integer() || j[k].get<int64_t>() < 1)
          throw UsageError(where + ": " + k + ": expected a positive integer");
        r.output_len = j[k].get<int64_t>();
      }
    rows.push_back(std::move(r));
  }
  if (rows.empty()) throw UsageError("--dataset: '" + path.string() + "' holds no prompts");
  std::vector<LoadRequest> out;
  for (int64_t i = 0; i < num_prompts; ++i) out.push_back(rows[static_cast<size_t>(i) % rows.size()]);
  return out;
}

std::vector<double> arrival_times(int64_t n, double request_rate, double burstiness, uint64_t seed) {
  std::vector<double> t(static_cast<size_t>(std::max<int64_t>(n, 0)), 0.0);
  if (std::isinf(request_rate)) return t;
  if (!(request_rate > 0)) throw UsageError("--request-rate: must be positive or 'inf'");
  if (!(burstiness > 0)) throw UsageError("--burstiness: must be positive");
  std::mt19937_64 rng(seed);
  std::gamma_distribution<double> gap(burstiness, 1.0 / (request_rate * burstiness));
  double now = 0;
  for (auto& x : t) {
    x = now;
    now += gap(rng);
  }
  return t;
}

}  // namespace dsbench::serving
