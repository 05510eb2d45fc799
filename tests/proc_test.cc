// Child processes (src/util/proc.h): a child asked to die with its parent does, even when
// the parent is killed with SIGKILL and cleans nothing up.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "util/proc.h"

namespace proc = belay::proc;

namespace {

// Alive and not a zombie (an orphan's zombie may wait for a PID 1 that does not reap).
bool running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

bool gone_within(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return !running(pid);
}

// Forks a stand-in for a test run that spawns `sleep 60` and reports its pid, then
// SIGKILLs the stand-in. Returns the orphaned sleeper's pid (or -1).
pid_t orphan_a_sleeper(bool die_with_parent) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t runner = ::fork();
  if (runner < 0) return -1;
  if (runner == 0) {
    ::close(fds[0]);
    proc::Options o;
    o.die_with_parent = die_with_parent;
    auto child = proc::spawn({"sleep", "60"}, o, "/dev/null", "/dev/null");
    const pid_t pid = child.ok() ? *child : -1;
    if (::write(fds[1], &pid, sizeof pid) != static_cast<ssize_t>(sizeof pid)) _exit(1);
    ::pause();
    _exit(0);
  }
  ::close(fds[1]);
  pid_t sleeper = -1;
  if (::read(fds[0], &sleeper, sizeof sleeper) != static_cast<ssize_t>(sizeof sleeper)) sleeper = -1;
  ::close(fds[0]);
  ::kill(runner, SIGKILL);
  ::waitpid(runner, nullptr, 0);
  return sleeper;
}

}  // namespace

TEST(Proc, ChildDiesWithAParentKilledMinus9) {
  const pid_t sleeper = orphan_a_sleeper(true);
  ASSERT_GT(sleeper, 0);
  EXPECT_TRUE(gone_within(sleeper, std::chrono::seconds(5))) << "pid " << sleeper << " outlived its parent";
  ::kill(sleeper, SIGKILL);
}

TEST(Proc, WithoutTheOptionTheChildOutlivesItsParent) {
  // The control: the option, not the kill, is what ends the child.
  const pid_t sleeper = orphan_a_sleeper(false);
  ASSERT_GT(sleeper, 0);
  EXPECT_FALSE(gone_within(sleeper, std::chrono::milliseconds(500)));
  ::kill(sleeper, SIGKILL);
}

TEST(Proc, RunCapturesOutputAndExitCode) {
  auto r = proc::run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.error().render();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}
