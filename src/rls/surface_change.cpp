// Surface regressions of one tracked step: only the relations and functions the step touched
// are compared, with everything that decides their exposure (grants, RLS flag, policies), so
// a rehearsal pays for what each migration changed, not for the whole schema.
#include <set>

#include <fmt/format.h>

#include "rls/rls.h"

namespace belay::rls {

namespace {

using fingerprint::Model;

const std::set<std::string> kRelevant = {"table", "view", "matview", "rls", "policy", "grant", "function", "default_acl"};

// A grant id is "<kind> <target> / <grantee> / <PRIVILEGE>".
std::string grant_target(const std::string& id) {
  auto p2 = id.rfind(" / ");
  if (p2 == std::string::npos || p2 == 0) return "";
  auto p1 = id.rfind(" / ", p2 - 1);
  if (p1 == std::string::npos) return "";
  auto target = id.substr(0, p1);
  auto sp = target.find(' ');
  return sp == std::string::npos ? "" : target.substr(sp + 1);
}

// Every prefix of `id` ending before a dot: a policy's table is one of them ("public.t.p"),
// and a column's relation ("public.t.c"). Extra prefixes only widen the comparison.
void add_prefixes(const std::string& id, std::set<std::string>& out) {
  for (size_t k = id.find('.'); k != std::string::npos; k = id.find('.', k + 1)) out.insert(id.substr(0, k));
}

}  // namespace

Result<SurfaceConfig> surface_config(const project::Config& cfg, const std::string& override_fail_at) {
  SurfaceConfig c;
  c.options.exposed_schemas = cfg.exposed_schemas;
  c.options.api_roles = cfg.rls.api_roles;
  const std::string& level = override_fail_at.empty() ? cfg.rls.regressions_fail_at : override_fail_at;
  if (level == "never") return c;
  c.fail_at = findings::parse_severity(level);
  if (!c.fail_at) {
    auto e = Error::usage(fmt::format("regressions_fail_at = \"{}\": it is \"error\", \"warning\", \"info\" or \"never\"", level));
    if (override_fail_at.empty()) return std::move(e).with_file((cfg.root / "belay.toml").string());
    return e;
  }
  return c;
}

std::vector<findings::Finding> surface_regressions(const fingerprint::Tracker& tracker, const SurfaceOptions& opt) {
  auto [before, after] = tracker.last_change();
  std::set<std::string> subjects;
  bool default_acl = false;
  for (const Model* m : {&before, &after})
    for (auto& o : m->objects) {
      if (!kRelevant.count(o.kind)) continue;
      if (o.kind == "default_acl") default_acl = true;
      else if (o.kind == "policy") add_prefixes(o.id, subjects);
      else if (o.kind == "grant") {
        auto t = grant_target(o.id);
        subjects.insert(t);
        add_prefixes(t, subjects);
      } else subjects.insert(o.id);
    }
  if (subjects.empty() && !default_acl) return {};
  auto keep = [&](const std::string& kind, const std::string& id) {
    if (!kRelevant.count(kind)) return false;
    if (kind == "default_acl") return true;
    if (kind == "grant") {
      auto t = grant_target(id);
      if (subjects.count(t)) return true;
      for (size_t k = t.find('.'); k != std::string::npos; k = t.find('.', k + 1))  // a column's relation
        if (subjects.count(t.substr(0, k))) return true;
      return false;
    }
    if (kind == "policy") {
      for (size_t k = id.find('.'); k != std::string::npos; k = id.find('.', k + 1))
        if (subjects.count(id.substr(0, k))) return true;
      return false;
    }
    return subjects.count(id) > 0;
  };
  return surface_regressions(tracker.model_before_last_update(keep), tracker.model(keep), opt);
}

}  // namespace belay::rls
