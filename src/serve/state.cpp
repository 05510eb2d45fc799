// The served state and the listener thread that keeps it current: LISTEN belay_flags on
// one connection, reload what a notification names, and when the connection is lost
// keep the last snapshots (stale), reconnect with backoff and reload everything.
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "serve/internal.h"

namespace belay::serve {

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

constexpr int kWaitMs = 200;            // how long one wait for notifications lasts (stop latency)
constexpr int kPingEveryMs = 2000;      // an idle listener checks its connection this often

// "<environment>:<revision>" as the store's trigger sends it.
bool parse_payload(std::string_view p, std::string& env, int64_t& rev) {
  auto colon = p.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  env = std::string(p.substr(0, colon));
  rev = 0;
  for (char c : p.substr(colon + 1)) {
    if (c < '0' || c > '9') return false;
    rev = rev * 10 + (c - '0');
  }
  return true;
}

}  // namespace

StateView State::view() const {
  StateView v;
  v.snapshots = snapshots();
  v.stale = stale();
  v.stale_since_ms = stale_since_ms_.load();
  std::lock_guard lk(err_mu_);
  v.last_error = last_error_;
  return v;
}

void State::mark_stale(const std::string& why) {
  {
    std::lock_guard lk(err_mu_);
    last_error_ = why;
  }
  if (!stale_.exchange(true)) stale_since_ms_ = unix_ms();
}

Status State::reload_tokens() {
  BELAY_ASSIGN(auto list, flagstore::tokens(*conn_));
  auto t = std::make_shared<Tokens>();
  for (auto& k : list) t->emplace(k.secret_sha256, TokenInfo{k.name, k.kind, k.environment});
  tokens_.store(std::move(t), std::memory_order_release);
  return ok_status();
}

Status State::reload(const std::vector<std::string>& envs) {
  auto cur = snapshots();
  auto next = std::make_shared<Snapshots>(cur ? *cur : Snapshots{});
  for (auto& env : envs) {
    auto loaded = flagstore::load(*conn_, env);
    if (!loaded.ok()) {
      metrics.reload_errors.fetch_add(1);
      return std::move(loaded).error();
    }
    auto s = std::make_shared<EnvSnapshot>();
    s->environment = env;
    s->loaded = std::move(*loaded);
    const auto& features = s->loaded.snapshot.document().features;
    s->counters.reserve(features.size());
    for (uint32_t i = 0; i < features.size(); ++i) {
      s->counters.push_back(metrics.flag(env, features[i].name));
      s->index.emplace(features[i].name, i);
    }
    s->loaded_at = std::chrono::steady_clock::now();
    (*next)[env] = std::move(s);
    metrics.reloads.fetch_add(1);
  }
  snaps_.store(std::move(next), std::memory_order_release);
  return ok_status();
}

Status State::connect_and_load() {
  conn_.reset();
  BELAY_ASSIGN(auto c, pg::Conn::open(opt_.dsn, fmt::format("belay serve listener (pid {})", ::getpid())));
  conn_.emplace(std::move(c));
  // LISTEN before loading: a change committed in between is then both loaded and announced.
  BELAY_TRY(conn_->listen(flagstore::kChannel));
  std::vector<std::string> envs = opt_.environments;
  if (envs.empty()) {
    // Every environment the store has (flagstore.h has no call for this list).
    BELAY_ASSIGN(auto rows, conn_->query("select name from belay.flag_environments order by name"));
    for (int i = 0; i < rows.size(); ++i) envs.push_back(rows.get(i, 0));
  }
  BELAY_TRY(reload_tokens());
  return reload(envs);
}

Status State::start() {
  auto s = connect_and_load();
  if (!s.ok()) {
    conn_.reset();
    return s;
  }
  thread_ = std::thread([this] { loop(); });
  return ok_status();
}

void State::stop() {
  {
    std::lock_guard lk(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void State::loop() {
  int backoff = 100;
  auto last_ping = std::chrono::steady_clock::now();
  auto stopping = [&](int wait_ms) {
    std::unique_lock lk(stop_mu_);
    if (wait_ms > 0) stop_cv_.wait_for(lk, std::chrono::milliseconds(wait_ms), [&] { return stopping_; });
    return stopping_;
  };
  while (!stopping(0)) {
    if (!conn_) {
      if (stopping(backoff)) break;
      auto s = connect_and_load();
      if (!s.ok()) {
        conn_.reset();
        mark_stale(s.error().message);
        backoff = std::min(backoff * 2, std::max(100, opt_.reconnect_max_ms));
        continue;
      }
      backoff = 100;
      metrics.reconnects.fetch_add(1);
      stale_ = false;
      last_ping = std::chrono::steady_clock::now();
      continue;
    }
    auto n = conn_->wait_notifications(kWaitMs);
    if (!n.ok()) {
      conn_.reset();
      mark_stale(n.error().message);
      continue;
    }
    auto now = std::chrono::steady_clock::now();
    if (n->empty()) {
      // A connection can die without a word (a network cut); ask it now and then.
      if (now - last_ping > std::chrono::milliseconds(kPingEveryMs)) {
        last_ping = now;
        if (!conn_->exec("select 1").ok() || !conn_->ok()) {
          conn_.reset();
          mark_stale("the database stopped answering");
        }
      }
      continue;
    }
    metrics.notifications.fetch_add(n->size());
    auto cur = snapshots();
    std::vector<std::string> envs;
    for (auto& note : *n) {
      std::string env;
      int64_t rev = 0;
      if (!parse_payload(note.payload, env, rev)) continue;
      bool served = opt_.environments.empty() ||
                    std::find(opt_.environments.begin(), opt_.environments.end(), env) != opt_.environments.end();
      if (!served || std::find(envs.begin(), envs.end(), env) != envs.end()) continue;
      auto it = cur->find(env);
      if (it != cur->end() && it->second->loaded.revision >= rev) continue;   // already have it
      envs.push_back(env);
    }
    if (envs.empty()) continue;
    // Token changes also rebuild and announce the snapshots, so tokens reload here too.
    auto t = reload_tokens();
    auto r = t.ok() ? reload(envs) : std::move(t);
    if (!r.ok()) {
      if (!conn_->ok()) {
        conn_.reset();
        mark_stale(r.error().message);
      } else {
        std::lock_guard lk(err_mu_);
        last_error_ = r.error().message;
      }
    }
  }
  conn_.reset();
}

Result<pg::Conn*> State::admin_conn() {
  if (admin_ && admin_->ok()) return &*admin_;
  admin_.reset();
  BELAY_ASSIGN(auto c, pg::Conn::open(opt_.dsn, fmt::format("belay serve admin (pid {})", ::getpid())));
  admin_.emplace(std::move(c));
  return &*admin_;
}

}  // namespace belay::serve
