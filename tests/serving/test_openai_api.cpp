// Request validation of the OpenAI endpoints: what must be a 400 (or 404), and what is accepted.
#include <gtest/gtest.h>

#include "serving/openai_api.h"

namespace dsbench::serving {
namespace {

const ApiLimits kLimits{"tiny", 128, 4096, 16};

int status_of(Endpoint e, const std::string& body) {
  try {
    parse_api_request(e, body, kLimits);
  } catch (const ApiError& err) {
    auto j = nlohmann::json::parse(err.body());  // the error body is JSON
    EXPECT_TRUE(j["error"]["message"].is_string());
    return err.status;
  }
  return 200;
}

TEST(OpenAiApi, AcceptsCompletionWithEveryKnownField) {
  auto r = parse_api_request(Endpoint::kCompletions,
                             R"({"model":"tiny","prompt":"hello","max_tokens":5,"stream":true,
                                 "stream_options":{"include_usage":true},"ignore_eos":true,
                                 "temperature":0.7,"top_p":0.9,"seed":3,"n":1,"user":"u"})",
                             kLimits);
  EXPECT_EQ(r.gen.prompt.size(), 5u);  // byte-level: one token per byte
  EXPECT_EQ(r.gen.prompt[0], 'h');
  EXPECT_EQ(r.gen.max_tokens, 5);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.gen.ignore_eos);
  EXPECT_DOUBLE_EQ(r.gen.temperature, 0.7);
  EXPECT_DOUBLE_EQ(r.gen.top_p, 0.9);
  EXPECT_EQ(r.gen.seed, 3u);
}

TEST(OpenAiApi, TokenIdPromptsAndChatMessages) {
  auto r = parse_api_request(Endpoint::kCompletions, R"({"prompt":[1,2,4095]})", kLimits);
  EXPECT_EQ(r.gen.prompt, (std::vector<int32_t>{1, 2, 4095}));
  EXPECT_EQ(r.gen.max_tokens, 16);  // the default
  auto c = parse_api_request(Endpoint::kChat,
                             R"({"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":3})", kLimits);
  EXPECT_EQ(c.gen.max_tokens, 3);
  EXPECT_EQ(c.gen.prompt.size(), std::string("user: hi\nassistant: ").size());
}

TEST(OpenAiApi, RejectsMalformedAndOutOfRange) {
  const auto C = Endpoint::kCompletions;
  EXPECT_EQ(status_of(C, "{not json"), 400);
  EXPECT_EQ(status_of(C, "[1,2]"), 400);
  EXPECT_EQ(status_of(C, R"({"prompt":"x","bogus":1})"), 400);               // unknown field
  EXPECT_EQ(status_of(C, R"({"prompt":"x","max_tokens":0})"), 400);
  EXPECT_EQ(status_of(C, R"({"prompt":"x","max_tokens":128})"), 400);         // 1 + 128 > context
  EXPECT_EQ(status_of(C, R"({"prompt":"x","max_tokens":127})"), 200);         // exactly fits
  EXPECT_EQ(status_of(C, R"({"prompt":"x","max_tokens":2.5})"), 400);
  EXPECT_EQ(status_of(C, R"({"prompt":"x","max_tokens":"5"})"), 400);
  EXPECT_EQ(status_of(C, R"({"prompt":[4096]})"), 400);                       // id beyond vocab
  EXPECT_EQ(status_of(C, R"({"prompt":[-1]})"), 400);
  EXPECT_EQ(status_of(C, R"({"prompt":""})"), 400);
  EXPECT_EQ(status_of(C, R"({"max_tokens":3})"), 400);                        // no prompt
  EXPECT_EQ(status_of(C, R"({"prompt":"x","temperature":3})"), 400);
  EXPECT_EQ(status_of(C, R"({"prompt":"x","top_p":0})"), 400);
  EXPECT_EQ(status_of(C, R"({"prompt":"x","stream":"yes"})"), 400);
  EXPECT_EQ(status_of(C, R"({"prompt":"x","stream_options":{"include_usage":true}})"), 400);  // not streaming
  EXPECT_EQ(status_of(C, R"({"prompt":"x","stream":true,"stream_options":{"other":1}})"), 400);
  EXPECT_EQ(status_of(C, R"({"prompt":"x","n":2})"), 400);
  EXPECT_EQ(status_of(C, R"({"prompt":"x","messages":[]})"), 400);            // chat field on completions
  EXPECT_EQ(status_of(C, R"({"prompt":"x","model":"other"})"), 404);
  EXPECT_EQ(status_of(Endpoint::kChat, R"({"messages":[]})"), 400);
  EXPECT_EQ(status_of(Endpoint::kChat, R"({"messages":[{"content":"no role"}]})"), 400);
  EXPECT_EQ(status_of(Endpoint::kChat, R"({"messages":[{"role":"user","content":"x","extra":1}]})"), 400);
  EXPECT_EQ(status_of(Endpoint::kChat, R"({"prompt":"x"})"), 400);
}

TEST(OpenAiApi, ChunksAreValidJsonAndEscaped) {
  ResponseWriter w(Endpoint::kCompletions, "cmpl-1", "m\"odel", 7);
  std::string c = w.chunk("a\"b\\", FinishReason::kLength, true);
  ASSERT_EQ(c.rfind("data: ", 0), 0u);
  ASSERT_EQ(c.substr(c.size() - 2), "\n\n");
  auto j = nlohmann::json::parse(c.substr(6));
  EXPECT_EQ(j["choices"][0]["text"], "a\"b\\");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["model"], "m\"odel");
  EXPECT_TRUE(j["usage"].is_null());
  auto u = nlohmann::json::parse(w.usage_chunk(3, 4).substr(6));
  EXPECT_EQ(u["usage"]["total_tokens"], 7);
  EXPECT_TRUE(u["choices"].empty());
  ResponseWriter chat(Endpoint::kChat, "chatcmpl-1", "m", 7);
  auto f = nlohmann::json::parse(chat.full("hi", FinishReason::kStop, 2, 2));
  EXPECT_EQ(f["choices"][0]["message"]["content"], "hi");
  EXPECT_EQ(f["object"], "chat.completion");
}

TEST(OpenAiApi, ByteTokenisationRoundTripsPrintableText) {
  for (int32_t t = 0; t < 1000; ++t) {
    char c = detokenize_byte(t);
    EXPECT_GE(c, ' ');
    EXPECT_LE(c, '~');
  }
  EXPECT_EQ(tokenize_bytes("\xc3\xa9").size(), 2u);  // UTF-8 bytes, not code points
}

}  // namespace
}  // namespace dsbench::serving
