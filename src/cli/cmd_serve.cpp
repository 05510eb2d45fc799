// belay serve [--listen HOST:PORT] [--environment E ...] [--threads N]
// Serves the target's flag store over HTTP (src/serve/serve.h) until SIGINT or SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "cli/render.h"
#include "cli/session.h"
#include "flagstore/flagstore.h"
#include "serve/serve.h"

namespace belay::cli {
namespace {

struct ServeFlags {
  std::string listen = "127.0.0.1:4242";
  std::vector<std::string> environments;
  int threads = 64;
};

Result<std::pair<std::string, int>> parse_listen(const std::string& s) {
  auto colon = s.rfind(':');
  auto bad = [&] {
    return Error::usage(fmt::format("--listen needs HOST:PORT (e.g. 127.0.0.1:4242, or port 0 for any free port), got '{}'", s));
  };
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return bad();
  std::string host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  for (char c : s.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return bad();
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return bad();
  return std::make_pair(host, port);
}

int cmd_serve(const Global& g, const ServeFlags& f) {
  auto listen = parse_listen(f.listen);
  if (!listen.ok()) return report_error(listen.error());
  auto s = open_session(g, "serve", true, false);
  if (!s.ok()) return report_error(s.error());
  if (auto st = flagstore::install(*s->conn); !st.ok()) return report_error(st.error());
  s->conn.reset();   // the server opens its own connections

  // SIGINT/SIGTERM go to one thread that stops the server (blocked before any thread starts,
  // so every thread inherits the mask).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  serve::Options o;
  o.dsn = s->target.dsn;
  o.host = listen->first;
  o.port = listen->second;
  o.environments = f.environments;
  o.threads = f.threads;
  auto srv = serve::Server::start(o);
  if (!srv.ok()) return report_error(srv.error());
  auto envs = (*srv)->environments();
  std::string url = fmt::format("http://{}:{}", o.host, (*srv)->port());
  if (g.json) {
    print_json({{"listening", url}, {"port", (*srv)->port()}, {"environments", envs}, {"target", s->target.display}});
  } else {
    std::cout << fmt::format("belay serve: listening on {} (target {}, environments {})", url, s->target.display,
                             fmt::join(envs, ", "))
              << std::endl;
  }
  std::cout.flush();
  serve::Server* raw = srv->get();
  std::thread([raw, sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    raw->stop();
  }).detach();
  auto r = (*srv)->run();
  if (!r.ok()) return report_error(r.error());
  if (!g.json) std::cout << "belay serve: stopped" << std::endl;
  return 0;
}

}  // namespace

void add_serve_commands(CLI::App& app, Global& g, int& rc) {
  static ServeFlags f;
  auto* c = app.add_subcommand("serve", "serve feature flags over HTTP: Unleash client/frontend APIs, OFREP, admin API, /healthz, /metrics");
  c->add_option("--listen", f.listen, "HOST:PORT to listen on (default 127.0.0.1:4242; port 0 = any free port)");
  c->add_option("--environment", f.environments, "environment(s) to serve (default: every environment in the store)");
  c->add_option("--threads", f.threads, "event-loop threads, at most one per core (default: one per core)");
  c->callback([&] { rc = cmd_serve(g, f); });
}

}  // namespace belay::cli
