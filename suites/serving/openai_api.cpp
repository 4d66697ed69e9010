// Validation of OpenAI request bodies and the response/SSE chunk bodies (see openai_api.h).
#include "serving/openai_api.h"

#include <cmath>
#include <set>

namespace dsbench::serving {

using nlohmann::json;

std::string ApiError::body() const {
  json e = {{"message", what()}, {"type", type}, {"param", param.empty() ? json() : json(param)},
            {"code", status}};
  return json{{"error", e}}.dump();
}

std::string json_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& msg) {
  throw ApiError(400, param.empty() ? msg : param + ": " + msg, "invalid_request_error", param);
}

int64_t get_int(const json& v, const std::string& name) {
  if (!v.is_number_integer()) bad(name, "expected an integer");
  return v.get<int64_t>();
}

double get_number(const json& v, const std::string& name) {
  if (!v.is_number()) bad(name, "expected a number");
  double d = v.get<double>();
  if (!std::isfinite(d)) bad(name, "expected a finite number");
  return d;
}

bool get_bool(const json& v, const std::string& name) {
  if (!v.is_boolean()) bad(name, "expected true or false");
  return v.get<bool>();
}

std::vector<int32_t> prompt_from(const json& p, const ApiLimits& limits) {
  if (p.is_string()) return tokenize_bytes(p.get<std::string>());
  if (p.is_array() && p.size() == 1 && p[0].is_string()) return tokenize_bytes(p[0].get<std::string>());
  if (p.is_array() && p.size() == 1 && p[0].is_array()) return prompt_from(p[0], limits);
  if (p.is_array()) {
    std::vector<int32_t> ids;
    ids.reserve(p.size());
    for (const auto& t : p) {
      if (!t.is_number_integer()) bad("prompt", "expected a string or an array of token ids");
      int64_t id = t.get<int64_t>();
      if (id < 0 || (limits.vocab_size > 0 && id >= limits.vocab_size))
        bad("prompt", "token id " + std::to_string(id) + " outside [0, " +
                          std::to_string(limits.vocab_size) + ")");
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  }
  bad("prompt", "expected a string or an array of token ids");
}

std::vector<int32_t> chat_prompt(const json& msgs) {
  if (!msgs.is_array() || msgs.empty()) bad("messages", "expected a non-empty array");
  std::string text;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const json& m = msgs[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      bad(where, "expected an object with a string \"role\"");
    for (const auto& [k, v] : m.items())
      if (k != "role" && k != "content" && k != "name") bad(where + "." + k, "unknown field");
    std::string content;
    if (m.contains("content")) {
      const json& c = m["content"];
      if (c.is_string()) {
        content = c.get<std::string>();
      } else if (c.is_array()) {
        for (const auto& part : c) {
          if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
              !part["text"].is_string())
            bad(where + ".content", "only text parts are supported");
          content += part["text"].get<std::string>();
        }
      } else if (!c.is_null()) {
        bad(where + ".content", "expected a string or an array of text parts");
      }
    }
    // A plain template: one line per message. Byte-level, so lengths are predictable.
    text += m["role"].get<std::string>() + ": " + content + "\n";
  }
  text += "assistant: ";
  return tokenize_bytes(text);
}

}  // namespace

ApiRequest parse_api_request(Endpoint endpoint, const std::string& body, const ApiLimits& limits) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad("", "request body is not valid JSON");
  if (!j.is_object()) bad("", "request body must be a JSON object");

  static const std::set<std::string> kCommon = {
      "model", "max_tokens", "stream", "stream_options", "ignore_eos", "temperature", "top_p",
      "seed", "n", "user"};
  const bool chat = endpoint == Endpoint::kChat;
  for (const auto& [k, v] : j.items()) {
    bool known = kCommon.count(k) || (chat ? (k == "messages" || k == "max_completion_tokens")
                                           : (k == "prompt"));
    if (!known) bad(k, "unknown field");
  }

  ApiRequest r;
  r.endpoint = endpoint;
  if (j.contains("model")) {
    if (!j["model"].is_string()) bad("model", "expected a string");
    r.model = j["model"].get<std::string>();
    if (!limits.served_model.empty() && r.model != limits.served_model)
      throw ApiError(404, "model '" + r.model + "' does not exist; this server serves '" +
                              limits.served_model + "'",
                     "NotFoundError", "model");
  }
  if (chat) {
    if (!j.contains("messages")) bad("messages", "required");
    r.gen.prompt = chat_prompt(j["messages"]);
  } else {
    if (!j.contains("prompt")) bad("prompt", "required");
    r.gen.prompt = prompt_from(j["prompt"], limits);
  }
  if (r.gen.prompt.empty()) bad(chat ? "messages" : "prompt", "must not be empty");

  const int64_t room = limits.max_context - static_cast<int64_t>(r.gen.prompt.size());
  if (room < 1)
    bad(chat ? "messages" : "prompt", "prompt of " + std::to_string(r.gen.prompt.size()) +
                                         " tokens leaves no room in the context of " +
                                         std::to_string(limits.max_context));
  const char* mt_name = nullptr;
  for (const char* name : {"max_tokens", "max_completion_tokens"})
    if (j.contains(name) && !j[name].is_null()) mt_name = name;
  if (mt_name) {
    int64_t mt = get_int(j[mt_name], mt_name);
    if (mt < 1 || mt > room)
      bad(mt_name, "must be in [1, " + std::to_string(room) + "] (context " +
                       std::to_string(limits.max_context) + " minus " +
                       std::to_string(r.gen.prompt.size()) + " prompt tokens), got " +
                       std::to_string(mt));
    r.gen.max_tokens = mt;
  } else {
    r.gen.max_tokens = std::min(limits.default_max_tokens, room);
  }
  if (j.contains("stream") && !j["stream"].is_null()) r.stream = get_bool(j["stream"], "stream");
  if (j.contains("stream_options") && !j["stream_options"].is_null()) {
    const json& so = j["stream_options"];
    if (!so.is_object()) bad("stream_options", "expected an object");
    for (const auto& [k, v] : so.items()) {
      if (k != "include_usage") bad("stream_options." + k, "unknown field");
      r.include_usage = get_bool(v, "stream_options.include_usage");
    }
    if (!r.stream) bad("stream_options", "only allowed when stream is true");
  }
  if (j.contains("ignore_eos") && !j["ignore_eos"].is_null())
    r.gen.ignore_eos = get_bool(j["ignore_eos"], "ignore_eos");
  if (j.contains("temperature") && !j["temperature"].is_null()) {
    r.gen.temperature = get_number(j["temperature"], "temperature");
    if (r.gen.temperature < 0 || r.gen.temperature > 2) bad("temperature", "must be in [0, 2]");
  }
  if (j.contains("top_p") && !j["top_p"].is_null()) {
    r.gen.top_p = get_number(j["top_p"], "top_p");
    if (!(r.gen.top_p > 0) || r.gen.top_p > 1) bad("top_p", "must be in (0, 1]");
  }
  if (j.contains("seed") && !j["seed"].is_null())
    r.gen.seed = static_cast<uint64_t>(get_int(j["seed"], "seed"));
  if (j.contains("n") && !j["n"].is_null() && get_int(j["n"], "n") != 1)
    bad("n", "only n = 1 is supported");
  if (j.contains("user") && !j["user"].is_null() && !j["user"].is_string())
    bad("user", "expected a string");
  return r;
}

ResponseWriter::ResponseWriter(Endpoint endpoint, std::string id, std::string model, int64_t created)
    : endpoint_(endpoint), id_(json_escape(id)), model_(json_escape(model)), created_(created) {}

std::string ResponseWriter::head() const {
  const bool chat = endpoint_ == Endpoint::kChat;
  return std::string("{\"id\":\"") + id_ + "\",\"object\":\"" +
         (chat ? "chat.completion.chunk" : "text_completion") +
         "\",\"created\":" + std::to_string(created_) + ",\"model\":\"" + model_ + "\",";
}

static std::string finish_json(FinishReason f) {
  return f == FinishReason::kNone ? "null" : std::string("\"") + to_string(f) + "\"";
}

std::string ResponseWriter::chunk(const std::string& text, FinishReason finish,
                                  bool include_usage) const {
  std::string s = "data: " + head() + "\"choices\":[{\"index\":0,";
  if (endpoint_ == Endpoint::kChat) {
    s += "\"delta\":{\"content\":\"" + json_escape(text) + "\"},";
  } else {
    s += "\"text\":\"" + json_escape(text) + "\",";
  }
  s += "\"logprobs\":null,\"finish_reason\":" + finish_json(finish) + "}]";
  if (include_usage) s += ",\"usage\":null";
  s += "}\n\n";
  return s;
}

std::string ResponseWriter::role_chunk(bool include_usage) const {
  std::string s = "data: " + head() +
                  "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                  "\"logprobs\":null,\"finish_reason\":null}]";
  if (include_usage) s += ",\"usage\":null";
  return s + "}\n\n";
}

static std::string usage_json(int64_t p, int64_t c) {
  return "{\"prompt_tokens\":" + std::to_string(p) + ",\"completion_tokens\":" + std::to_string(c) +
         ",\"total_tokens\":" + std::to_string(p + c) + "}";
}

std::string ResponseWriter::usage_chunk(int64_t prompt_tokens, int64_t completion_tokens) const {
  return "data: " + head() + "\"choices\":[],\"usage\":" +
         usage_json(prompt_tokens, completion_tokens) + "}\n\n";
}

std::string ResponseWriter::full(const std::string& text, FinishReason finish,
                                 int64_t prompt_tokens, int64_t completion_tokens) const {
  const bool chat = endpoint_ == Endpoint::kChat;
  std::string s = std::string("{\"id\":\"") + id_ + "\",\"object\":\"" +
                  (chat ? "chat.completion" : "text_completion") +
                  "\",\"created\":" + std::to_string(created_) + ",\"model\":\"" + model_ +
                  "\",\"choices\":[{\"index\":0,";
  if (chat) {
    s += "\"message\":{\"role\":\"assistant\",\"content\":\"" + json_escape(text) + "\"},";
  } else {
    s += "\"text\":\"" + json_escape(text) + "\",";
  }
  s += "\"logprobs\":null,\"finish_reason\":" + finish_json(finish) + "}],\"usage\":" +
       usage_json(prompt_tokens, completion_tokens) + "}";
  return s;
}

}  // namespace dsbench::serving
