// The HTML pages: self-contained (uPlot inline, no external references), data embedded as JSON
// that cannot close its <script> element, and hostile strings never reaching markup.
#include <gtest/gtest.h>

#include <regex>

#include "dsbench/reports/assets.h"
#include "dsbench/reports/html.h"
#include "dsbench/reports/report.h"
#include "dsbench/results.h"
#include "fixtures.h"

namespace dsbench::reports {
namespace {
using nlohmann::json;

const std::string kHostile = "<script>window.__pwned=1</script>\"'><img src=x onerror=alert(1)>"
                             "</script><!--";

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

json hostile_run() {
  json host = test::make_host(kHostile);
  host["compiler"] = kHostile;
  host["gpus"] = json::array({{{"name", kHostile}, {"sm_count", 1}, {"peak", {{kHostile, 1.0}}}}});
  json b = test::make_bench(kHostile, {{kHostile, kHostile}, {"context", 1}}, {1.0, 1.1, 1.2});
  b["data"] = {{kHostile, {1, 2, 3}}};
  json run = test::make_run(kHostile, {test::make_suite(kHostile, {b}, kHostile, kHostile)},
                            "2026-11-28T10:00:00Z", host);
  run["command"] = kHostile;
  run["traces"] = json::array({{{"file", kHostile}, {"kernels", {{{"name", kHostile}, {"count", 1},
                                                                  {"total_ns", 10}, {"mean_ns", 10}}}}}});
  return run;
}

TEST(Html, JsonForScriptEscapesEveryMarkupCharacter) {
  json doc = {{"s", "</script><!-- & > \xE2\x80\xA8"}};
  std::string s = json_for_script(doc);
  EXPECT_EQ(s.find('<'), std::string::npos);
  EXPECT_EQ(s.find('>'), std::string::npos);
  EXPECT_EQ(s.find('&'), std::string::npos);
  EXPECT_EQ(s.find("\xE2\x80\xA8"), std::string::npos);
  EXPECT_EQ(json::parse(s), doc);  // still the same JSON
}

TEST(Html, HtmlEscape) {
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST(Html, AssetsAreCompiledIn) {
  EXPECT_NE(asset("uPlot.iife.min.js").find("uPlot"), std::string_view::npos);
  EXPECT_FALSE(asset("uPlot.min.css").empty());
  EXPECT_FALSE(asset("report.js").empty());
  EXPECT_FALSE(asset("report_lib.js").empty());
  EXPECT_FALSE(asset("suite_charts.js").empty());
  EXPECT_TRUE(asset("nope.js").empty());
}

TEST(Html, HostileStringsNeverReachMarkup) {
  ReportInput in;
  in.run = hostile_run();
  validate_result(in.run, "hostile");
  in.run_source = kHostile;
  in.baseline = hostile_run();
  in.baseline_source = kHostile;
  std::string page = render_report(in);
  // Exactly our own script elements: the data block, uPlot, the library, report and suite scripts.
  EXPECT_EQ(count(page, "<script"), 5u);
  EXPECT_EQ(count(page, "</script"), 5u);
  EXPECT_EQ(page.find(kHostile), std::string::npos);
  EXPECT_EQ(page.find("<script>window"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("<!--"), std::string::npos);
  // The title is the only user string in markup, and it is entity-escaped.
  EXPECT_NE(page.find("<title>dsbench report &lt;script&gt;"), std::string::npos);
  // The payload parses back to the same strings.
  std::smatch m;
  std::regex data_re("<script type=\"application/json\" id=\"dsbench-data\">([^<]*)</script>");
  ASSERT_TRUE(std::regex_search(page, m, data_re));
  json payload = json::parse(m[1].str());
  EXPECT_EQ(payload["run"]["host"]["cpu"], kHostile);
  EXPECT_EQ(payload["run"]["suites"][0]["benchmarks"][0]["name"], kHostile);
  EXPECT_EQ(payload["comparison"]["benchmarks"].size(), 1u);
}

TEST(Html, PageIsSelfContained) {
  ReportInput in;
  in.run = test::make_run("r1", {test::make_suite("kv_cache", {test::make_bench("x", json::object(), {1.0})})});
  std::string page = render_report(in);
  EXPECT_NE(page.find("Content-Security-Policy"), std::string::npos);
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_NE(page.find("uPlot"), std::string::npos);
  json p = report_payload(in);
  EXPECT_EQ(p["kind"], "report");
  EXPECT_TRUE(p["comparison"].is_null());
}

}  // namespace
}  // namespace dsbench::reports
