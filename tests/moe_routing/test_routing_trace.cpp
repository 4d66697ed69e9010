// Routing traces and load matrices: valid input parses; malformed input is rejected with a
// UsageError naming the file and the line (trace) or field (load matrix).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "dsbench/error.h"
#include "moe_routing/routing_trace.h"

namespace dsbench::suites::moe {
namespace {

const std::string kHeader = R"({"format": "dsbench.routing-trace/1", "n_experts": 8, "top_k": 2})";

std::string error_of(const std::string& text) {
  try {
    parse_routing_trace(text, "t.jsonl");
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(RoutingTrace, ParsesLayersTokensAndWeights) {
  const std::string text =
      "# recorded by hand\n" + kHeader + "\n\n" +
      R"({"layer": 3, "ids": [[0, 1], [7, 2]], "weights": [[0.6, 0.4], [0.5, 0.5]]})"
      "\n" +
      R"({"layer": 4, "ids": [[5, 6]]})"
      "\n" +
      R"({"layer": 3, "ids": [[1, 0]], "weights": [[1, 0]]})"
      "\n";
  const RoutingTrace t = parse_routing_trace(text, "t.jsonl");
  EXPECT_EQ(t.n_experts, 8);
  EXPECT_EQ(t.top_k, 2);
  ASSERT_EQ(t.layers.size(), 2u);
  EXPECT_EQ(t.layers.at(3).tokens(), 3);
  EXPECT_EQ(t.layers.at(3).ids, (std::vector<int32_t>{0, 1, 7, 2, 1, 0}));
  EXPECT_EQ(t.layers.at(3).weights.size(), 6u);
  EXPECT_TRUE(t.layers.at(4).weights.empty());
  const LoadMatrix m = load_matrix_from_trace(t);
  EXPECT_EQ(m.layers, 2);
  EXPECT_EQ(m.layer_ids, (std::vector<int>{3, 4}));
  EXPECT_DOUBLE_EQ(m.load[0], 2);  // expert 0 in layer 3
  EXPECT_DOUBLE_EQ(m.load[8 + 5], 1);
}

TEST(RoutingTrace, RejectsMalformedLinesNamingFileAndLine) {
  {
    const auto e = error_of(kHeader + "\n{\"layer\": 0, \"ids\": [[0, 9]]}\n");
    EXPECT_NE(e.find("t.jsonl:2"), std::string::npos) << e;
    EXPECT_NE(e.find("outside"), std::string::npos) << e;
  }
  EXPECT_NE(error_of(kHeader + "\n{\"layer\": 0, \"ids\": [[0]]}\n").find("t.jsonl:2"),
            std::string::npos);
  EXPECT_NE(error_of(kHeader + "\n{\"layer\": 0, \"ids\": [[1, 1]]}\n").find("twice"),
            std::string::npos);
  EXPECT_NE(error_of(kHeader + "\n\n{\"layer\": 0, \"ids\": [[1, 2]]\n")
                .find("t.jsonl:3: malformed JSON"),
            std::string::npos);
  EXPECT_NE(error_of(kHeader + "\n{\"ids\": [[1, 2]]}\n").find("'layer'"), std::string::npos);
  EXPECT_NE(error_of(kHeader + "\n{\"layer\": 0, \"ids\": [[1, 2]], \"weights\": [[1]]}\n")
                .find("weights[0]"),
            std::string::npos);
  EXPECT_NE(error_of(kHeader + "\n{\"layer\": 0, \"ids\": [[1, 2]], \"weights\": [[1, \"x\"]]}\n")
                .find("weights[0][1]"),
            std::string::npos);
  EXPECT_NE(error_of("{\"layer\": 0, \"ids\": [[1, 2]]}\n").find("t.jsonl:1: expected the header"),
            std::string::npos);
  EXPECT_NE(error_of(kHeader + "\n").find("no records"), std::string::npos);
  EXPECT_NE(error_of("").find("empty routing trace"), std::string::npos);
  EXPECT_NE(error_of(R"({"format": "dsbench.routing-trace/1", "n_experts": 8, "top_k": 9})")
                .find("'top_k'"),
            std::string::npos);
}

class LoadMatrixFile : public ::testing::Test {
 protected:
  std::filesystem::path path_ = std::filesystem::temp_directory_path() /
                                ("dsbench_loads_" + std::to_string(::getpid()) + ".json");
  void write(const std::string& s) { std::ofstream(path_) << s; }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string error_of(const std::string& s) {
    write(s);
    try {
      read_load_matrix(path_);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(LoadMatrixFile, AcceptsBareMatrixObjectAndTrace) {
  write("[[1, 2, 3, 4], [4, 3, 2, 1]]");
  LoadMatrix m = read_load_matrix(path_);
  EXPECT_EQ(m.layers, 2);
  EXPECT_EQ(m.experts, 4);
  write(R"({"logical_count": [[5, 0, 1]]})");
  m = read_load_matrix(path_);
  EXPECT_EQ(m.experts, 3);
  write(kHeader + "\n{\"layer\": 2, \"ids\": [[0, 1]]}\n");
  m = read_load_matrix(path_);
  EXPECT_EQ(m.experts, 8);
  EXPECT_EQ(m.layer_ids, (std::vector<int>{2}));
}

TEST_F(LoadMatrixFile, RejectsBadMatricesNamingFileAndField) {
  std::string e = error_of("[[1, 2], [3]]");
  EXPECT_NE(e.find(path_.string()), std::string::npos) << e;
  EXPECT_NE(e.find("load matrix[1]"), std::string::npos) << e;
  e = error_of(R"({"loads": [[1, -2]]})");
  EXPECT_NE(e.find("loads[0][1]"), std::string::npos) << e;
  e = error_of(R"({"weights": [[1]]})");
  EXPECT_NE(e.find("'loads'"), std::string::npos) << e;
  e = error_of("[[1, 2,]]");
  EXPECT_NE(e.find("malformed JSON"), std::string::npos) << e;
  e = error_of("[]");
  EXPECT_NE(e.find("non-empty"), std::string::npos) << e;
}

}  // namespace
}  // namespace dsbench::suites::moe
