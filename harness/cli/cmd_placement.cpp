// `dsbench placement`: EPLB expert placement for a user's own load matrix or routing trace; prints
// the maps, replica counts and per-GPU balancedness before and after, or writes EPLB's outputs.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "dsbench/error.h"
#include "dsbench/results.h"
#include "moe_routing/placement.h"
#include "moe_routing/routing_trace.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace {
namespace po = boost::program_options;
using suites::moe::LoadMatrix;
using suites::moe::PlacementParams;
using suites::moe::PlacementReport;

void print_text(const LoadMatrix& m, const PlacementParams& p, const PlacementReport& r) {
  const auto& P = r.placement;
  const int per_gpu = p.replicas / p.gpus;
  std::printf(
      "placement: %s: %d layers x %d experts; %d replicas (%d redundant) on %d GPUs in %d nodes, "
      "%d groups; policy %s\n\n",
      m.source.c_str(), m.layers, m.experts, p.replicas, p.replicas - m.experts, p.gpus, p.nodes,
      p.groups, P.hierarchical ? "hierarchical" : "global");
  for (int l = 0; l < m.layers; ++l) {
    std::printf("layer %d\n  phy2log by GPU:", m.layer_ids[l]);
    for (int q = 0; q < p.replicas; ++q) {
      if (q % per_gpu == 0) std::printf("%s [gpu %d:", q ? "]" : "", q / per_gpu);
      std::printf(" %d", P.phy2log[size_t(l) * p.replicas + q]);
    }
    std::printf("]\n  replicated (expert x count):");
    bool any = false;
    for (int e = 0; e < m.experts; ++e) {
      const int c = P.logcnt[size_t(l) * m.experts + e];
      if (c > 1) {
        std::printf(" %dx%d", e, c);
        any = true;
      }
    }
    std::printf("%s\n", any ? "" : " none");
  }
  std::printf("\n%-8s %22s %22s\n", "layer", "balancedness before", "balancedness after");
  for (int l = 0; l < m.layers; ++l)
    std::printf("%-8d %22.4f %22.4f\n", m.layer_ids[l], r.before_balancedness[l],
                r.after_balancedness[l]);
  std::printf("%-8s %22.4f %22.4f\n%-8s %22.4f %22.4f\n", "mean", r.mean_before, r.mean_after,
              "worst", r.worst_before, r.worst_after);
  std::printf(
      "\nbalancedness = mean GPU load / max GPU load (1 = perfectly even). \"before\": experts "
      "placed "
      "contiguously, no redundancy.\n");
}

int placement(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()(
      "load", po::value<std::string>()->required(),
      "load matrix JSON ([layers x experts], or {\"loads\": ...}) or a routing trace (JSONL)")(
      "replicas", po::value<int>()->required(), "physical experts per layer (experts + redundant)")(
      "groups", po::value<int>()->default_value(1), "expert groups (n_group)")(
      "nodes", po::value<int>()->default_value(1), "server nodes")(
      "gpus", po::value<int>()->required(), "GPUs (a multiple of --nodes)")(
      "json", po::value<std::string>()->implicit_value("-"),
      "write phy2log, log2phy, logcnt and balancedness as JSON to FILE (or stdout without FILE)");
  po::variables_map vm;
  if (!parse_options("dsbench placement --load LOADS.json --replicas R --groups G --nodes N --gpus "
                     "P [--json [FILE]]",
                     desc, args, vm))
    return kExitOk;
  const LoadMatrix m = suites::moe::read_load_matrix(vm["load"].as<std::string>());
  PlacementParams p;
  p.replicas = vm["replicas"].as<int>();
  p.groups = vm["groups"].as<int>();
  p.nodes = vm["nodes"].as<int>();
  p.gpus = vm["gpus"].as<int>();
  const PlacementReport r = suites::moe::plan_placement(m, p);
  if (vm.count("json")) {
    const auto j = suites::moe::placement_json(m, p, r, true);
    const std::string out = vm["json"].as<std::string>();
    if (out == "-") {
      std::cout << j.dump() << "\n";
    } else {
      write_json_atomic(out, j, -1);
      std::fprintf(stderr, "wrote %s\n", out.c_str());
    }
    return kExitOk;
  }
  print_text(m, p, r);
  return kExitOk;
}

}  // namespace
}  // namespace dsbench::cli

DSBENCH_REGISTER_SUBCOMMAND(
    {"placement", "EPLB expert placement with redundant experts for a load matrix or trace",
     dsbench::cli::placement});
