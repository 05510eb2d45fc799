#include "embedded/embedded.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "pg/pg.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/sha256.h"

namespace belay::embedded {
namespace stdfs = std::filesystem;
using json = nlohmann::json;

namespace {

bool is_exec(const stdfs::path& p) { return ::access(p.c_str(), X_OK) == 0; }

bool has_server(const stdfs::path& dir) {
  return is_exec(dir / "initdb") && is_exec(dir / "pg_ctl") && is_exec(dir / "postgres");
}

// Numeric-aware "15" > "9.6" comparison of version directory names.
bool version_less(const std::string& a, const std::string& b) {
  return std::stod("0" + a.substr(0, a.find_first_not_of("0123456789."))) <
         std::stod("0" + b.substr(0, b.find_first_not_of("0123456789.")));
}

// Who runs the server: PostgreSQL refuses root, so root hands it to an unprivileged account.
struct ServerUser {
  std::optional<uid_t> uid;  // set only when we must switch
  std::optional<gid_t> gid;
  uid_t effective_uid = 0;
  gid_t effective_gid = 0;
  std::string name;
};

Result<ServerUser> server_user(const Options& opt) {
  ServerUser su;
  if (::geteuid() != 0) {
    su.effective_uid = ::geteuid();
    su.effective_gid = ::getegid();
    return su;
  }
  std::string name = opt.server_user.empty() ? "postgres" : opt.server_user;
  auto u = proc::lookup_user(name);
  if (!u) {
    // No postgres account (unusual when a server is installed): make a locked system one.
    auto r = proc::run({"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name});
    u = proc::lookup_user(name);
    if (!u)
      return Error::failure(fmt::format("belay runs as root and PostgreSQL refuses root; no account '{}' to run it as", name))
          .with_next(fmt::format("create it (useradd --system {}) or run belay as a normal user", name));
    (void)r;
  }
  su.uid = u->uid;
  su.gid = u->gid;
  su.effective_uid = u->uid;
  su.effective_gid = u->gid;
  su.name = name;
  return su;
}

// The server account must be able to walk down to PGDATA. Give search (x, not read)
// permission to "other" on the ancestors that lack it; nothing else changes.
std::vector<std::string> ensure_traversable(const stdfs::path& dir, const ServerUser& su) {
  std::vector<std::string> changed;
  if (!su.uid) return changed;
  stdfs::path p;
  for (const auto& part : stdfs::absolute(dir)) {
    p /= part;
    struct stat st{};
    if (::stat(p.c_str(), &st) != 0) break;
    bool ok = (st.st_uid == su.effective_uid && (st.st_mode & S_IXUSR)) ||
              (st.st_gid == su.effective_gid && (st.st_mode & S_IXGRP)) || (st.st_mode & S_IXOTH);
    if (!ok && ::chmod(p.c_str(), (st.st_mode & 07777) | S_IXOTH) == 0) changed.push_back(p.string());
  }
  return changed;
}

Status chown_tree(const stdfs::path& p, const ServerUser& su) {
  if (!su.uid) return ok_status();
  auto own = [&](const stdfs::path& x) { return ::lchown(x.c_str(), *su.uid, *su.gid) == 0; };
  if (!own(p)) return Error::failure(fmt::format("cannot chown {}: {}", p.string(), std::strerror(errno)));
  if (stdfs::is_directory(p))
    for (auto& e : stdfs::recursive_directory_iterator(p)) own(e.path());
  return ok_status();
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

bool port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

std::string random_secret() {
  std::random_device rd;
  std::string s;
  static const char* al = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (int i = 0; i < 32; ++i) s += al[rd() % 62];
  return s;
}

// An exclusive lock on <root>/lock for the life of the object: serialises start/stop/init
// between processes.
class DirLock {
 public:
  explicit DirLock(const stdfs::path& root) {
    fd_ = ::open((root / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {}
  }
  ~DirLock() { if (fd_ >= 0) ::close(fd_); }
 private:
  int fd_ = -1;
};

struct State {
  int port = 0;
  std::string bin_dir;
  std::string version;
  std::string socket_dir;
};

State load_state(const stdfs::path& root) {
  State s;
  auto txt = fs::read_file(root / "cluster.json");
  if (!txt.ok()) return s;
  auto j = json::parse(*txt, nullptr, false);
  if (j.is_discarded()) return s;
  s.port = j.value("port", 0);
  s.bin_dir = j.value("bin_dir", "");
  s.version = j.value("version", "");
  s.socket_dir = j.value("socket_dir", "");
  return s;
}

Status save_state(const stdfs::path& root, const State& s) {
  json j = {{"port", s.port}, {"bin_dir", s.bin_dir}, {"version", s.version}, {"socket_dir", s.socket_dir}};
  return fs::write_file_atomic(root / "cluster.json", j.dump(2) + "\n");
}

// unix socket paths are limited to 107 bytes; fall back to a per-project dir in /tmp.
stdfs::path socket_dir_for(const stdfs::path& root) {
  auto dir = root / "run";
  if (dir.string().size() + 20 < 100) return dir;
  return stdfs::path("/tmp") / ("belay-" + sha256_hex(root.string()).substr(0, 12));
}

std::string server_version(const std::string& bin) {
  auto r = proc::run({(stdfs::path(bin) / "postgres").string(), "--version"});
  if (!r.ok()) return "";
  std::smatch m;
  static const std::regex re(R"((\d+(?:\.\d+)?))");
  if (std::regex_search(r->out, m, re)) return m[1];
  return "";
}

// pid from postmaster.pid and whether that process is a live postgres.
std::pair<int, bool> postmaster_pid(const stdfs::path& data) {
  std::ifstream in(data / "postmaster.pid");
  int pid = 0;
  if (!(in >> pid) || pid <= 0) return {0, false};
  if (::kill(pid, 0) != 0 && errno == ESRCH) return {pid, false};
  std::ifstream comm(fmt::format("/proc/{}/comm", pid));
  std::string name;
  comm >> name;
  return {pid, name.rfind("postgres", 0) == 0 || name.rfind("postmaster", 0) == 0};
}

std::string tail_file(const stdfs::path& p, size_t max_lines) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  std::string l;
  while (std::getline(in, l)) {
    lines.push_back(l);
    if (lines.size() > max_lines) lines.erase(lines.begin());
  }
  std::string out;
  for (auto& x : lines) out += "  " + x + "\n";
  return out;
}

Status run_checked(const std::vector<std::string>& argv, const ServerUser& su, const std::string& what) {
  proc::Options o;
  o.uid = su.uid;
  o.gid = su.gid;
  o.cwd = "/";
  o.unset = {"PGDATA", "PGPORT", "PGHOST"};
  auto r = proc::run(argv, o);
  if (!r.ok()) return std::move(r).error();
  if (!r->ok())
    return Error::failure(fmt::format("{} failed (exit {}):\n{}{}", what, r->exit_code, r->out, r->err));
  return ok_status();
}

}  // namespace

Result<std::string> find_pg_bin(const std::string& configured) {
  std::vector<std::string> tried;
  auto check = [&](const std::string& d) -> bool {
    if (d.empty()) return false;
    tried.push_back(d);
    return has_server(d);
  };
  if (!configured.empty()) {
    if (check(configured)) return configured;
    return Error::usage(fmt::format("no PostgreSQL server (initdb, pg_ctl, postgres) in {}", configured));
  }
  if (const char* env = std::getenv("BELAY_PG_BIN"); env && *env) {
    if (check(env)) return std::string(env);
    return Error::usage(fmt::format("BELAY_PG_BIN={} holds no initdb/pg_ctl/postgres", env));
  }
  if (auto r = proc::run({"pg_config", "--bindir"}); r.ok() && r->ok()) {
    auto d = r->out.substr(0, r->out.find('\n'));
    if (check(d)) return d;
  }
  if (const char* path = std::getenv("PATH")) {
    std::string p = path;
    size_t s = 0;
    while (s <= p.size()) {
      auto e = p.find(':', s);
      if (e == std::string::npos) e = p.size();
      if (check(p.substr(s, e - s))) return p.substr(s, e - s);
      s = e + 1;
    }
  }
  std::vector<std::pair<std::string, std::string>> found;  // (version, dir)
  auto scan = [&](const stdfs::path& base, const std::string& prefix, const std::string& suffix) {
    std::error_code ec;
    for (auto& e : stdfs::directory_iterator(base, ec)) {
      auto name = e.path().filename().string();
      if (name.rfind(prefix, 0) != 0) continue;
      auto dir = e.path() / suffix;
      if (has_server(dir)) found.emplace_back(name.substr(prefix.size()), dir.string());
    }
  };
  scan("/usr/lib/postgresql", "", "bin");
  scan("/usr", "pgsql-", "bin");
  scan("/opt/homebrew/opt", "postgresql@", "bin");
  scan("/usr/local/opt", "postgresql@", "bin");
  if (check("/usr/local/pgsql/bin")) found.emplace_back("0", "/usr/local/pgsql/bin");
  if (!found.empty()) {
    std::sort(found.begin(), found.end(), [](auto& a, auto& b) { return version_less(a.first, b.first); });
    return found.back().second;
  }
  return Error::failure("no PostgreSQL server found on this machine (looked for initdb, pg_ctl, postgres)")
      .with_next("install one (Debian: apt-get install postgresql) or set BELAY_PG_BIN to its bin directory");
}

Cluster::Cluster(stdfs::path project_root, Options opt)
    : root_(stdfs::weakly_canonical(stdfs::absolute(project_root)) / ".belay"), opt_(std::move(opt)) {}

std::string Cluster::url(const std::string& database) const {
  auto st = load_state(root_);
  auto sock = st.socket_dir.empty() ? socket_dir_for(root_).string() : st.socket_dir;
  return fmt::format("postgresql:///{}?host={}&port={}&user=postgres", database, sock, st.port);
}

Result<Info> Cluster::status() const {
  Info info;
  info.root = root_;
  info.data = root_ / "pgdata";
  info.log_file = root_ / "log" / "server.log";
  auto st = load_state(root_);
  info.port = st.port;
  info.bin_dir = st.bin_dir;
  info.version = st.version;
  info.socket_dir = st.socket_dir;
  if (!stdfs::exists(info.data / "PG_VERSION")) {
    info.state = "absent";
    return info;
  }
  info.url = url();
  auto [pid, alive] = postmaster_pid(info.data);
  info.pid = alive ? pid : 0;
  if (alive) info.state = "running";
  else if (pid > 0) {
    info.state = "crashed";
    info.detail = fmt::format("stale postmaster.pid (pid {} is not running); `belay db start` recovers", pid);
  } else {
    info.state = "stopped";
  }
  return info;
}

Result<Info> Cluster::start() {
  auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  stdfs::create_directories(root_, ec);
  if (ec) return Error::failure(fmt::format("cannot create {}: {}", root_.string(), ec.message()));
  ::chmod(root_.c_str(), 0755);
  DirLock lock(root_);
  BELAY_ASSIGN(ServerUser su, server_user(opt_));
  State st = load_state(root_);
  std::string bin = !opt_.pg_bin.empty() ? opt_.pg_bin : st.bin_dir;
  if (bin.empty() || !has_server(bin)) { BELAY_ASSIGN(bin, find_pg_bin(opt_.pg_bin)); }
  auto data = root_ / "pgdata";
  auto logdir = root_ / "log";
  std::vector<std::string> notes;
  for (auto& p : ensure_traversable(root_, su)) notes.push_back("allowed the server account to traverse " + p);

  bool fresh = false;
  if (!stdfs::exists(data / "PG_VERSION")) {
    // Initialise into a scratch dir and rename, so a killed initdb never leaves half a cluster.
    auto tmp = root_ / "pgdata.init";
    stdfs::remove_all(tmp, ec);
    stdfs::remove_all(data, ec);
    stdfs::create_directories(tmp);
    ::chmod(tmp.c_str(), 0700);
    BELAY_TRY(chown_tree(tmp, su));
    BELAY_TRY(run_checked({(stdfs::path(bin) / "initdb").string(), "-D", tmp.string(), "-U", "postgres",
                           "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                          su, "initdb"));
    // Loopback and our own socket only; trust over a 0700 socket dir, passwords over TCP.
    std::string conf =
        "\n# belay embedded cluster (throwaway: no fsync: survives a crash of the server, not of the machine)\n"
        "listen_addresses = '127.0.0.1'\n"
        "unix_socket_permissions = 0700\n"
        "fsync = off\nfull_page_writes = off\n"
        "max_connections = 100\nshared_buffers = 128MB\n"
        "logging_collector = off\nlog_min_messages = warning\n"
        "client_connection_check_interval = 1000\n"
        "# rehearsals create and drop thousands of catalog rows: vacuum them promptly, or\n"
        "# every catalog scan (fingerprints) slows down with the dead ones\n"
        "autovacuum_naptime = 1s\nautovacuum_vacuum_cost_delay = 0\n";
    std::ofstream(tmp / "postgresql.conf", std::ios::app) << conf;
    std::ofstream(tmp / "pg_hba.conf", std::ios::trunc)
        << "# belay embedded cluster\nlocal all all trust\n"
           "host all all 127.0.0.1/32 scram-sha-256\n";
    BELAY_TRY(chown_tree(tmp, su));
    stdfs::rename(tmp, data, ec);
    if (ec) return Error::failure(fmt::format("cannot move {} into place: {}", tmp.string(), ec.message()));
    fresh = true;
    st.bin_dir = bin;
    st.version = server_version(bin);
  }
  stdfs::create_directories(logdir, ec);
  BELAY_TRY(chown_tree(logdir, su));
  auto sock = socket_dir_for(root_);
  stdfs::create_directories(sock, ec);
  ::chmod(sock.c_str(), 0700);
  BELAY_TRY(chown_tree(sock, su));
  st.socket_dir = sock.string();
  if (st.bin_dir.empty()) st.bin_dir = bin;
  if (st.version.empty()) st.version = server_version(bin);

  auto [pid, alive] = postmaster_pid(data);
  if (!alive && pid > 0) {
    // Crash or kill -9: the pid file outlived its server. PostgreSQL redoes WAL on start.
    stdfs::remove(data / "postmaster.pid", ec);
    notes.push_back(fmt::format("recovered from a stale postmaster.pid (pid {} was not running)", pid));
  }
  if (!alive) {
    if (st.port == 0 || !port_free(st.port)) st.port = free_port();
    BELAY_TRY(save_state(root_, st));
    auto log_file = logdir / "server.log";
    Status started = ok_status();
    for (int attempt = 0; attempt < 3; ++attempt) {
      started = run_checked({(stdfs::path(bin) / "pg_ctl").string(), "start", "-w", "-t", "60", "-s", "-D",
                             data.string(), "-l", log_file.string(), "-o",
                             fmt::format("-p {} -k {}", st.port, sock.string())},
                            su, "pg_ctl start");
      if (started.ok()) break;
      // Most likely the port was taken between our check and the server's bind.
      st.port = free_port();
      BELAY_TRY(save_state(root_, st));
    }
    if (!started.ok()) {
      Error e = std::move(started).error();
      e.detail = "server log tail:\n" + tail_file(log_file, 15);
      e.next = fmt::format("read {} ; `belay db stop` then `belay db start` retries", log_file.string());
      return e;
    }
  }
  BELAY_TRY(save_state(root_, st));

  // First start: give the superuser a password for TCP (kept in a 0600 passfile). Then make
  // sure the template that fresh test and rehearsal databases are copied from, and the
  // default database, were made from this project's template SQL.
  BELAY_ASSIGN(auto conn, pg::Conn::open(url("postgres"), "belay-embedded"));
  BELAY_ASSIGN(auto has_tpl, conn.query("select 1 from pg_database where datname = $1",
                                         {std::string(kTemplateDatabase)}));
  if (fresh || has_tpl.size() == 0) {
    auto secret = random_secret();
    BELAY_TRY(conn.exec("alter role postgres password " + pg::quote_literal(secret)));
    BELAY_TRY(fs::write_file_atomic(root_ / "pgpass", fmt::format("127.0.0.1:*:*:postgres:{}\n", secret), 0600));
  }
  BELAY_TRY(ensure_template(conn, notes));
  BELAY_ASSIGN(Info info, status());
  info.start_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (auto& n : notes) info.detail += (info.detail.empty() ? "" : "; ") + n;
  return info;
}

namespace {

// What a database's comment says it was made from: "belay template <sha256 of the SQL>".
std::string template_tag(const std::string& sql) { return "belay template " + sha256_hex(sql); }

// The tag of each existing database among `names`. Databases made before tags existed have
// none: they were all made from empty template SQL. A template whose build did not finish
// (is_template is set last) has no tag either, and gets "" so it is always rebuilt.
Result<std::map<std::string, std::string>> tags_of(pg::Conn& conn, const std::vector<std::string>& names) {
  std::string list;
  for (auto& n : names) list += (list.empty() ? "" : ", ") + pg::quote_literal(n);
  BELAY_ASSIGN(auto rows, conn.query("select datname, coalesce(shobj_description(oid, 'pg_database'), "
                                     "case when datistemplate or datname <> $2 then $1 else '' end) "
                                     "from pg_database where datname in (" + list + ")",
                                     {template_tag(""), std::string(Cluster::kTemplateDatabase)}));
  std::map<std::string, std::string> out;
  for (int i = 0; i < rows.size(); ++i) out[rows.get(i, 0)] = rows.get(i, 1);
  return out;
}

}  // namespace

Status Cluster::ensure_template(pg::Conn& conn, std::vector<std::string>& notes) {
  const std::string want = template_tag(opt_.template_sql);
  const std::string tpl = kTemplateDatabase, def = kDefaultDatabase;
  BELAY_ASSIGN(auto tags, tags_of(conn, {tpl, def}));
  if (!tags.count(tpl) || tags[tpl] != want) {
    // Made for another flavour or an older template SQL (or never finished: the tag is
    // written last). A template database cannot be dropped until it stops being one.
    if (tags.count(tpl)) {
      BELAY_TRY(conn.exec(fmt::format("alter database {} is_template false", tpl)));
      notes.push_back("rebuilt the template database (it was made from other template SQL)");
    }
    BELAY_TRY(conn.exec(fmt::format("drop database if exists {} with (force)", tpl)));
    BELAY_TRY(conn.exec(fmt::format("create database {}", tpl)));
    if (!opt_.template_sql.empty()) {
      BELAY_ASSIGN(auto tconn, pg::Conn::open(url(tpl), "belay-embedded"));
      if (auto e = tconn.exec_detailed(opt_.template_sql)) {
        Error err = pg::to_error(*e);
        err.message = "building the template database failed: " + err.message;
        err.object = tpl;
        err.next = "fix the template SQL; the next start builds the template again";
        return err;
      }
    }
    BELAY_TRY(conn.exec(fmt::format("comment on database {} is {}", tpl, pg::quote_literal(want))));
    BELAY_TRY(conn.exec(fmt::format("alter database {} is_template true", tpl)));
  }
  if (tags.count(def) && tags[def] != want) {
    // The default database holds what migrations built on the old template: keep it under
    // another name rather than drop it, and make a new one the migrations can run on.
    // Two flavour switches within a second would pick the same name: number the later ones.
    auto kept = fmt::format("{}_before_{:%Y%m%d%H%M%S}", def, fmt::gmtime(std::time(nullptr)));
    BELAY_ASSIGN(auto taken, conn.query("select count(*) from pg_database where datname = $1 or datname like $1 || '\\_%'",
                                        {kept}));
    if (taken.get(0, 0) != "0") kept += "_" + std::to_string(std::stoi(taken.get(0, 0)) + 1);
    auto renamed = conn.exec(fmt::format("alter database {} rename to {}", def, kept));
    if (!renamed.ok()) {
      notes.push_back(fmt::format("the default database '{}' was made from other template SQL but could not be "
                                  "set aside ({}); close its sessions and start again",
                                  def, renamed.error().message));
      return ok_status();
    }
    notes.push_back(fmt::format("the default database was made from other template SQL: kept it as '{}' and "
                                "made a new '{}' (drop the old one when done)",
                                kept, def));
    tags.erase(def);
  }
  if (!tags.count(def)) {
    BELAY_TRY(conn.exec(fmt::format("create database {} template {}", def, tpl)));
    BELAY_TRY(conn.exec(fmt::format("comment on database {} is {}", def, pg::quote_literal(want))));
  }
  return ok_status();
}

Result<Info> Cluster::stop() {
  if (!stdfs::exists(root_)) return status();
  DirLock lock(root_);
  BELAY_ASSIGN(ServerUser su, server_user(opt_));
  auto data = root_ / "pgdata";
  auto [pid, alive] = postmaster_pid(data);
  if (alive) {
    State st = load_state(root_);
    std::string bin = st.bin_dir.empty() ? "" : st.bin_dir;
    if (bin.empty()) { BELAY_ASSIGN(bin, find_pg_bin(opt_.pg_bin)); }
    BELAY_TRY(run_checked({(stdfs::path(bin) / "pg_ctl").string(), "stop", "-w", "-t", "60", "-s", "-m", "fast",
                           "-D", data.string()},
                          su, "pg_ctl stop"));
  } else if (pid > 0) {
    std::error_code ec;
    stdfs::remove(data / "postmaster.pid", ec);
  }
  return status();
}

Result<std::string> Cluster::create_database(const std::string& name) {
  BELAY_ASSIGN(auto conn, pg::Conn::open(url("postgres"), "belay-embedded"));
  BELAY_TRY(conn.exec(fmt::format("create database {} template {}", pg::quote_ident(name), kTemplateDatabase)));
  return url(name);
}

Status Cluster::drop_database(const std::string& name) {
  BELAY_ASSIGN(auto conn, pg::Conn::open(url("postgres"), "belay-embedded"));
  return conn.exec(fmt::format("drop database if exists {} with (force)", pg::quote_ident(name)));
}

}  // namespace belay::embedded
