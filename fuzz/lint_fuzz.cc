// libFuzzer target for the lint entry point: any bytes as one migration file (and, split
// at a form feed, as several consecutive migrations). Nothing may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lint/lint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::pair<std::string, std::string>> files;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == '\f') {
      files.emplace_back(std::to_string(files.size() + 1) + "_fuzz.sql", text.substr(start, i - start));
      start = i + 1;
    }
  belay::lint::Options opt;
  auto rep = belay::lint::lint_texts(files, opt);
  // Rendering is part of the entry point too (it quotes source text back).
  for (auto fmt : {belay::findings::Format::text, belay::findings::Format::sarif, belay::findings::Format::github})
    (void)belay::findings::render(rep.findings, fmt, {});
  return 0;
}
