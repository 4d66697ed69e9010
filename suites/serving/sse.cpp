// Server-sent events parsing (see sse.h), strict enough to call garbage malformed.
#include "serving/sse.h"

namespace dsbench::serving {

bool SseParser::feed(const char* data, size_t n) {
  if (failed_) return false;
  size_t start = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = data[i];
    if (c != '\n' && c != '\r') {
      last_cr_ = false;
      continue;
    }
    if (c == '\n' && last_cr_ && i == start && partial_.empty()) {  // the \n of a \r\n
      last_cr_ = false;
      start = i + 1;
      continue;
    }
    last_cr_ = c == '\r';
    std::string_view piece(data + start, i - start);
    bool ok;
    if (partial_.empty()) {
      ok = line(piece);
    } else {
      partial_.append(piece);
      ok = line(partial_);
      partial_.clear();
    }
    start = i + 1;
    if (!ok) {
      failed_ = true;
      return false;
    }
  }
  partial_.append(data + start, n - start);
  if (partial_.size() > max_line_) {
    error_ = "malformed SSE: line longer than " + std::to_string(max_line_) + " bytes";
    failed_ = true;
    return false;
  }
  return true;
}

bool SseParser::finish() {
  if (failed_) return false;
  if (!partial_.empty()) {
    std::string l;
    l.swap(partial_);
    if (!line(l)) return !(failed_ = true);
  }
  if (has_data_ && !dispatch()) return !(failed_ = true);
  return true;
}

bool SseParser::dispatch() {
  has_data_ = false;
  ++events_;
  bool ok = on_data_(data_);
  data_.clear();
  if (!ok && error_.empty()) error_ = "stopped by event handler";
  return ok;
}

bool SseParser::line(std::string_view l) {
  if (l.empty()) return has_data_ ? dispatch() : true;
  if (l[0] == ':') return true;  // comment (keep-alive)
  size_t colon = l.find(':');
  std::string_view field = l.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
    return true;
  }
  if (field == "event" || field == "id" || field == "retry") return true;
  error_ = "malformed SSE: unexpected line '" + std::string(l.substr(0, 80)) + "'";
  return false;
}

}  // namespace dsbench::serving
