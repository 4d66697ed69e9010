// Minimal safetensors reader/writer (8-byte little-endian header length, JSON header with dtype,
// shape and data_offsets per tensor, then raw little-endian data). Reading maps the file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dsbench::engine {

struct SafetensorsEntry {
  std::string dtype;             // "F32", "BF16", "F16", ...
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  int64_t bytes = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps and validates the file. UsageError naming the file (and tensor) when it is missing,
  // truncated, has a malformed header, overlapping or out-of-range offsets, or a size mismatch.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, SafetensorsEntry>& tensors() const { return tensors_; }
  const SafetensorsEntry* find(const std::string& name) const;
  // Element i of a tensor as float (F32, BF16, F16); UsageError for other dtypes.
  static void to_f32(const SafetensorsEntry& e, float* out, const std::string& context);

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, SafetensorsEntry> tensors_;
};

// A tensor to write: raw little-endian bytes of dtype "F32" or "BF16".
struct SafetensorsTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
// Writes the tensors to `path` (temporary name + rename). Throws Error on I/O failure.
void write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors);

}  // namespace dsbench::engine
