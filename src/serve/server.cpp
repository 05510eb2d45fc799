// The HTTP side: Boost.Beast over Asio, kept behind this file. cpp-httplib (the first
// version) gives every keep-alive connection a thread and tops out near 18,000 requests/s
// here; Beast serves every connection from a few threads, one per core, asynchronously.
// Requests are parsed with Beast's parser (header and body limits: 431 / 413); the
// routes, tokens and answers are dispatch()'s. Every answer is JSON, errors included.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <httplib.h>  // only for its query-string decoder

#include <fmt/format.h>

#include <array>
#include <thread>

#include "serve/internal.h"

namespace belay::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Server::Impl {
  explicit Impl(const Options& o) : state(o), opt(o) {}
  State state;
  Options opt;
  // One event loop per thread, each connection on one loop for its life: no locks or
  // strands between threads on the hot path.
  std::vector<std::unique_ptr<asio::io_context>> loops;
  size_t next = 0;
  std::optional<tcp::acceptor> acceptor;
  int port = 0;
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false};

  void accept();
};

namespace {

using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

std::string_view header_of(const void* raw, std::string_view name) {
  const auto& req = *static_cast<const HttpRequest*>(raw);
  auto it = req.find(beast::string_view(name.data(), name.size()));
  if (it == req.end()) return {};
  auto v = it->value();
  return {v.data(), v.size()};
}

const char* reason_word(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 413: return "payload_too_large";
    case 431: return "headers_too_large";
    default: return "error";
  }
}

// One connection: read a request, answer it, again while the client keeps it alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server::Impl& server) : stream_(std::move(socket)), server_(server) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }
  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_.opt.max_body);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(std::chrono::seconds(30));   // idle keep-alive connections close
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted)
      return close();
    if (ec) {   // malformed request line or headers, or over a limit: say so, then close
      int status = ec == http::error::body_limit ? 413 : ec == http::error::header_limit ? 431 : 400;
      HttpResponse res{static_cast<http::status>(status), 11};
      res.set(http::field::content_type, "application/json");
      res.body() = error_body(reason_word(status), fmt::format("HTTP {}: {}", status, ec.message()));
      res.keep_alive(false);
      drain_ = status == 413;   // the client is still sending: let it finish and read the answer
      return write(std::move(res));
    }
    const HttpRequest& req = parser_->get();
    write(answer(req));
  }

  HttpResponse answer(const HttpRequest& req) {
    auto t0 = std::chrono::steady_clock::now();
    auto target = req.target();
    std::string_view whole(target.data(), target.size());
    auto q = whole.find('?');
    std::string path = httplib::detail::decode_url(std::string(whole.substr(0, q)), false);
    Params params;
    if (q != std::string_view::npos) httplib::detail::parse_query_text(std::string(whole.substr(q + 1)), params);
    auto method = req.method_string();
    Request r;
    r.method = std::string_view(method.data(), method.size());
    r.path = path;
    r.body = req.body();
    r.remote_addr = remote_;
    r.params = &params;
    r.raw = &req;
    r.header_fn = header_of;
    Route route = Route::unknown;
    Response out;
    try {
      out = dispatch(server_.state, r, route);
    } catch (const std::exception& e) {   // a bug, not an input: answer and keep serving
      out = error_response(500, "internal_error", e.what());
    }
    HttpResponse res{static_cast<http::status>(out.status), req.version()};
    if (!out.body.empty()) res.set(http::field::content_type, out.content_type);
    for (auto& [k, v] : out.headers) res.set(beast::string_view(k), v);
    if (server_.state.stale()) res.set("X-Belay-Snapshot", "stale");
    if (req.method() != http::verb::head) res.body() = std::move(out.body);
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    server_.state.metrics.observe(route, out.status,
                                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return res;
  }

  void write(HttpResponse res) {
    if (res.body().size() && !res.has_content_length()) res.prepare_payload();
    auto sp = std::make_shared<HttpResponse>(std::move(res));
    http::async_write(stream_, *sp, [self = shared_from_this(), sp](beast::error_code ec, size_t) {
      if (!ec && self->drain_) return self->linger();
      if (ec || !sp->keep_alive()) return self->close();
      self->read();
    });
  }

  // After an early answer (413): close our side, then read and drop what the client still
  // sends (at most 64 MiB or 5 s), so it sees the answer instead of a reset connection.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(5));
    drop_ = std::make_shared<std::array<char, 65536>>();
    drain_more();
  }
  void drain_more() {
    stream_.async_read_some(asio::buffer(*drop_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > (64u << 20)) return;   // EOF, timeout or enough: the socket closes with us
      self->drain_more();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Server::Impl& server_;
  std::string remote_;
  bool drain_ = false;
  size_t drained_ = 0;
  std::shared_ptr<std::array<char, 65536>> drop_;
};

}  // namespace

void Server::Impl::accept() {
  asio::io_context& loop = *loops[next++ % loops.size()];
  acceptor->async_accept(loop, [this](beast::error_code ec, tcp::socket socket) {
    if (stopped) return;
    if (!ec) std::make_shared<Session>(std::move(socket), *this)->start();
    accept();
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  if (!impl_) return;
  stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->state.stop();
}

Result<std::unique_ptr<Server>> Server::start(const Options& o) {
  if (o.threads < 1 || o.threads > 4096) return Error::usage(fmt::format("--threads {} is not in 1..4096", o.threads));
  auto impl = std::make_unique<Impl>(o);
  BELAY_TRY(impl->state.start());
  beast::error_code ec;
  auto addr = asio::ip::make_address(o.host, ec);
  if (ec) return Error::usage(fmt::format("cannot listen on {}: not an IP address", o.host));
  tcp::endpoint ep{addr, static_cast<unsigned short>(o.port)};
  // One thread per core serves every connection; more would only contend (--threads caps it).
  unsigned hw = std::max(2u, std::thread::hardware_concurrency());
  int n = std::min(o.threads, static_cast<int>(hw));
  for (int i = 0; i < n; ++i) impl->loops.push_back(std::make_unique<asio::io_context>(1));
  impl->acceptor.emplace(*impl->loops[0]);
  impl->acceptor->open(ep.protocol(), ec);
  if (!ec) impl->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(ep, ec);
  if (!ec) impl->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return std::move(Error::failure(fmt::format("cannot listen on {}:{}: {}", o.host, o.port, ec.message())))
        .with_next("is another server on that port? pick another with --listen HOST:PORT");
  impl->port = impl->acceptor->local_endpoint().port();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port; }

std::vector<std::string> Server::environments() const {
  std::vector<std::string> out;
  for (auto& [env, s] : *impl_->state.snapshots()) out.push_back(env);
  return out;
}

Status Server::run() {
  impl_->accept();
  // Loops without connections yet must not return at once.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& l : impl_->loops) guards.push_back(asio::make_work_guard(*l));
  for (size_t i = 1; i < impl_->loops.size(); ++i)
    impl_->threads.emplace_back([this, i] { impl_->loops[i]->run(); });
  impl_->loops[0]->run();
  return ok_status();
}

void Server::stop() {
  impl_->stopped = true;
  for (auto& l : impl_->loops) l->stop();
}

}  // namespace belay::serve
