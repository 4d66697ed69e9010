// Workload generation (lengths, gamma arrivals) and the vLLM-compatible metric definitions.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "dsbench/error.h"
#include "serving/metrics.h"
#include "serving/workload.h"

namespace dsbench::serving {
namespace {

TEST(Workload, RandomLengthsStayInTheRange) {
  RandomDatasetOptions o;
  o.num_prompts = 500;
  o.input_len = 100;
  o.output_len = 20;
  o.range_ratio = 0.5;
  o.format = PromptFormat::kIds;
  auto reqs = random_dataset(o);
  ASSERT_EQ(reqs.size(), 500u);
  int64_t lo = 1000, hi = 0;
  for (const auto& r : reqs) {
    EXPECT_EQ(static_cast<int64_t>(r.prompt_ids.size()), r.prompt_len);
    lo = std::min(lo, r.prompt_len);
    hi = std::max(hi, r.prompt_len);
    EXPECT_GE(r.output_len, 10);
    EXPECT_LE(r.output_len, 30);
    for (int32_t t : r.prompt_ids) ASSERT_TRUE(t >= o.id_min && t < o.id_max);
  }
  EXPECT_EQ(lo, 50);  // 500 draws over 101 values reach both ends
  EXPECT_EQ(hi, 150);
  o.format = PromptFormat::kText;
  o.range_ratio = 0;
  auto text = random_dataset(o);
  EXPECT_EQ(std::count(text[0].prompt.begin(), text[0].prompt.end(), ' '), 99);  // 100 words
  o.range_ratio = 1.0;
  EXPECT_THROW(random_dataset(o), UsageError);
}

TEST(Workload, GammaArrivalsHaveTheRateAndBurstiness) {
  const int n = 40000;
  for (double burst : {1.0, 0.25, 4.0}) {
    auto t = arrival_times(n, 10.0, burst, 7);
    ASSERT_EQ(t[0], 0.0);
    std::vector<double> gaps;
    for (int i = 1; i < n; ++i) gaps.push_back(t[i] - t[i - 1]);
    double mean = 0, var = 0;
    for (double g : gaps) mean += g;
    mean /= gaps.size();
    for (double g : gaps) var += (g - mean) * (g - mean);
    var /= gaps.size();
    // Gamma(k, 1/(rate k)): mean 1/rate, CV 1/sqrt(k).
    EXPECT_NEAR(mean, 0.1, 0.004) << "burstiness " << burst;
    EXPECT_NEAR(std::sqrt(var) / mean, 1 / std::sqrt(burst), 0.05 / std::sqrt(burst)) << "burstiness " << burst;
  }
  auto inf = arrival_times(5, std::numeric_limits<double>::infinity(), 1, 0);
  for (double x : inf) EXPECT_EQ(x, 0.0);
  EXPECT_THROW(arrival_times(5, -1, 1, 0), UsageError);
}

TEST(Workload, JsonlPromptsAndErrorsNameTheLine) {
  auto dir = std::filesystem::temp_directory_path() / ("dsbench-jsonl-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto good = dir / "p.jsonl";
  std::ofstream(good) << "{\"prompt\":\"a b c\",\"output_len\":7}\n\n{\"prompt\":[1,2]}\n";
  auto reqs = jsonl_dataset(good, 3, 5);
  ASSERT_EQ(reqs.size(), 3u);  // cycles
  EXPECT_EQ(reqs[0].output_len, 7);
  EXPECT_EQ(reqs[0].prompt_len, 3);
  EXPECT_EQ(reqs[1].prompt_ids.size(), 2u);
  EXPECT_EQ(reqs[1].output_len, 5);
  EXPECT_EQ(reqs[2].prompt, "a b c");
  auto bad = dir / "bad.jsonl";
  std::ofstream(bad) << "{\"prompt\":\"ok\"}\n{oops\n";
  try {
    jsonl_dataset(bad, 1, 5);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(jsonl_dataset(dir / "missing.jsonl", 1, 5), UsageError);
  std::filesystem::remove_all(dir);
}

RequestResult ok_request(double ttft, double e2el, int64_t out, std::vector<double> itl) {
  RequestResult r;
  r.ok = true;
  r.eligible_s = 0;
  r.sent_s = 0;
  r.ttft_s = ttft;
  r.e2el_s = e2el;
  r.output_tokens = out;
  r.chunks = out;
  r.tokens_source = "usage";
  r.prompt_tokens = 10;
  r.itl_s = std::move(itl);
  return r;
}

TEST(Metrics, KnownAnswers) {
  LoadResult run;
  run.duration_s = 2.0;
  run.requests.push_back(ok_request(0.1, 0.5, 5, {0.1, 0.1, 0.1, 0.1}));  // TPOT 0.1
  run.requests.push_back(ok_request(0.3, 0.3, 1, {}));                     // no TPOT (1 token)
  RequestResult failed;
  failed.error = "connect: connection refused";
  run.requests.push_back(failed);
  run.requests[1].intended_s = 0;
  run.requests[1].eligible_s = 0.1;  // waited 100 ms for a slot
  run.requests[1].sent_s = 0.25;     // then went out 150 ms late

  EXPECT_DOUBLE_EQ(*tpot_seconds(run.requests[0]), 0.1);
  EXPECT_FALSE(tpot_seconds(run.requests[1]));
  auto s = summarize(run, parse_slo("ttft:200,tpot:150"));
  EXPECT_EQ(s["completed"], 2);
  EXPECT_EQ(s["failed"], 1);
  EXPECT_EQ(s["failure_reasons"]["connect: connection refused"], 1);
  EXPECT_EQ(s["total_output_tokens"], 6);
  EXPECT_EQ(s["total_input_tokens"], 20);
  EXPECT_DOUBLE_EQ(s["request_throughput"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(s["output_throughput"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(s["total_token_throughput"].get<double>(), 13.0);
  EXPECT_EQ(s["good_requests"], 1);  // the second misses TTFT 200 ms
  EXPECT_DOUBLE_EQ(s["request_goodput"].get<double>(), 0.5);
  EXPECT_NEAR(s["ttft"]["mean_ms"].get<double>(), 200, 1e-9);
  EXPECT_NEAR(s["tpot"]["median_ms"].get<double>(), 100, 1e-9);
  EXPECT_EQ(s["itl"]["n"], 4);
  EXPECT_NEAR(s["schedule_slip"]["max_ms"].get<double>(), 150, 1e-9);
  EXPECT_NEAR(s["concurrency_wait"]["max_ms"].get<double>(), 100, 1e-9);
  EXPECT_EQ(s["tokens_source"], "usage");

  auto recs = load_records(run, Slo{}, {{"engine", "x"}});
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[0].name, "ttft");
  EXPECT_EQ(recs[0].samples.size(), 2u);
  EXPECT_EQ(recs[4].name, "output_throughput");
  EXPECT_EQ(recs[4].direction, Direction::kHigher);
  EXPECT_EQ(recs[4].data["requests"].size(), 3u);
  EXPECT_EQ(recs[4].data["requests"][2]["error"], "connect: connection refused");
  for (const auto& r : recs) EXPECT_NO_THROW(r.to_json());
}

TEST(Metrics, SloParsing) {
  auto s = parse_slo("ttft:2000,tpot:80,e2el:5000");
  EXPECT_EQ(*s.ttft_ms, 2000);
  EXPECT_EQ(*s.tpot_ms, 80);
  EXPECT_EQ(*s.e2el_ms, 5000);
  EXPECT_THROW(parse_slo("ttft"), UsageError);
  EXPECT_THROW(parse_slo("ttft:-1"), UsageError);
  EXPECT_THROW(parse_slo("itl:5"), UsageError);
}

}  // namespace
}  // namespace dsbench::serving
