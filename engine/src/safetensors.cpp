// safetensors reading (mmap + header validation) and writing, for Hugging Face checkpoints.
#include "dsbench/engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "dsbench/error.h"
#include "dsbench/kernels/dtype.h"

namespace dsbench::engine {
namespace {
int64_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "BF16" || d == "F16" || d == "I16" || d == "U16") return 2;
  if (d == "F8_E4M3" || d == "F8_E5M2" || d == "I8" || d == "U8" || d == "BOOL") return 1;
  return 0;
}
}  // namespace

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  auto fail = [&](const std::string& why) -> UsageError {
    return UsageError(path_ + ": not a valid safetensors file: " + why);
  };
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw UsageError(path_ + ": cannot open weights file: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw UsageError(path_ + ": not a regular file");
  }
  size_ = size_t(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    throw fail("file is " + std::to_string(size_) + " bytes, shorter than the 8-byte header length");
  }
  map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw UsageError(path_ + ": cannot map weights file");
  }
  const uint8_t* base = static_cast<const uint8_t*>(map_);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | base[i];
  if (hlen == 0 || hlen > size_ - 8) throw fail("header length " + std::to_string(hlen) + " exceeds the file");
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(base + 8, base + 8 + hlen);
  } catch (const std::exception& e) {
    throw fail(std::string("header is not JSON: ") + e.what());
  }
  if (!h.is_object()) throw fail("header is not a JSON object");
  const uint8_t* data = base + 8 + hlen;
  const int64_t data_size = int64_t(size_ - 8 - hlen);
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const auto& v = it.value();
    const std::string ctx = "tensor '" + it.key() + "'";
    try {
      SafetensorsEntry e;
      e.dtype = v.at("dtype").get<std::string>();
      e.shape = v.at("shape").get<std::vector<int64_t>>();
      auto off = v.at("data_offsets").get<std::vector<int64_t>>();
      if (off.size() != 2 || off[0] < 0 || off[1] < off[0] || off[1] > data_size)
        throw fail(ctx + ": data_offsets out of range");
      for (int64_t s : e.shape)
        if (s < 0) throw fail(ctx + ": negative dimension");
      const int64_t es = dtype_size(e.dtype);
      if (es == 0) throw fail(ctx + ": unknown dtype " + e.dtype);
      if (e.numel() * es != off[1] - off[0])
        throw fail(ctx + ": " + std::to_string(off[1] - off[0]) + " bytes for shape of " +
                   std::to_string(e.numel()) + " " + e.dtype + " elements");
      e.data = data + off[0];
      e.bytes = off[1] - off[0];
      ranges.emplace_back(off[0], off[1]);
      tensors_.emplace(it.key(), std::move(e));
    } catch (const nlohmann::json::exception& ex) {
      throw fail(ctx + ": " + ex.what());
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) throw fail("tensor data ranges overlap");
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void SafetensorsFile::to_f32(const SafetensorsEntry& e, float* out, const std::string& context) {
  const int64_t n = e.numel();
  if (e.dtype == "F32") {
    std::memcpy(out, e.data, size_t(n) * 4);
  } else if (e.dtype == "BF16") {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t b;
      std::memcpy(&b, e.data + 2 * i, 2);
      out[i] = kernels::bf16::to_float(b);
    }
  } else if (e.dtype == "F16") {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t b;
      std::memcpy(&b, e.data + 2 * i, 2);
      out[i] = kernels::fp16::to_float(b);
    }
  } else {
    throw UsageError(context + ": unsupported dtype " + e.dtype + " (F32, BF16 and F16 are supported)");
  }
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors) {
  nlohmann::json h = nlohmann::json::object();
  h["__metadata__"] = {{"format", "pt"}};
  int64_t off = 0;
  for (const auto& t : tensors) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape},
                 {"data_offsets", {off, off + int64_t(t.bytes.size())}}};
    off += int64_t(t.bytes.size());
  }
  std::string hs = h.dump();
  while ((hs.size() + 8) % 8) hs.push_back(' ');
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw Error(path + ": cannot write");
    uint64_t n = hs.size();
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
    f.write(reinterpret_cast<const char*>(len), 8);
    f.write(hs.data(), std::streamsize(hs.size()));
    for (const auto& t : tensors)
      f.write(reinterpret_cast<const char*>(t.bytes.data()), std::streamsize(t.bytes.size()));
    if (!f) throw Error(path + ": write failed");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace dsbench::engine
