// Recorded routing traces (docs/routing-trace.md) and expert-load matrices: readers that reject
// malformed input with a UsageError naming the file, line and field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace dsbench::suites::moe {

inline constexpr const char* kRoutingTraceFormat = "dsbench.routing-trace/1";

struct RoutingTraceLayer {
  std::vector<int32_t> ids;    // [tokens, top_k] in record order
  std::vector<float> weights;  // same shape, or empty when the trace has no weights
  int64_t tokens() const;
  int top_k = 0;
};

struct RoutingTrace {
  std::string source;  // file name, for messages
  int n_experts = 0;
  int top_k = 0;
  std::map<int, RoutingTraceLayer> layers;  // by model layer index
};

// Reads a JSONL routing trace. Throws UsageError "FILE:LINE: what" on any malformed line.
RoutingTrace read_routing_trace(const std::filesystem::path& path);
// Parses trace text already in memory; `source` names it in messages.
RoutingTrace parse_routing_trace(const std::string& text, const std::string& source);

// A [layers x experts] load matrix, from JSON or from a routing trace (tokens per expert).
struct LoadMatrix {
  std::string source;
  int layers = 0, experts = 0;
  std::vector<int> layer_ids;  // model layer of each row (0..layers-1 for a bare matrix)
  std::vector<double> load;    // [layers, experts]
};

// Accepts a bare JSON array of rows, an object {"loads": rows} (also "logical_count", SGLang's
// name), or a routing trace (recognised by its header line). UsageError naming file and field.
LoadMatrix read_load_matrix(const std::filesystem::path& path);
LoadMatrix load_matrix_from_trace(const RoutingTrace& trace);

}  // namespace dsbench::suites::moe
