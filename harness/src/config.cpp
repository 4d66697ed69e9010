// Loads and validates Hugging Face config.json files into ModelConfig.
#include "dsbench/config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "dsbench/error.h"

namespace dsbench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Reads a field with a type check; messages name the file and the field.
class FieldReader {
 public:
  FieldReader(const json& j, const std::string& source) : j_(j), source_(source) {}

  int64_t integer(const char* field, bool required, int64_t fallback = 0) const {
    const json* v = find(field, required);
    if (!v || v->is_null()) {
      if (required && v) fail(field, "must not be null");
      return fallback;
    }
    if (!v->is_number_integer() &&
        !(v->is_number_float() && std::floor(v->get<double>()) == v->get<double>())) {
      fail(field, "expected an integer, got " + describe(*v));
    }
    return v->is_number_integer() ? v->get<int64_t>() : int64_t(v->get<double>());
  }
  int64_t positive(const char* field, bool required, int64_t fallback = 0) const {
    int64_t x = integer(field, required, fallback);
    if (has(field) && !j_.at(field).is_null() && x <= 0) {
      fail(field, "must be positive, got " + std::to_string(x));
    }
    return x;
  }
  double number(const char* field, bool required, double fallback = 0) const {
    const json* v = find(field, required);
    if (!v || v->is_null()) return fallback;
    if (!v->is_number()) fail(field, "expected a number, got " + describe(*v));
    return v->get<double>();
  }
  std::string string(const char* field, bool required, const std::string& fallback = "") const {
    const json* v = find(field, required);
    if (!v || v->is_null()) return fallback;
    if (!v->is_string()) fail(field, "expected a string, got " + describe(*v));
    return v->get<std::string>();
  }
  bool boolean(const char* field, bool fallback) const {
    const json* v = find(field, false);
    if (!v || v->is_null()) return fallback;
    if (!v->is_boolean()) fail(field, "expected true or false, got " + describe(*v));
    return v->get<bool>();
  }
  bool has(const char* field) const { return j_.contains(field); }
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw UsageError(source_ + ": field '" + field + "': " + what);
  }

 private:
  const json* find(const char* field, bool required) const {
    auto it = j_.find(field);
    if (it == j_.end()) {
      if (required) fail(field, "missing (required)");
      return nullptr;
    }
    return &*it;
  }
  static std::string describe(const json& v) {
    std::string d = v.dump();
    if (d.size() > 40) d = d.substr(0, 37) + "...";
    return std::string(v.type_name()) + " " + d;
  }
  const json& j_;
  std::string source_;
};

}  // namespace

json read_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path.string() + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw UsageError(path.string() + ": malformed JSON: " + e.what());
  }
}

fs::path models_dir() {
  if (const char* env = std::getenv("DSBENCH_CONFIG_DIR")) return fs::path(env) / "models";
  fs::path src = fs::path(DSBENCH_SOURCE_DIR) / "configs" / "models";
  if (fs::is_directory(src)) return src;
  return fs::current_path() / "configs" / "models";
}

std::vector<std::string> list_models() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(models_dir(), ec)) {
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

ModelConfig parse_model_config(const json& j, const std::string& source) {
  if (!j.is_object()) throw UsageError(source + ": expected a JSON object (a config.json)");
  FieldReader r(j, source);
  ModelConfig c;
  c.raw = j;
  c.model_type = r.string("model_type", false, "");
  c.hidden_size = r.positive("hidden_size", true);
  c.num_hidden_layers = r.positive("num_hidden_layers", true);
  c.num_attention_heads = r.positive("num_attention_heads", true);
  c.num_key_value_heads = r.positive("num_key_value_heads", false, c.num_attention_heads);
  c.vocab_size = r.positive("vocab_size", true);
  c.intermediate_size = r.positive("intermediate_size", false, 0);
  c.max_position_embeddings = r.positive("max_position_embeddings", false, 4096);
  c.rms_norm_eps = r.number("rms_norm_eps", false, 1e-6);
  c.rope_theta = r.number("rope_theta", false, 10000.0);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    r.fail("num_key_value_heads", "must divide num_attention_heads (" +
                                      std::to_string(c.num_attention_heads) + ")");
  }

  // MLA models name a kv_lora_rank; everything else is grouped-query attention.
  if (r.has("kv_lora_rank") && !j.at("kv_lora_rank").is_null()) {
    c.attention = AttentionKind::kMla;
    c.kv_lora_rank = r.positive("kv_lora_rank", true);
    c.q_lora_rank = r.integer("q_lora_rank", false, 0);  // null: no query compression
    if (c.q_lora_rank < 0) r.fail("q_lora_rank", "must be positive or null");
    c.qk_nope_head_dim = r.positive("qk_nope_head_dim", true);
    c.qk_rope_head_dim = r.positive("qk_rope_head_dim", true);
    c.v_head_dim = r.positive("v_head_dim", true);
    if (c.qk_rope_head_dim % 2) r.fail("qk_rope_head_dim", "must be even (RoPE pairs)");
  } else {
    c.attention = AttentionKind::kGqa;
    c.head_dim = r.positive("head_dim", false, 0);
    if (c.head_dim == 0) {
      if (c.hidden_size % c.num_attention_heads) {
        r.fail("head_dim", "missing and hidden_size is not a multiple of num_attention_heads");
      }
      c.head_dim = c.hidden_size / c.num_attention_heads;
    }
  }

  c.n_routed_experts = r.integer("n_routed_experts", false, 0);
  if (c.n_routed_experts < 0) r.fail("n_routed_experts", "must not be negative");
  if (c.n_routed_experts > 0) {
    c.num_experts_per_tok = r.positive("num_experts_per_tok", true);
    c.moe_intermediate_size = r.positive("moe_intermediate_size", true);
    c.n_shared_experts = r.integer("n_shared_experts", false, 0);
    c.n_group = r.positive("n_group", false, 1);
    c.topk_group = r.positive("topk_group", false, 1);
    c.first_k_dense_replace = r.integer("first_k_dense_replace", false, 0);
    c.moe_layer_freq = r.positive("moe_layer_freq", false, 1);
    c.routed_scaling_factor = r.number("routed_scaling_factor", false, 1.0);
    c.scoring_func = r.string("scoring_func", false, "softmax");
    c.topk_method = r.string("topk_method", false, "greedy");
    c.norm_topk_prob = r.boolean("norm_topk_prob", false);
    if (c.num_experts_per_tok > c.n_routed_experts) {
      r.fail("num_experts_per_tok", "exceeds n_routed_experts");
    }
    if (c.n_routed_experts % c.n_group) r.fail("n_group", "must divide n_routed_experts");
    if (c.topk_group > c.n_group) r.fail("topk_group", "exceeds n_group");
    if (c.scoring_func != "sigmoid" && c.scoring_func != "softmax") {
      r.fail("scoring_func", "expected \"sigmoid\" or \"softmax\", got \"" + c.scoring_func + "\"");
    }
    if (c.topk_method != "noaux_tc" && c.topk_method != "greedy" &&
        c.topk_method != "group_limited_greedy") {
      r.fail("topk_method", "expected noaux_tc, greedy or group_limited_greedy, got \"" +
                                c.topk_method + "\"");
    }
    if (c.first_k_dense_replace < 0 || c.first_k_dense_replace > c.num_hidden_layers) {
      r.fail("first_k_dense_replace", "must be within [0, num_hidden_layers]");
    }
    if (c.first_k_dense_replace > 0 && c.intermediate_size == 0) {
      r.fail("intermediate_size", "missing (required for the dense layers)");
    }
  } else if (c.intermediate_size == 0) {
    r.fail("intermediate_size", "missing (required)");
  }
  c.num_nextn_predict_layers = r.integer("num_nextn_predict_layers", false, 0);

  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) r.fail("rope_scaling", "expected an object or null");
    FieldReader rs(*it, source + ": rope_scaling");
    c.rope_scaling.type = rs.string("type", false, rs.string("rope_type", false, ""));
    c.rope_scaling.factor = rs.number("factor", false, 1.0);
    c.rope_scaling.original_max_position_embeddings =
        rs.integer("original_max_position_embeddings", false, 0);
    c.rope_scaling.beta_fast = rs.number("beta_fast", false, 32);
    c.rope_scaling.beta_slow = rs.number("beta_slow", false, 1);
    c.rope_scaling.mscale = rs.number("mscale", false, 1.0);
    c.rope_scaling.mscale_all_dim = rs.number("mscale_all_dim", false, 0.0);
    c.rope_scaling.low_freq_factor = rs.number("low_freq_factor", false, 1.0);
    c.rope_scaling.high_freq_factor = rs.number("high_freq_factor", false, 4.0);
    if (c.rope_scaling.factor <= 0) r.fail("rope_scaling.factor", "must be positive");
    if (c.rope_scaling.type == "yarn" && c.rope_scaling.original_max_position_embeddings <= 0) {
      r.fail("rope_scaling.original_max_position_embeddings", "required for yarn");
    }
  }
  return c;
}

ModelConfig load_model(const std::string& name_or_path) {
  fs::path p(name_or_path);
  bool looks_like_path = name_or_path.find('/') != std::string::npos ||
                         p.extension() == ".json" || fs::is_regular_file(p);
  fs::path file = looks_like_path ? p : models_dir() / (name_or_path + ".json");
  if (!fs::is_regular_file(file)) {
    if (looks_like_path) throw UsageError(file.string() + ": no such config file");
    std::string known;
    for (const auto& m : list_models()) known += (known.empty() ? "" : ", ") + m;
    throw UsageError("unknown model '" + name_or_path + "' (known: " + known +
                     "; or give the path of a config.json)");
  }
  ModelConfig c = parse_model_config(read_json_file(file), file.string());
  c.source = file;
  c.name = looks_like_path ? file.stem().string() : name_or_path;
  if (looks_like_path && c.name == "config") c.name = file.parent_path().filename().string();
  return c;
}

double ModelConfig::yarn_mscale() const {
  if (rope_scaling.type != "yarn" || rope_scaling.factor <= 1.0) return 1.0;
  return 0.1 * rope_scaling.mscale_all_dim * std::log(rope_scaling.factor) + 1.0;
}

double ModelConfig::softmax_scale() const {
  double scale = 1.0 / std::sqrt(double(qk_head_dim()));
  // DeepSeek's reference applies mscale^2 when the model was extended with YaRN beyond the
  // original context (max_seq_len > original_seq_len); configs here always describe that case.
  if (rope_scaling.type == "yarn" &&
      max_position_embeddings > rope_scaling.original_max_position_embeddings) {
    double m = yarn_mscale();
    scale *= m * m;
  }
  return scale;
}

}  // namespace dsbench
