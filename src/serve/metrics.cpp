// Counters and the Prometheus text exposition of /metrics.
#include <fmt/format.h>

#include "serve/internal.h"

namespace belay::serve {
namespace {

constexpr size_t kMaxApps = 1000;            // registered (app, instance) pairs kept
constexpr size_t kMaxClientVariants = 10000; // (environment, flag, variant) triples kept

// A Prometheus label value: \\, \" and \n escaped; control bytes and invalid UTF-8 as '?'.
std::string label(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c == 0x7f) out += '?';
    else if (c >= 0x80) {
      size_t n = utf8_len(s, i);
      if (n) {
        out.append(s.data() + i, n);
        i += n;
        continue;
      }
      out += '?';
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

void head(std::string& o, const char* name, const char* type, const char* help) {
  o += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string_view route_name(Route r) {
  static constexpr std::string_view names[] = {
      "client_features", "client_register", "client_metrics", "frontend", "frontend_feature", "ofrep_flag",
      "ofrep_bulk", "ofrep_configuration", "admin", "healthz", "metrics", "unknown"};
  auto i = static_cast<size_t>(r);
  return i < std::size(names) ? names[i] : "unknown";
}

FlagCounters* Metrics::flag(std::string_view environment, std::string_view name) {
  std::lock_guard lk(mu_);
  auto key = std::make_pair(std::string(environment), std::string(name));
  auto it = flags_.find(key);
  if (it == flags_.end()) it = flags_.emplace(std::move(key), std::make_unique<FlagCounters>()).first;
  return it->second.get();
}

void Metrics::observe(Route r, int status, double seconds) {
  auto& rs = routes_[static_cast<size_t>(r)];
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  rs.buckets[b].fetch_add(1, std::memory_order_relaxed);
  rs.sum_ns.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
  rs.count.fetch_add(1, std::memory_order_relaxed);
  size_t s = 0;
  while (s + 1 < kStatuses.size() && kStatuses[s] != status) ++s;
  rs.statuses[s].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::app_registered(const ClientApp& a, std::string_view environment) {
  std::lock_guard lk(mu_);
  auto key = std::make_pair(a.app_name, a.instance_id);
  auto it = apps_.find(key);
  if (it == apps_.end()) {
    if (apps_.size() >= kMaxApps) return;
    it = apps_.emplace(std::move(key), App{}).first;
  }
  it->second.environment = std::string(environment);
  it->second.sdk_version = a.sdk_version;
  ++it->second.registrations;
}

size_t Metrics::client_report(const ClientMetrics& m, std::string_view environment,
                              const std::unordered_map<std::string, uint32_t>& known) {
  size_t unknown = 0;
  std::vector<std::pair<const ToggleCount*, FlagCounters*>> hits;
  for (auto& t : m.toggles) {
    if (!known.count(t.flag)) {
      ++unknown;
      continue;
    }
    hits.emplace_back(&t, flag(environment, t.flag));
  }
  std::lock_guard lk(mu_);
  for (auto& [t, c] : hits) {
    c->client_yes.fetch_add(t->yes, std::memory_order_relaxed);
    c->client_no.fetch_add(t->no, std::memory_order_relaxed);
    for (auto& [v, n] : t->variants) {
      auto key = std::make_tuple(std::string(environment), t->flag, v);
      auto it = client_variants_.find(key);
      if (it == client_variants_.end()) {
        if (client_variants_.size() >= kMaxClientVariants) continue;
        it = client_variants_.emplace(std::move(key), 0).first;
      }
      it->second += n;
    }
  }
  auto key = std::make_pair(m.app_name, m.instance_id);
  auto it = apps_.find(key);
  if (it == apps_.end() && apps_.size() < kMaxApps) it = apps_.emplace(std::move(key), App{std::string(environment), "", 0, 0}).first;
  if (it != apps_.end()) ++it->second.reports;
  return unknown;
}

size_t Metrics::apps() const {
  std::lock_guard lk(mu_);
  return apps_.size();
}

std::string Metrics::render(const StateView& v) const {
  std::string o;
  o.reserve(16384);
  auto now = std::chrono::steady_clock::now();
  head(o, "belay_snapshot_revision", "gauge", "Revision of the snapshot served, per environment.");
  if (v.snapshots)
    for (auto& [env, s] : *v.snapshots) o += fmt::format("belay_snapshot_revision{{environment=\"{}\"}} {}\n", label(env), s->loaded.revision);
  head(o, "belay_snapshot_flags", "gauge", "Flags in the snapshot served, per environment.");
  if (v.snapshots)
    for (auto& [env, s] : *v.snapshots) o += fmt::format("belay_snapshot_flags{{environment=\"{}\"}} {}\n", label(env), s->loaded.snapshot.size());
  head(o, "belay_snapshot_age_seconds", "gauge", "Seconds since the snapshot served was loaded.");
  if (v.snapshots)
    for (auto& [env, s] : *v.snapshots)
      o += fmt::format("belay_snapshot_age_seconds{{environment=\"{}\"}} {:.3f}\n", label(env),
                       std::chrono::duration<double>(now - s->loaded_at).count());
  head(o, "belay_snapshot_stale", "gauge", "1 while the database is unreachable and the last snapshot is served.");
  o += fmt::format("belay_snapshot_stale {}\n", v.stale ? 1 : 0);
  head(o, "belay_snapshot_reloads_total", "counter", "Snapshots loaded after a change notification or a reconnect.");
  o += fmt::format("belay_snapshot_reloads_total {}\n", reloads.load());
  head(o, "belay_snapshot_reload_errors_total", "counter", "Failed snapshot or token loads.");
  o += fmt::format("belay_snapshot_reload_errors_total {}\n", reload_errors.load());
  head(o, "belay_database_reconnects_total", "counter", "Connections to the database re-established after a loss.");
  o += fmt::format("belay_database_reconnects_total {}\n", reconnects.load());
  head(o, "belay_notifications_total", "counter", "Change notifications received on channel belay_flags.");
  o += fmt::format("belay_notifications_total {}\n", notifications.load());
  head(o, "belay_admin_changes_total", "counter", "Changes made through the admin API.");
  o += fmt::format("belay_admin_changes_total {}\n", admin_changes.load());
  head(o, "belay_evaluation_errors_total", "counter", "Evaluations answered with an error (unknown flag, bad context).");
  o += fmt::format("belay_evaluation_errors_total {}\n", eval_errors.load());

  std::lock_guard lk(mu_);
  head(o, "belay_flag_evaluations_total", "counter", "Flag evaluations this server answered (exposures), by result.");
  for (auto& [k, c] : flags_) {
    auto env = label(k.first), name = label(k.second);
    o += fmt::format("belay_flag_evaluations_total{{environment=\"{}\",flag=\"{}\",result=\"enabled\"}} {}\n", env, name, c->on.load());
    o += fmt::format("belay_flag_evaluations_total{{environment=\"{}\",flag=\"{}\",result=\"disabled\"}} {}\n", env, name, c->off.load());
  }
  head(o, "belay_client_flag_evaluations_total", "counter", "Evaluations reported by SDKs on /api/client/metrics, by result.");
  for (auto& [k, c] : flags_) {
    if (!c->client_yes.load() && !c->client_no.load()) continue;
    auto env = label(k.first), name = label(k.second);
    o += fmt::format("belay_client_flag_evaluations_total{{environment=\"{}\",flag=\"{}\",result=\"yes\"}} {}\n", env, name, c->client_yes.load());
    o += fmt::format("belay_client_flag_evaluations_total{{environment=\"{}\",flag=\"{}\",result=\"no\"}} {}\n", env, name, c->client_no.load());
  }
  head(o, "belay_client_variant_evaluations_total", "counter", "Variant counts reported by SDKs on /api/client/metrics.");
  for (auto& [k, n] : client_variants_)
    o += fmt::format("belay_client_variant_evaluations_total{{environment=\"{}\",flag=\"{}\",variant=\"{}\"}} {}\n",
                     label(std::get<0>(k)), label(std::get<1>(k)), label(std::get<2>(k)), n);
  head(o, "belay_registered_apps", "gauge", "SDK instances that registered or reported metrics.");
  o += fmt::format("belay_registered_apps {}\n", apps_.size());
  head(o, "belay_client_app_registrations_total", "counter", "Registrations per SDK instance.");
  for (auto& [k, a] : apps_)
    o += fmt::format("belay_client_app_registrations_total{{app=\"{}\",instance=\"{}\",environment=\"{}\",sdk=\"{}\"}} {}\n",
                     label(k.first), label(k.second), label(a.environment), label(a.sdk_version), a.registrations);

  head(o, "belay_http_requests_total", "counter", "HTTP requests by route and status.");
  for (size_t r = 0; r < routes_.size(); ++r)
    for (size_t s = 0; s < kStatuses.size(); ++s)
      if (auto n = routes_[r].statuses[s].load())
        o += fmt::format("belay_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", route_name(static_cast<Route>(r)),
                         kStatuses[s] ? std::to_string(kStatuses[s]) : "other", n);
  head(o, "belay_http_request_duration_seconds", "histogram", "Time spent answering, by route (from parsed request to response body).");
  for (size_t r = 0; r < routes_.size(); ++r) {
    auto& rs = routes_[r];
    uint64_t count = rs.count.load();
    if (!count) continue;
    auto rn = route_name(static_cast<Route>(r));
    uint64_t cum = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cum += rs.buckets[b].load();
      o += fmt::format("belay_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", rn, kBuckets[b], cum);
    }
    cum += rs.buckets[kBuckets.size()].load();
    o += fmt::format("belay_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", rn, cum);
    o += fmt::format("belay_http_request_duration_seconds_sum{{route=\"{}\"}} {:.9f}\n", rn, rs.sum_ns.load() / 1e9);
    o += fmt::format("belay_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", rn, cum);
  }
  return o;
}

}  // namespace belay::serve
