#include "util/proc.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

extern char** environ;

namespace belay::proc {
namespace {

// Builds the child's environment from ours plus the overrides.
std::vector<std::string> child_env(const Options& opt) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto name = kv.substr(0, kv.find('='));
    bool drop = false;
    for (auto& u : opt.unset) drop |= (u == name);
    for (auto& o : opt.env) drop |= (o.substr(0, o.find('=')) == name);
    if (!drop) env.push_back(std::move(kv));
  }
  for (auto& o : opt.env) env.push_back(o);
  return env;
}

// In the child after fork: only async-signal-safe calls until exec.
[[noreturn]] void exec_child(const std::vector<std::string>& argv, const Options& opt,
                             std::vector<std::string>& env, pid_t parent) {
  if (!opt.cwd.empty() && ::chdir(opt.cwd.c_str()) != 0) _exit(126);
  if (opt.uid) {
    gid_t g = opt.gid.value_or(0);
    if (::setgroups(0, nullptr) != 0 || ::setgid(g) != 0 || ::setuid(*opt.uid) != 0) _exit(126);
  }
  // After the user switch, which clears it; the parent may already be gone by now.
  if (opt.die_with_parent && (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent)) _exit(126);
  std::vector<char*> args, envp;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  ::execvpe(args[0], args.data(), envp.data());
  _exit(127);
}

Outcome wait_child(pid_t pid) {
  Outcome o;
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(st)) o.exit_code = WEXITSTATUS(st);
  else if (WIFSIGNALED(st)) o.signal = WTERMSIG(st);
  return o;
}

}  // namespace

Result<Outcome> run(const std::vector<std::string>& argv, const Options& opt) {
  if (argv.empty()) return Error::failure("run: empty command");
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
    return Error::failure(fmt::format("pipe: {}", std::strerror(errno)));
  auto env = child_env(opt);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Error::failure(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    exec_child(argv, opt, env, parent);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // Feed stdin and drain both outputs without deadlocking on full pipes.
  size_t written = 0;
  int in_fd = in[1];
  if (opt.stdin_data.empty()) { ::close(in_fd); in_fd = -1; }
  else ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  std::string out_s, err_s;
  int fds_open = 2;
  bool out_open = true, err_open = true;
  char buf[8192];
  while (fds_open > 0 || in_fd >= 0) {
    pollfd p[3];
    int n = 0;
    if (out_open) p[n++] = {out[0], POLLIN, 0};
    if (err_open) p[n++] = {err[0], POLLIN, 0};
    if (in_fd >= 0) p[n++] = {in_fd, POLLOUT, 0};
    if (::poll(p, static_cast<nfds_t>(n), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      if (p[i].fd == in_fd) {
        ssize_t w = ::write(in_fd, opt.stdin_data.data() + written, opt.stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN) written = opt.stdin_data.size();
        if (written >= opt.stdin_data.size()) { ::close(in_fd); in_fd = -1; }
        continue;
      }
      ssize_t r = ::read(p[i].fd, buf, sizeof buf);
      if (r > 0) {
        (p[i].fd == out[0] ? out_s : err_s).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
        if (p[i].fd == out[0]) out_open = false; else err_open = false;
        --fds_open;
      }
    }
  }
  ::close(out[0]);
  ::close(err[0]);
  Outcome o = wait_child(pid);
  o.out = std::move(out_s);
  o.err = std::move(err_s);
  return o;
}

Result<pid_t> spawn(const std::vector<std::string>& argv, const Options& opt,
                    const std::string& out_file, const std::string& err_file) {
  if (argv.empty()) return Error::failure("spawn: empty command");
  auto env = child_env(opt);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Error::failure(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    int nul = ::open("/dev/null", O_RDONLY);
    int o = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int e = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (nul < 0 || o < 0 || e < 0) _exit(126);
    ::dup2(nul, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    exec_child(argv, opt, env, parent);
  }
  return pid;
}

std::optional<User> lookup_user(const std::string& name) {
  struct passwd pw;
  struct passwd* res = nullptr;
  char buf[4096];
  if (::getpwnam_r(name.c_str(), &pw, buf, sizeof buf, &res) != 0 || !res) return std::nullopt;
  return User{pw.pw_uid, pw.pw_gid, pw.pw_name, pw.pw_dir ? pw.pw_dir : ""};
}

}  // namespace belay::proc
