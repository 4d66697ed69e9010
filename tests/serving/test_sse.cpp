// The SSE parser: events split anywhere, CRLF and LF, comments, and garbage called malformed.
#include <gtest/gtest.h>

#include "serving/sse.h"

namespace dsbench::serving {
namespace {

std::vector<std::string> parse_in_pieces(const std::string& text, size_t piece, bool* ok = nullptr,
                                         std::string* error = nullptr) {
  std::vector<std::string> got;
  SseParser p([&](std::string_view d) {
    got.emplace_back(d);
    return true;
  });
  bool good = true;
  for (size_t i = 0; i < text.size() && good; i += piece)
    good = p.feed(text.data() + i, std::min(piece, text.size() - i));
  if (good) good = p.finish();
  if (ok) *ok = good;
  if (error) *error = p.error();
  return got;
}

TEST(Sse, SplitsAnywhereWithLfAndCrLf) {
  const std::string lf = "data: {\"a\":1}\n\n: keep-alive\n\nevent: x\ndata: b\ndata: c\n\ndata: [DONE]\n\n";
  std::string crlf;
  for (char c : lf) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  for (const std::string& text : {lf, crlf}) {
    for (size_t piece : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{1000}}) {
      auto got = parse_in_pieces(text, piece);
      ASSERT_EQ(got.size(), 3u) << "piece " << piece;
      EXPECT_EQ(got[0], "{\"a\":1}");
      EXPECT_EQ(got[1], "b\nc");
      EXPECT_EQ(got[2], "[DONE]");
    }
  }
}

TEST(Sse, UnterminatedLastEventIsDispatchedAtFinish) {
  auto got = parse_in_pieces("data: x\n\ndata: y", 4);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], "y");
}

TEST(Sse, GarbageIsMalformed) {
  bool ok = true;
  std::string error;
  auto got = parse_in_pieces("data: ok\n\n<html>oops</html>\n\n", 5, &ok, &error);
  EXPECT_FALSE(ok);
  EXPECT_NE(error.find("malformed SSE"), std::string::npos);
  EXPECT_EQ(got.size(), 1u);
}

TEST(Sse, OverlongLineIsMalformed) {
  SseParser p([](std::string_view) { return true; }, 64);
  std::string big(100, 'x');
  EXPECT_FALSE(p.feed(big.data(), big.size()));
  EXPECT_NE(p.error().find("longer"), std::string::npos);
}

TEST(Sse, HandlerCanStopTheStream) {
  SseParser p([](std::string_view d) { return d != "stop"; });
  std::string s = "data: a\n\ndata: stop\n\ndata: b\n\n";
  EXPECT_FALSE(p.feed(s.data(), s.size()));
  EXPECT_EQ(p.events(), 2u);
}

}  // namespace
}  // namespace dsbench::serving
