// The OpenAI request/response shapes the server speaks: validation of /v1/completions and
// /v1/chat/completions bodies (400 with a JSON error on anything wrong) and the response and SSE
// chunk bodies. No networking here, so it is testable alone.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "serving/backend.h"

namespace dsbench::serving {

enum class Endpoint { kCompletions, kChat };

// An HTTP error with an OpenAI-style JSON body.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type = "invalid_request_error",
           std::string param = {})
      : std::runtime_error(message), status(status), type(std::move(type)), param(std::move(param)) {}
  int status;
  std::string type, param;
  std::string body() const;  // {"error":{"message","type","param","code"}}
};

struct ApiRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  GenerationRequest gen;
  bool stream = false;
  bool include_usage = false;
};

struct ApiLimits {
  std::string served_model;  // the only model name accepted ("" accepts any)
  int64_t max_context = 0;   // prompt + max_tokens
  int64_t vocab_size = 0;    // prompt token ids must be below this
  int64_t default_max_tokens = 16;
};

// Parses and validates a request body. Throws ApiError (400, or 404 for an unknown model).
ApiRequest parse_api_request(Endpoint endpoint, const std::string& body, const ApiLimits& limits);

// Escapes a string for a JSON string literal (without the quotes).
std::string json_escape(const std::string& s);

// Builds the bodies of one request's responses; `id` is "cmpl-N" / "chatcmpl-N".
class ResponseWriter {
 public:
  ResponseWriter(Endpoint endpoint, std::string id, std::string model, int64_t created);
  // SSE chunk ("data: {...}\n\n") carrying `text`, and finish_reason when `finish` is set.
  // include_usage adds "usage":null as vLLM does.
  std::string chunk(const std::string& text, FinishReason finish, bool include_usage) const;
  // Chat streams open with a chunk holding the assistant role.
  std::string role_chunk(bool include_usage) const;
  // The final usage-only chunk (choices empty) of stream_options.include_usage.
  std::string usage_chunk(int64_t prompt_tokens, int64_t completion_tokens) const;
  // A non-streaming response body.
  std::string full(const std::string& text, FinishReason finish, int64_t prompt_tokens,
                   int64_t completion_tokens) const;

 private:
  std::string head() const;  // {"id":...,"object":...,"created":...,"model":...,
  Endpoint endpoint_;
  std::string id_, model_;
  int64_t created_;
};

}  // namespace dsbench::serving
