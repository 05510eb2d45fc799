// The HTTP side: cpp-httplib, kept behind this file. Bodiless requests (GET, HEAD) are
// answered from the pre-routing hook, which skips httplib's regex routing; requests
// with a body go through one catch-all route so httplib has read the body (and
// answered 413 past the limit) first. Every answer is JSON, errors included.
#include <httplib.h>

#include <fmt/format.h>

#include "serve/internal.h"

namespace belay::serve {

struct Server::Impl {
  explicit Impl(const Options& o) : state(o) {}
  State state;
  httplib::Server http;
  int port = 0;

  void handle(const httplib::Request& req, httplib::Response& res);
};

namespace {

std::string_view header_of(const void* raw, std::string_view name) {
  const auto& headers = static_cast<const httplib::Request*>(raw)->headers;
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string_view() : std::string_view(it->second);
}

const char* reason_word(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 431: return "headers_too_large";
    default: return status >= 500 ? "internal_error" : "error";
  }
}

}  // namespace

void Server::Impl::handle(const httplib::Request& req, httplib::Response& res) {
  auto t0 = std::chrono::steady_clock::now();
  Request r;
  r.method = req.method;
  r.path = req.path;
  r.body = req.body;
  r.remote_addr = req.remote_addr;
  r.params = &req.params;
  r.raw = &req;
  r.header_fn = header_of;
  Route route = Route::unknown;
  Response out;
  try {
    out = dispatch(state, r, route);
  } catch (const std::exception& e) {   // a bug, not an input: answer and keep serving
    out = error_response(500, "internal_error", e.what());
  }
  res.status = out.status;
  if (!out.body.empty()) {
    res.body = std::move(out.body);
    res.set_header("Content-Type", out.content_type);
  }
  for (auto& [k, v] : out.headers) res.set_header(k, v);
  if (state.stale()) res.set_header("X-Belay-Snapshot", "stale");
  state.metrics.observe(route, out.status,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  if (impl_) {
    impl_->http.stop();
    impl_->state.stop();
  }
}

Result<std::unique_ptr<Server>> Server::start(const Options& o) {
  if (o.threads < 1 || o.threads > 4096) return Error::usage(fmt::format("--threads {} is not in 1..4096", o.threads));
  auto impl = std::make_unique<Impl>(o);
  BELAY_TRY(impl->state.start());
  auto& http = impl->http;
  int threads = o.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_tcp_nodelay(true);
  http.set_keep_alive_max_count(1000000);   // httplib's default closes every 5th request
  http.set_keep_alive_timeout(30);
  http.set_payload_max_length(o.max_body);
  Impl* self = impl.get();
  http.set_pre_routing_handler([self](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "GET" && req.method != "HEAD") return httplib::Server::HandlerResponse::Unhandled;
    self->handle(req, res);
    return httplib::Server::HandlerResponse::Handled;
  });
  auto h = [self](const httplib::Request& req, httplib::Response& res) { self->handle(req, res); };
  http.Post(".*", h).Put(".*", h).Delete(".*", h).Patch(".*", h).Options(".*", h);
  // What httplib answers itself (413, 400 for a malformed request line, ...) in JSON too.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    res.set_content(error_body(reason_word(res.status), fmt::format("HTTP {}", res.status)), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content(error_body("internal_error", "the request could not be answered"), "application/json");
  });
  if (o.port == 0) {
    impl->port = http.bind_to_any_port(o.host);
    if (impl->port <= 0) return Error::failure(fmt::format("cannot listen on {}: no free port", o.host));
  } else {
    if (!http.bind_to_port(o.host, o.port))
      return std::move(Error::failure(fmt::format("cannot listen on {}:{}", o.host, o.port)))
          .with_next("is another server on that port? pick another with --listen HOST:PORT");
    impl->port = o.port;
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port; }

std::vector<std::string> Server::environments() const {
  std::vector<std::string> out;
  for (auto& [env, s] : *impl_->state.snapshots()) out.push_back(env);
  return out;
}

Status Server::run() {
  if (!impl_->http.listen_after_bind()) return Error::failure("the HTTP server stopped with an error");
  return ok_status();
}

void Server::stop() { impl_->http.stop(); }

}  // namespace belay::serve
