// The asynchronous streaming load client: sends a workload to any OpenAI-compatible server on
// one Asio thread and measures each request (TTFT, ITL, E2EL, tokens). Every run is bounded by
// its request count, a per-request timeout and a run time limit; faults become failed requests.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "serving/workload.h"

namespace dsbench::serving {

struct Url {
  std::string host;
  uint16_t port = 80;
  std::string base_path;  // "/v1" (no trailing slash)
};
// Parses http://HOST[:PORT][/PATH]. UsageError naming --url otherwise (https is not supported).
Url parse_url(const std::string& url);

struct ClientOptions {
  std::string url = "http://127.0.0.1:8000/v1";
  std::string model;
  bool chat = false;                 // /chat/completions instead of /completions
  double request_rate = std::numeric_limits<double>::infinity();
  double burstiness = 1.0;
  int64_t max_concurrency = 0;       // 0: unlimited
  double request_timeout_s = 120;    // per request, connect to last byte
  double max_duration_s = 600;       // the whole run; unsent requests then fail as "not sent"
  bool ignore_eos = true;            // sent as "ignore_eos" unless false
  bool include_usage = true;         // stream_options.include_usage
  std::optional<double> temperature = 0.0, top_p;
  std::string api_key;               // Authorization: Bearer KEY when set
  uint64_t seed = 0;                 // arrival schedule
};

struct RequestResult {
  int64_t index = 0;
  bool ok = false;
  std::string error;          // why it failed
  int http_status = 0;
  double intended_s = 0;      // schedule, from the run start
  double eligible_s = -1;     // when it could go: max(intended, a concurrency slot freeing)
  double sent_s = -1;         // actual send time (-1: never sent); sent - eligible = client lag
  double ttft_s = -1, e2el_s = -1;
  std::vector<double> itl_s;  // gaps between content chunks
  int64_t prompt_len = 0;     // the dataset's count
  int64_t prompt_tokens = -1; // from usage, -1 when the server gave none
  int64_t output_tokens = 0;
  std::string tokens_source;  // "usage" or "chunks"
  int64_t chunks = 0;         // content chunks
  int64_t events = 0;         // SSE events of any kind
};

struct LoadResult {
  std::vector<RequestResult> requests;
  double duration_s = 0;      // run start to the last request's end
  int64_t sse_events = 0;
  double events_per_s = 0;    // sse_events / duration_s: what the client sustained
};

// Runs `requests` against the server. Never throws for server faults (they are failed requests);
// UsageError for a bad URL.
LoadResult run_load(const ClientOptions& opts, const std::vector<LoadRequest>& requests);

}  // namespace dsbench::serving
