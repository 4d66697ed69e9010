// Routing-trace and load-matrix readers (routing_trace.h). Every error names the file and line
// (trace) or field (load matrix), because these files come from other tools and get hand-edited.
#include "moe_routing/routing_trace.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "dsbench/error.h"

namespace dsbench::suites::moe {

using nlohmann::json;

int64_t RoutingTraceLayer::tokens() const {
  return top_k > 0 ? int64_t(ids.size()) / top_k : 0;
}

namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(path.string() + ": cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool blank_or_comment(const std::string& line) {
  for (char c : line) {
    if (c == '#') return true;
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

int64_t get_int(const json& j, const char* field, const std::string& where) {
  if (!j.contains(field)) throw UsageError(where + ": missing field '" + field + "'");
  const json& v = j.at(field);
  if (!v.is_number_integer())
    throw UsageError(where + ": field '" + field + "': expected an integer");
  return v.get<int64_t>();
}

}  // namespace

RoutingTrace parse_routing_trace(const std::string& text, const std::string& source) {
  RoutingTrace t;
  t.source = source;
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  bool have_header = false;
  int64_t records = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (blank_or_comment(line)) continue;
    const std::string where = source + ":" + std::to_string(line_no);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      throw UsageError(where + ": malformed JSON: " + e.what());
    }
    if (!j.is_object()) throw UsageError(where + ": expected a JSON object");
    if (!have_header) {
      if (!j.contains("format") || j["format"] != kRoutingTraceFormat)
        throw UsageError(where + ": expected the header {\"format\": \"" +
                         std::string(kRoutingTraceFormat) + "\", \"n_experts\": E, \"top_k\": K}");
      const int64_t e = get_int(j, "n_experts", where), k = get_int(j, "top_k", where);
      if (e <= 0 || e > (1 << 20))
        throw UsageError(where + ": field 'n_experts': must be in [1, 2^20]");
      if (k <= 0 || k > e) throw UsageError(where + ": field 'top_k': must be in [1, n_experts]");
      t.n_experts = int(e);
      t.top_k = int(k);
      have_header = true;
      continue;
    }
    const int64_t layer = get_int(j, "layer", where);
    if (layer < 0 || layer > 100000) throw UsageError(where + ": field 'layer': must be >= 0");
    if (!j.contains("ids") || !j["ids"].is_array())
      throw UsageError(where + ": field 'ids': expected an array of tokens, each an array of " +
                       std::to_string(t.top_k) + " expert ids");
    const json& ids = j["ids"];
    const bool has_w = j.contains("weights");
    if (has_w && (!j["weights"].is_array() || j["weights"].size() != ids.size()))
      throw UsageError(where + ": field 'weights': expected one array per token (" +
                       std::to_string(ids.size()) + " tokens)");
    RoutingTraceLayer& L = t.layers[int(layer)];
    L.top_k = t.top_k;
    if (!L.ids.empty() && (L.weights.empty() != !has_w))
      throw UsageError(where + ": field 'weights': layer " + std::to_string(layer) +
                       " mixes records with and without weights");
    for (size_t tok = 0; tok < ids.size(); ++tok) {
      const json& row = ids[tok];
      const std::string f = "ids[" + std::to_string(tok) + "]";
      if (!row.is_array() || int(row.size()) != t.top_k)
        throw UsageError(where + ": field '" + f + "': expected " + std::to_string(t.top_k) +
                         " expert ids");
      for (int a = 0; a < t.top_k; ++a) {
        if (!row[a].is_number_integer())
          throw UsageError(where + ": field '" + f + "[" + std::to_string(a) +
                           "]': expected an integer");
        const int64_t id = row[a].get<int64_t>();
        if (id < 0 || id >= t.n_experts)
          throw UsageError(where + ": field '" + f + "[" + std::to_string(a) + "]': expert id " +
                           std::to_string(id) + " outside [0, " + std::to_string(t.n_experts) +
                           ")");
        for (int b = 0; b < a; ++b)
          if (row[b].get<int64_t>() == id)
            throw UsageError(where + ": field '" + f + "': expert " + std::to_string(id) +
                             " appears twice in one token");
        L.ids.push_back(int32_t(id));
      }
      if (has_w) {
        const json& wr = j["weights"][tok];
        const std::string fw = "weights[" + std::to_string(tok) + "]";
        if (!wr.is_array() || int(wr.size()) != t.top_k)
          throw UsageError(where + ": field '" + fw + "': expected " + std::to_string(t.top_k) +
                           " numbers");
        for (int a = 0; a < t.top_k; ++a) {
          if (!wr[a].is_number() || !std::isfinite(wr[a].get<double>()))
            throw UsageError(where + ": field '" + fw + "[" + std::to_string(a) +
                             "]': expected a finite number");
          L.weights.push_back(wr[a].get<float>());
        }
      }
    }
    ++records;
  }
  if (!have_header) throw UsageError(source + ": empty routing trace (no header line)");
  if (records == 0) throw UsageError(source + ": routing trace has a header but no records");
  return t;
}

RoutingTrace read_routing_trace(const std::filesystem::path& path) {
  return parse_routing_trace(read_text(path), path.string());
}

LoadMatrix load_matrix_from_trace(const RoutingTrace& t) {
  LoadMatrix m;
  m.source = t.source;
  m.experts = t.n_experts;
  for (const auto& [layer, L] : t.layers) {
    m.layer_ids.push_back(layer);
    std::vector<double> row(t.n_experts, 0.0);
    for (int32_t id : L.ids) row[id] += 1;
    m.load.insert(m.load.end(), row.begin(), row.end());
  }
  m.layers = int(m.layer_ids.size());
  return m;
}

LoadMatrix read_load_matrix(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  const std::string src = path.string();
  // A routing trace starts (after comments) with its header object on one line.
  {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (blank_or_comment(line)) continue;
      if (line.find(kRoutingTraceFormat) != std::string::npos)
        return load_matrix_from_trace(parse_routing_trace(text, src));
      break;
    }
  }
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw UsageError(src + ": malformed JSON: " + e.what());
  }
  std::string field = "";
  if (j.is_object()) {
    for (const char* name : {"loads", "logical_count"})
      if (j.contains(name)) {
        field = name;
        break;
      }
    if (field.empty())
      throw UsageError(src +
                       ": expected a [layers x experts] array, or an object with field "
                       "'loads' (or 'logical_count')");
    j = json(j[field]);
  }
  const std::string base = field.empty() ? std::string("load matrix") : field;
  if (!j.is_array() || j.empty())
    throw UsageError(src + ": " + base + ": expected a non-empty array of rows (one per layer)");
  // A single flat row of numbers is one layer.
  if (j[0].is_number()) j = json::array({j});
  LoadMatrix m;
  m.source = src;
  m.layers = int(j.size());
  for (int l = 0; l < m.layers; ++l) {
    const json& row = j[l];
    const std::string f = base + "[" + std::to_string(l) + "]";
    if (!row.is_array() || row.empty())
      throw UsageError(src + ": " + f + ": expected an array of numbers");
    if (l == 0) m.experts = int(row.size());
    if (int(row.size()) != m.experts)
      throw UsageError(src + ": " + f + ": has " + std::to_string(row.size()) +
                       " experts, row 0 has " + std::to_string(m.experts));
    for (int e = 0; e < m.experts; ++e) {
      const json& v = row[e];
      if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
        throw UsageError(src + ": " + f + "[" + std::to_string(e) +
                         "]: expected a non-negative number");
      m.load.push_back(v.get<double>());
    }
    m.layer_ids.push_back(l);
  }
  return m;
}

}  // namespace dsbench::suites::moe
