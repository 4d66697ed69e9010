// dsbench report and compare on bad input: truncated or wrong-schema files are exit 2 with a
// message naming the file and the field; a good file (with a baseline) becomes a page.
#include <gtest/gtest.h>

#include <functional>

#include "dsbench/error.h"
#include "dsbench/reports/load.h"
#include "dsbench/results.h"
#include "fixtures.h"

namespace dsbench::reports {
namespace {
using nlohmann::json;

json good_run() {
  return test::make_run("good", {test::make_suite("kv_cache", {
      test::make_bench("decode_attention/mla_absorbed", {{"context", 1024}}, {1e-3, 1.1e-3, 0.9e-3}),
      test::make_bench("decode_attention/mla_absorbed", {{"context", 4096}}, {3e-3, 3.1e-3, 2.9e-3})})});
}

struct BadCase {
  const char* name;
  std::function<void(json&)> mutate;  // null: write a truncated file instead
  const char* field;                  // expected in the message
};

TEST(ReportCli, MalformedFilesNameFileAndField) {
  auto dir = test::scratch_dir("malformed");
  std::vector<BadCase> cases = {
      {"truncated", nullptr, "malformed JSON"},
      {"wrong_schema", [](json& d) { d["schema"] = "dsbench.result/99"; }, "schema"},
      {"no_suites", [](json& d) { d.erase("suites"); }, "suites"},
      {"samples_text",
       [](json& d) { d["suites"][0]["benchmarks"][1]["samples"] = json::array({"fast"}); },
       "suites[0].benchmarks[1].samples"},
      {"bad_direction", [](json& d) { d["suites"][0]["benchmarks"][0]["direction"] = "up"; },
       "suites[0].benchmarks[0].direction"},
      {"counter_text",
       [](json& d) { d["suites"][0]["benchmarks"][0]["counters"]["gbps"] = "fast"; },
       "suites[0].benchmarks[0].counters.gbps"},
      {"kernel_name",
       [](json& d) { d["traces"] = json::array({{{"file", "t"}, {"kernels", {{{"count", 1}}}}}}); },
       "traces[0].kernels[0].name"},
      {"not_object", [](json& d) { d = json::array(); }, "expected a JSON object"},
  };
  write_json_atomic(dir / "good.json", good_run());
  for (const auto& c : cases) {
    auto path = dir / (std::string(c.name) + ".json");
    if (c.mutate) {
      json d = good_run();
      c.mutate(d);
      test::write_file(path, d.dump());
    } else {
      std::string text = good_run().dump();
      test::write_file(path, text.substr(0, text.size() / 2));
    }
    EXPECT_THROW(load_run(path), UsageError) << c.name;
    for (const std::string& cmd : {"report " + path.string() + " -o " + (dir / "r.html").string(),
                                  "compare " + (dir / "good.json").string() + " " + path.string()}) {
      auto r = test::run_dsbench(cmd, dir);
      EXPECT_EQ(r.code, 2) << c.name << ": " << r.err;
      EXPECT_NE(r.err.find(path.string()), std::string::npos) << c.name << ": " << r.err;
      EXPECT_NE(r.err.find(c.field), std::string::npos) << c.name << ": " << r.err;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "r.html"));
  auto missing = test::run_dsbench("report " + (dir / "absent.json").string(), dir);
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("absent.json"), std::string::npos);
}

TEST(ReportCli, WritesASelfContainedPageWithBaseline) {
  auto dir = test::scratch_dir("report_cli");
  write_json_atomic(dir / "base.json", good_run());
  json cand = good_run();
  cand["run_id"] = "cand";
  write_json_atomic(dir / "cand.json", cand);
  auto r = test::run_dsbench("report " + (dir / "cand.json").string() + " --baseline " +
                                 (dir / "base.json").string() + " -o " + (dir / "out.html").string(),
                             dir);
  ASSERT_EQ(r.code, 0) << r.err;
  std::string page = test::read_file(dir / "out.html");
  EXPECT_NE(page.find("<!DOCTYPE html>"), std::string::npos);
  EXPECT_NE(page.find("\"comparison\":{"), std::string::npos);
  EXPECT_NE(page.find("uPlot"), std::string::npos);
  auto help = test::run_dsbench("report --help", dir);
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--baseline"), std::string::npos);
  auto unknown = test::run_dsbench("report " + (dir / "cand.json").string() + " --colour", dir);
  EXPECT_EQ(unknown.code, 2);
}

}  // namespace
}  // namespace dsbench::reports
