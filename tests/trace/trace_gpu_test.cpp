// The GPU collector through the real trace session: without a device (or in a CPU-only build) the
// trace still holds the CPU spans and says why GPU records are missing; with a device, a kernel
// launched inside the session appears in the summary, linked to its launch by a flow.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/cuda_device.h"
#include "dsbench/trace.h"

namespace fs = std::filesystem;
using nlohmann::json;
namespace tr = dsbench::trace;

namespace {
fs::path trace_path(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("dsbench_gpu_trace_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}
}  // namespace

TEST(TraceGpu, WithoutADeviceTheTraceKeepsCpuSpans) {
  if (dsbench::kernels::cuda_device_available()) GTEST_SKIP() << "a CUDA device is present";
  tr::start();
  { tr::Scope s("cpu_only"); }
  fs::path p = trace_path("nodev.json");
  json summary = tr::stop_and_write(p);
  EXPECT_EQ(summary["cpu_spans"], 1);
  EXPECT_TRUE(summary["kernels"].empty());
  if (dsbench::kernels::cuda_built()) {
    // The CUDA build's collector ran and recorded why it has nothing.
    ASSERT_TRUE(summary.contains("gpu"));
    EXPECT_EQ(summary["gpu"]["cupti"], false);
    EXPECT_NE(summary["gpu"]["warning"].get<std::string>().find("no CUDA device"),
              std::string::npos);
  } else {
    EXPECT_FALSE(summary.contains("gpu"));
  }
  std::ifstream in(p);
  EXPECT_NO_THROW(json::parse(in));
  fs::remove_all(p.parent_path());
}

TEST(TraceGpu, KernelLaunchAppearsWithItsFlow) {
  std::string why;
  if (!dsbench::kernels::cuda_device_available(&why)) GTEST_SKIP() << why;
  namespace kc = dsbench::kernels::cuda;
  kc::DeviceBuffer buf(1 << 20);
  tr::start();
  {
    tr::Scope s("launch");
    kc::fill_uniform_f32(buf.as<float>(), (1 << 20) / 4, 1, 0.0f, 1.0f);
    kc::device_synchronize();
  }
  fs::path p = trace_path("dev.json");
  json summary = tr::stop_and_write(p);
  if (!summary["gpu"]["cupti"].get<bool>()) {
    GTEST_SKIP() << "CUPTI unavailable: " << summary["gpu"].value("warning", "");
  }
  bool found = false;
  for (const json& k : summary["kernels"]) {
    if (k["name"].get<std::string>().find("fill_f32_kernel") != std::string::npos) found = true;
  }
  EXPECT_TRUE(found) << summary.dump();
  EXPECT_GE(summary["gpu"]["flows"].get<int>(), 1);
  EXPECT_EQ(summary["gpu"]["invalid_timestamps"], 0);
  // GPU and CPU records share one clock: the kernel lies inside the session.
  std::ifstream in(p);
  json doc = json::parse(in);
  for (const json& e : doc["traceEvents"]) {
    if (e.value("cat", "") == "kernel") {
      EXPECT_GE(e["ts"].get<double>(), 0.0);
    }
  }
  fs::remove_all(p.parent_path());
}
