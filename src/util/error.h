// Errors are values: every failure carries enough context to act on it
// (file:line:col, object, SQLSTATE, server hint, and what to do next).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace belay {

// Process exit codes; documented in README.md.
enum class ExitCode : int {
  ok = 0,
  failure = 1,   // a command ran and something failed (SQL error, I/O, ...)
  usage = 2,     // bad arguments, bad project files, malformed migrations
  refused = 3,   // belay refused to act: drift, missing rollback, partial state
  locked = 4,    // another runner holds the migration lock
};

struct Error {
  ExitCode code = ExitCode::failure;
  std::string message;     // one line, what went wrong
  std::string file;        // source file, if any
  int line = 0;            // 1-based; 0 = unknown
  int column = 0;          // 1-based; 0 = unknown
  std::string object;      // the database object or migration involved
  std::string sqlstate;    // server SQLSTATE, if from the server
  std::string detail;      // server DETAIL or extra explanation
  std::string hint;        // server HINT
  std::string next;        // what the user should do next
  bool missing = false;    // the thing asked for does not exist (an API answers 404)

  Error() = default;
  Error(ExitCode c, std::string msg) : code(c), message(std::move(msg)) {}

  static Error usage(std::string msg) { return Error{ExitCode::usage, std::move(msg)}; }
  static Error failure(std::string msg) { return Error{ExitCode::failure, std::move(msg)}; }
  static Error refused(std::string msg) { return Error{ExitCode::refused, std::move(msg)}; }
  // A failure that names something absent: a flag, an environment, a token, an override.
  static Error not_found(std::string msg) {
    Error e{ExitCode::failure, std::move(msg)};
    e.missing = true;
    return e;
  }

  Error&& with_file(std::string f, int l = 0, int c = 0) && {
    file = std::move(f); line = l; column = c; return std::move(*this);
  }
  Error&& with_next(std::string n) && { next = std::move(n); return std::move(*this); }
  Error&& with_object(std::string o) && { object = std::move(o); return std::move(*this); }

  // "file:line:col: message" plus the optional parts on following lines.
  std::string render() const;
  // "file:line:col" or "" when no file is known.
  std::string location() const;
};

// A value or an Error. Small on purpose: no exceptions cross the library boundary.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error err) : v_(std::move(err)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

}  // namespace belay

// Propagate an error from an expression yielding Result<T>/Status.
#define BELAY_TRY(expr)                                   \
  do {                                                    \
    auto belay_try_r_ = (expr);                           \
    if (!belay_try_r_.ok()) return std::move(belay_try_r_).error(); \
  } while (0)

#define BELAY_CONCAT_INNER(a, b) a##b
#define BELAY_CONCAT(a, b) BELAY_CONCAT_INNER(a, b)
#define BELAY_ASSIGN_IMPL(tmp, lhs, expr)                 \
  auto tmp = (expr);                                      \
  if (!tmp.ok()) return std::move(tmp).error();           \
  lhs = std::move(tmp).value()
// BELAY_ASSIGN(auto x, f()); declares x from f()'s value or returns its error.
#define BELAY_ASSIGN(lhs, expr) BELAY_ASSIGN_IMPL(BELAY_CONCAT(belay_r_, __LINE__), lhs, expr)
