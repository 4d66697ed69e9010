// Model weights: the Hugging Face DeepSeek-V3 tensor list, synthetic deterministic init, and
// safetensors load/save over that one list so names and shapes can never disagree.
#include <omp.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>

#include "dsbench/engine/model.h"
#include "dsbench/engine/safetensors.h"
#include "dsbench/error.h"
#include "dsbench/kernels/host_memory.h"

namespace dsbench::engine {
using kernels::DType;

kernels::WeightView Linear::view() const { return rows(0, n); }
kernels::WeightView Linear::rows(int64_t r0, int64_t nrows) const {
  kernels::WeightView v;
  v.dtype = dtype;
  v.n = nrows;
  v.k = k;
  if (packed) {
    if (r0 % 16) throw Error("Linear::rows: row " + std::to_string(r0) + " is not at a panel boundary");
    v.layout = kernels::WeightLayout::kPanel16;
    v.ld = kernels::panel16_stride(k);
    v.data = bf16_data() + (r0 / 16) * v.ld;
    return v;
  }
  v.data = dtype == DType::kBF16 ? static_cast<const void*>(bf16_data() + r0 * k)
                                 : static_cast<const void*>(f32_data() + r0 * k);
  v.ld = k;
  return v;
}
void Linear::row_f32(int64_t r, float* out) const {
  if (dtype == DType::kF32) {
    std::memcpy(out, f32_data() + r * k, size_t(k) * 4);
  } else if (packed) {
    for (int64_t i = 0; i < k; ++i) out[i] = kernels::bf16::to_float(kernels::panel16_at(bf16_data(), k, r, i));
  } else {
    for (int64_t i = 0; i < k; ++i) out[i] = kernels::bf16::to_float(bf16_data()[r * k + i]);
  }
}
void Linear::pack() {
  if (dtype != DType::kBF16 || packed || n == 0) return;
  if (placed) throw Error("Linear::pack: the weights are already placed in the model's arena");
  std::vector<uint16_t> p(size_t(kernels::panel16_elems(n, k)));
  kernels::pack_panel16(bf16.data(), n, k, k, p.data());
  bf16 = std::move(p);
  packed = true;
}

void ModelWeights::place() {
  std::vector<Linear*> all = {&embed, &lm_head};
  for (auto& y : layers) {
    for (Linear* l : {&y.q_a, &y.q_b, &y.q, &y.kv_a, &y.kv_b, &y.o, &y.uk_t, &y.dense.gate_up, &y.dense.down,
                      &y.shared.gate_up, &y.shared.down})
      all.push_back(l);
    for (Expert& e : y.experts) {
      all.push_back(&e.gate_up);
      all.push_back(&e.down);
    }
  }
  // Each Linear at a 64-byte boundary, in this order (a layer's experts stay contiguous).
  auto stored_bytes = [](const Linear* l) {
    return size_t(l->stored_elems()) * size_t(kernels::dtype_bytes(l->dtype));
  };
  size_t total = 0;
  for (const Linear* l : all) total += (stored_bytes(l) + 63) / 64 * 64;
  if (total == 0) return;
  std::shared_ptr<void> buf(kernels::host_alloc(total), kernels::host_free);
  char* at = static_cast<char*>(buf.get());
  for (Linear* l : all) {
    const size_t b = stored_bytes(l);
    const int64_t elems = l->stored_elems();
    if (b) std::memcpy(at, l->dtype == DType::kBF16 ? static_cast<const void*>(l->bf16_data())
                                                    : static_cast<const void*>(l->f32_data()), b);
    l->placed = b ? at : nullptr;
    l->placed_elems = b ? elems : 0;
    std::vector<uint16_t>().swap(l->bf16);
    std::vector<float>().swap(l->f32);
    at += (b + 63) / 64 * 64;
  }
  arena = std::move(buf);
}

namespace {

// One tensor of the checkpoint: where its values go (rows of a Linear, or a float vector).
struct Slot {
  std::string name;
  std::vector<int64_t> shape;
  Linear* lin = nullptr;
  int64_t row0 = 0;
  std::vector<float>* vec = nullptr;
  float init_std = 0;    // synthetic: uniform with this std around init_mean
  float init_mean = 0;
};

void alloc(Linear& l, int64_t n, int64_t k, DType dt, bool allocate) {
  if (!allocate) return;
  l.n = n;
  l.k = k;
  l.dtype = dt;
  if (dt == DType::kBF16) l.bf16.assign(size_t(n * k), 0);
  else l.f32.assign(size_t(n * k), 0.0f);
}

void store(Linear& l, int64_t r0, int64_t i, float v) {
  const size_t idx = size_t(r0 * l.k + i);
  if (l.dtype == DType::kBF16) l.bf16[idx] = kernels::bf16::from_float(v);
  else l.f32[idx] = v;
}

void check_config(const ModelConfig& c) {
  const std::string src = c.source.empty() ? c.name : c.source.string();
  if (!c.is_mla())
    throw UsageError(src + ": the engine runs MLA models (kv_lora_rank > 0); '" + c.name +
                     "' is " + (c.model_type.empty() ? "not MLA" : c.model_type));
  auto need = [&](int64_t v, const char* field) {
    if (v <= 0) throw UsageError(src + ": field '" + std::string(field) + "' must be > 0 for the engine");
  };
  need(c.hidden_size, "hidden_size");
  need(c.num_hidden_layers, "num_hidden_layers");
  need(c.num_attention_heads, "num_attention_heads");
  need(c.vocab_size, "vocab_size");
  need(c.kv_lora_rank, "kv_lora_rank");
  need(c.qk_nope_head_dim, "qk_nope_head_dim");
  need(c.qk_rope_head_dim, "qk_rope_head_dim");
  need(c.v_head_dim, "v_head_dim");
  if (c.qk_rope_head_dim % 2) throw UsageError(src + ": field 'qk_rope_head_dim' must be even");
  if (c.first_k_dense_replace < c.num_hidden_layers || !c.is_moe()) need(c.intermediate_size, "intermediate_size");
  if (c.is_moe()) {
    need(c.moe_intermediate_size, "moe_intermediate_size");
    need(c.num_experts_per_tok, "num_experts_per_tok");
    if (c.num_experts_per_tok > c.n_routed_experts)
      throw UsageError(src + ": field 'num_experts_per_tok' exceeds n_routed_experts");
    if (c.n_group < 1 || c.n_routed_experts % c.n_group || c.topk_group > c.n_group)
      throw UsageError(src + ": fields 'n_group'/'topk_group' do not divide the experts");
  }
}

// Builds the weight structure (allocated, zero) and the list of its checkpoint tensors.
std::vector<Slot> layout(const ModelConfig& c, DType dt, ModelWeights& w, bool allocate = true) {
  const int64_t H = c.hidden_size, nh = c.num_attention_heads, dn = c.qk_nope_head_dim,
                dr = c.qk_rope_head_dim, dv = c.v_head_dim, kvl = c.kv_lora_rank, ql = c.q_lora_rank;
  const int64_t L = c.num_hidden_layers;
  const float res_scale = float(1.0 / std::sqrt(2.0 * double(L)));  // residual branches add up
  std::vector<Slot> s;
  auto lin = [&](const std::string& name, Linear& l, int64_t n, int64_t k, float gain = 1.0f) {
    alloc(l, n, k, dt, allocate);
    s.push_back({name, {n, k}, &l, 0, nullptr, gain / std::sqrt(float(k)), 0});
  };
  auto vec = [&](const std::string& name, std::vector<float>& v, int64_t n, float mean, float sd) {
    if (allocate) v.assign(size_t(n), 0.0f);
    s.push_back({name, {n}, nullptr, 0, &v, sd, mean});
  };
  auto mlp = [&](const std::string& p, Expert& e, int64_t inter, float gain) {
    alloc(e.gate_up, 2 * inter, H, dt, allocate);
    s.push_back({p + ".gate_proj.weight", {inter, H}, &e.gate_up, 0, nullptr, 1.0f / std::sqrt(float(H)), 0});
    s.push_back({p + ".up_proj.weight", {inter, H}, &e.gate_up, inter, nullptr, 1.0f / std::sqrt(float(H)), 0});
    lin(p + ".down_proj.weight", e.down, H, inter, gain);
  };
  alloc(w.embed, c.vocab_size, H, dt, allocate);
  s.push_back({"model.embed_tokens.weight", {c.vocab_size, H}, &w.embed, 0, nullptr, 1.0f, 0});
  if (allocate) w.layers.resize(size_t(L));
  for (int64_t l = 0; l < L; ++l) {
    auto& y = w.layers[size_t(l)];
    const std::string p = "model.layers." + std::to_string(l);
    vec(p + ".input_layernorm.weight", y.input_norm, H, 1.0f, 0.05f);
    y.q_lora = ql > 0;
    if (y.q_lora) {
      lin(p + ".self_attn.q_a_proj.weight", y.q_a, ql, H);
      vec(p + ".self_attn.q_a_layernorm.weight", y.q_a_norm, ql, 1.0f, 0.05f);
      lin(p + ".self_attn.q_b_proj.weight", y.q_b, nh * (dn + dr), ql);
    } else {
      lin(p + ".self_attn.q_proj.weight", y.q, nh * (dn + dr), H);
    }
    lin(p + ".self_attn.kv_a_proj_with_mqa.weight", y.kv_a, kvl + dr, H);
    vec(p + ".self_attn.kv_a_layernorm.weight", y.kv_a_norm, kvl, 1.0f, 0.05f);
    lin(p + ".self_attn.kv_b_proj.weight", y.kv_b, nh * (dn + dv), kvl);
    lin(p + ".self_attn.o_proj.weight", y.o, H, nh * dv, res_scale);
    vec(p + ".post_attention_layernorm.weight", y.post_attn_norm, H, 1.0f, 0.05f);
    y.moe = c.is_moe_layer(l);
    if (!y.moe) {
      mlp(p + ".mlp", y.dense, c.intermediate_size, res_scale);
    } else {
      const int64_t E = c.n_routed_experts;
      if (allocate) y.router.assign(size_t(E * H), 0.0f);
      s.push_back({p + ".mlp.gate.weight", {E, H}, nullptr, 0, &y.router, 1.0f / std::sqrt(float(H)), 0});
      if (c.topk_method == "noaux_tc")
        vec(p + ".mlp.gate.e_score_correction_bias", y.router_bias, E, 0.0f, 0.02f);
      if (allocate) y.experts.resize(size_t(E));
      // Routed outputs are summed with weights up to routed_scaling_factor: scale them down.
      for (int64_t e = 0; e < E; ++e)
        mlp(p + ".mlp.experts." + std::to_string(e), y.experts[size_t(e)], c.moe_intermediate_size,
            res_scale / float(std::max(1.0, c.routed_scaling_factor)));
      if (c.n_shared_experts > 0)
        mlp(p + ".mlp.shared_experts", y.shared, c.moe_intermediate_size * c.n_shared_experts, res_scale);
    }
  }
  vec("model.norm.weight", w.final_norm, H, 1.0f, 0.05f);
  alloc(w.lm_head, c.vocab_size, H, dt, allocate);
  s.push_back({"lm_head.weight", {c.vocab_size, H}, &w.lm_head, 0, nullptr, 1.0f / std::sqrt(float(H)), 0});
  return s;
}

// Splits kv_b into the fp32 [heads, nope, kv_lora] / [heads, v, kv_lora] halves the kernels take.
void finalize(const ModelConfig& c, ModelWeights& w) {
  const int64_t nh = c.num_attention_heads, dn = c.qk_nope_head_dim, dv = c.v_head_dim,
                kvl = c.kv_lora_rank;
  for (auto& y : w.layers) {
    y.w_uk.assign(size_t(nh * dn * kvl), 0);
    y.w_uv.assign(size_t(nh * dv * kvl), 0);
    for (int64_t h = 0; h < nh; ++h) {
      for (int64_t d = 0; d < dn; ++d) y.kv_b.row_f32(h * (dn + dv) + d, &y.w_uk[size_t((h * dn + d) * kvl)]);
      for (int64_t d = 0; d < dv; ++d) y.kv_b.row_f32(h * (dn + dv) + dn + d, &y.w_uv[size_t((h * dv + d) * kvl)]);
    }
    // uk_t row (h, c) = column c of W_UK_h: exact copies of the stored values.
    alloc(y.uk_t, nh * kvl, dn, y.kv_b.dtype, true);
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t d = 0; d < dn; ++d)
        for (int64_t c = 0; c < kvl; ++c) store(y.uk_t, h * kvl + c, d, y.w_uk[size_t((h * dn + d) * kvl + c)]);
    for (Linear* l : {&y.q_a, &y.q_b, &y.q, &y.kv_a, &y.o, &y.dense.gate_up, &y.dense.down, &y.shared.gate_up,
                      &y.shared.down})
      l->pack();
    // Decode takes per-head row ranges of these: packed only when each head starts a panel.
    if (dn % 16 == 0 && dv % 16 == 0) y.kv_b.pack();
    if (kvl % 16 == 0) y.uk_t.pack();
    for (Expert& e : y.experts) {
      e.gate_up.pack();
      e.down.pack();
    }
  }
  w.lm_head.pack();
  w.place();
}

inline uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void check_fits(const ModelConfig& c, DType dt) {
  struct sysinfo si {};
  sysinfo(&si);
  const double mem = double(si.totalram) * si.mem_unit;
  const double need = estimate_weight_bytes(c, dt);
  if (mem > 0 && need > 0.6 * mem)
    throw UsageError("model '" + c.name + "': its weights need " + std::to_string(need / 1e9) +
                     " GB in " + kernels::dtype_name(dt) + ", more than this host can hold (" +
                     std::to_string(mem / 1e9) + " GB); use a smaller config such as dsv3-tiny");
}

}  // namespace

double estimate_weight_bytes(const ModelConfig& c, DType dt) {
  const double H = double(c.hidden_size), nh = double(c.num_attention_heads);
  const double qk = double(c.qk_nope_head_dim + c.qk_rope_head_dim);
  double attn = (c.q_lora_rank > 0 ? double(c.q_lora_rank) * (H + nh * qk) : H * nh * qk) +
                H * double(c.kv_lora_rank + c.qk_rope_head_dim) +
                double(c.kv_lora_rank) * nh * double(c.qk_nope_head_dim + c.v_head_dim) +
                nh * double(c.v_head_dim) * H;
  double total = 2.0 * double(c.vocab_size) * H;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    total += attn;
    if (c.is_moe_layer(l))
      total += 3.0 * H * double(c.moe_intermediate_size) * double(c.n_routed_experts + c.n_shared_experts);
    else
      total += 3.0 * H * double(c.intermediate_size);
  }
  return total * kernels::dtype_bytes(dt);
}

std::unique_ptr<Model> Model::synthetic(const ModelConfig& cfg, uint64_t seed, DType storage) {
  check_config(cfg);
  check_fits(cfg, storage);
  ModelWeights w;
  auto slots = layout(cfg, storage, w);
  for (auto& s : slots) {
    const uint64_t base = mix(seed ^ name_hash(s.name));
    const int64_t n = numel(s.shape);
    const int64_t cols = s.shape.size() == 2 ? s.shape[1] : n;
    const float amp = s.init_std * std::sqrt(3.0f);  // uniform [-a, a] has std a/sqrt(3)
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const double u = double(mix(base + uint64_t(i)) >> 11) * (1.0 / 9007199254740992.0);  // [0,1)
      const float v = s.init_mean + amp * float(2.0 * u - 1.0);
      if (s.lin) store(*s.lin, s.row0 + i / cols, i % cols, v);
      else (*s.vec)[size_t(i)] = v;
    }
  }
  finalize(cfg, w);
  return std::make_unique<Model>(cfg, std::move(w));
}

std::unique_ptr<Model> Model::from_safetensors(const ModelConfig& cfg, const std::string& path,
                                               DType storage) {
  check_config(cfg);
  namespace fs = std::filesystem;
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<std::string> names;
    for (auto& e : fs::directory_iterator(path))
      if (e.path().extension() == ".safetensors") names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
    if (names.empty()) throw UsageError(path + ": no .safetensors files in this folder");
    for (auto& n : names) files.push_back(std::make_unique<SafetensorsFile>(n));
  } else {
    files.push_back(std::make_unique<SafetensorsFile>(path));
  }
  check_fits(cfg, storage);
  ModelWeights w;
  auto slots = layout(cfg, storage, w);
  std::vector<float> buf;
  for (auto& s : slots) {
    const SafetensorsEntry* e = nullptr;
    const SafetensorsFile* from = nullptr;
    for (auto& f : files)
      if ((e = f->find(s.name))) {
        from = f.get();
        break;
      }
    if (!e) throw UsageError(path + ": tensor '" + s.name + "' is missing (model '" + cfg.name + "')");
    const std::string ctx = from->path() + ": tensor '" + s.name + "'";
    if (e->shape != s.shape) {
      std::string want, got;
      for (auto d : s.shape) want += std::to_string(d) + ",";
      for (auto d : e->shape) got += std::to_string(d) + ",";
      throw UsageError(ctx + ": shape [" + got + "] but the config needs [" + want + "]");
    }
    const int64_t n = e->numel();
    buf.resize(size_t(n));
    SafetensorsFile::to_f32(*e, buf.data(), ctx);
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(buf[size_t(i)])) throw UsageError(ctx + ": holds a non-finite value");
    if (s.lin) {
      const int64_t cols = s.shape[1];
      for (int64_t i = 0; i < n; ++i) store(*s.lin, s.row0 + i / cols, i % cols, buf[size_t(i)]);
    } else {
      std::copy(buf.begin(), buf.end(), s.vec->begin());
    }
  }
  finalize(cfg, w);
  return std::make_unique<Model>(cfg, std::move(w));
}

void Model::save_safetensors(const std::string& path, DType dtype) const {
  if (dtype != DType::kF32 && dtype != DType::kBF16)
    throw UsageError("save_safetensors: dtype must be fp32 or bf16");
  // The same tensor list as loading, pointing into the live weights (nothing reallocated).
  auto slots = layout(cfg_, w_.embed.dtype, const_cast<ModelWeights&>(w_), false);
  std::vector<SafetensorsTensor> out;
  for (auto& s : slots) {
    SafetensorsTensor t;
    t.name = s.name;
    t.dtype = dtype == DType::kF32 ? "F32" : "BF16";
    t.shape = s.shape;
    const int64_t n = numel(s.shape);
    std::vector<float> vals(static_cast<size_t>(n));
    if (s.lin) {
      for (int64_t r = 0; r < s.shape[0]; ++r) s.lin->row_f32(s.row0 + r, vals.data() + r * s.shape[1]);
    } else {
      std::copy(s.vec->begin(), s.vec->end(), vals.begin());
    }
    if (dtype == DType::kF32) {
      t.bytes.resize(size_t(n) * 4);
      std::memcpy(t.bytes.data(), vals.data(), t.bytes.size());
    } else {
      t.bytes.resize(size_t(n) * 2);
      for (int64_t i = 0; i < n; ++i) {
        uint16_t b = kernels::bf16::from_float(vals[size_t(i)]);
        std::memcpy(t.bytes.data() + 2 * i, &b, 2);
      }
    }
    out.push_back(std::move(t));
  }
  write_safetensors(path, out);
}

}  // namespace dsbench::engine
