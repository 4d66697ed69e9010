// Incremental parser of a text/event-stream body: feeds arbitrary byte slices, hands each
// event's data to a callback, and reports lines that are not server-sent events.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace dsbench::serving {

class SseParser {
 public:
  // Returns false to stop parsing (the callback found the event bad).
  using OnData = std::function<bool(std::string_view data)>;
  explicit SseParser(OnData on_data, size_t max_line = 1 << 20) : on_data_(std::move(on_data)), max_line_(max_line) {}

  // Feeds bytes. Returns false once the stream is malformed (error() says why) or the callback
  // asked to stop; later calls then do nothing.
  bool feed(const char* data, size_t n);
  // Call at end of stream: an unterminated event is dispatched (as browsers do not, but servers
  // that omit the final blank line exist).
  bool finish();
  const std::string& error() const { return error_; }
  size_t events() const { return events_; }

 private:
  bool line(std::string_view l);
  bool dispatch();
  OnData on_data_;
  size_t max_line_;
  std::string partial_, data_;
  bool has_data_ = false, failed_ = false, last_cr_ = false;
  std::string error_;
  size_t events_ = 0;
};

}  // namespace dsbench::serving
