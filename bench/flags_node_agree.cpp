// Part of bench/flags_node_agree.sh: reads the Node SDK's answers (JSON lines from
// flags_node_agree.js) and evaluates every case with belay; prints each disagreement and
// "N cases, M disagreements"; exits 1 when there is any.
//   flags_node_agree SPEC_DIR < answers.jsonl
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "flags/flags.h"

namespace flags = belay::flags;
using nlohmann::json;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: flags_node_agree SPEC_DIR < answers.jsonl\n";
    return 2;
  }
  std::map<std::string, flags::Snapshot> snapshots;
  std::string line;
  long cases = 0, disagreements = 0;
  while (std::getline(std::cin, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    const std::string file = j["file"], feature = j["feature"];
    if (!snapshots.count(file)) {
      std::ifstream in(std::string(argv[1]) + "/" + file);
      std::stringstream ss;
      ss << in.rdbuf();
      auto s = flags::parse_client_features(json::parse(ss.str())["state"].dump());
      if (!s.ok()) {
        std::cerr << file << ": " << s.error().render() << "\n";
        return 2;
      }
      snapshots.emplace(file, *s);
    }
    auto ctx = flags::context_from_json(j["context"]);
    if (!ctx.ok()) {
      std::cerr << ctx.error().render() << "\n";
      return 2;
    }
    const flags::Snapshot& snap = snapshots.at(file);
    flags::Evaluation e = flags::is_enabled(snap, feature, *ctx);
    flags::Evaluation v = flags::variant(snap, feature, *ctx);
    ++cases;
    if (e.enabled != j["enabled"].get<bool>() || std::string(v.variant.name) != j["variant"].get<std::string>() ||
        v.variant.feature_enabled != j["feature_enabled"].get<bool>()) {
      ++disagreements;
      std::cout << file << " " << feature << ": node " << j["enabled"] << "/" << j["variant"] << ", belay "
                << (e.enabled ? "true" : "false") << "/" << v.variant.name << ", context " << j["context"].dump() << "\n";
    }
  }
  std::cout << cases << " cases, " << disagreements << " disagreements\n";
  return disagreements == 0 && cases > 0 ? 0 : 1;
}
