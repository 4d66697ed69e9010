// Error types and check macros shared by every layer above kernels/.
// Error -> exit 3 (runtime failure); UsageError -> exit 2 (bad usage or bad input).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace dsbench {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Bad usage or bad input. The message must name the option, file or field at fault.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what) {}
};

// A gate (compare) found a regression: exit 1.
class GateFailure : public Error {
 public:
  explicit GateFailure(const std::string& what) : Error(what) {}
};

namespace detail {
// Collects streamed context for DSBENCH_CHECK, then throws from the destructor's caller.
class CheckStream {
 public:
  CheckStream(const char* file, int line, const char* expr) {
    os_ << file << ':' << line << ": check failed: " << expr;
  }
  template <class T>
  CheckStream& operator<<(const T& v) {
    if (!has_context_) {
      os_ << ": ";
      has_context_ = true;
    }
    os_ << v;
    return *this;
  }
  [[noreturn]] void raise() { throw Error(os_.str()); }

 private:
  std::ostringstream os_;
  bool has_context_ = false;
};
struct CheckVoidify {
  [[noreturn]] void operator&(CheckStream& s) { s.raise(); }
  [[noreturn]] void operator&(CheckStream&& s) { s.raise(); }
};
}  // namespace detail

}  // namespace dsbench

// DSBENCH_CHECK(cond) << "context"; throws dsbench::Error with file, line, expression and context.
#define DSBENCH_CHECK(cond)     \
  (cond) ? (void)0              \
         : ::dsbench::detail::CheckVoidify() & \
               ::dsbench::detail::CheckStream(__FILE__, __LINE__, #cond)
