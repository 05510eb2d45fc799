// The one place that talks to libpq: connections, queries, pipelines, notices,
// server errors and DSN redaction. Nothing else includes libpq-fe.h.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace belay::pg {

// Every field PostgreSQL reports with an error (PQresultErrorField).
struct ServerError {
  std::string severity, sqlstate, message, detail, hint, context;
  std::string schema, table, column, constraint;
  int position = 0;  // 1-based character position in the statement, 0 if none
};

// Converts a server error into a belay Error (sqlstate, detail, hint carried over).
Error to_error(const ServerError& e);

// An owned query result.
class Rows {
 public:
  Rows() = default;
  explicit Rows(void* res);  // takes ownership of a PGresult*
  int size() const;
  int columns() const;
  bool null(int row, int col) const;
  std::string get(int row, int col) const;   // "" for NULL
  std::optional<std::string> opt(int row, int col) const;
  long long affected() const;                // rows affected by INSERT/UPDATE/DELETE
 private:
  std::shared_ptr<void> res_;
};

// Outcome of sending a list of statements in one round trip.
struct BatchResult {
  int completed = 0;                 // statements that succeeded, in order
  int failed_index = -1;             // index of the failing statement, -1 if none
  std::optional<ServerError> error;  // the failure, if any
  int error_byte = -1;               // byte offset of the error inside the failing statement, -1 if unknown
  bool ok() const { return !error; }
};

class Conn {
 public:
  // Opens a connection; `dsn` may be a URL or key=value string. Errors never echo the
  // password. application_name is shown in pg_stat_activity (lock holder reports use it).
  static Result<Conn> open(const std::string& dsn, const std::string& application_name);

  Conn(Conn&&) noexcept;
  Conn& operator=(Conn&&) noexcept;
  ~Conn();

  // One statement via the extended protocol with text parameters ($1, $2, ...).
  Result<Rows> query(std::string_view sql, const std::vector<std::optional<std::string>>& params = {});
  // Same, but keeps the full server error for the caller.
  Result<Rows> query_detailed(std::string_view sql, ServerError* err_out);
  // One or more statements via the simple protocol (what psql sends).
  Status exec(std::string_view sql);
  // Simple protocol, returning the server error in full on failure.
  std::optional<ServerError> exec_detailed(std::string_view sql);
  // Simple protocol, several statements in one implicit transaction; the rows of the last
  // one that returned rows (e.g. set_config(.., true) calls, then the query they shape).
  Result<Rows> exec_last(std::string_view sql);

  // Sends every statement (extended protocol, pipeline mode) and reads the results:
  // one round trip per chunk of kPipelineChunk. Stops at the first failure; later
  // statements do not run. Without an explicit BEGIN, each chunk is one implicit
  // transaction, committed at its Sync; a failure at that commit (e.g. a deferred
  // constraint) is reported with failed_index == statements.size().
  // Statements must be able to run inside a transaction block.
  static constexpr size_t kPipelineChunk = 256;
  BatchResult pipeline(const std::vector<std::string>& statements);

  // Sends every statement in one simple-protocol Query message: one round trip, one
  // implicit transaction (all or nothing, unless a statement is BEGIN/COMMIT). The
  // failing statement is identified from the results received before the error (or
  // from the error position for a syntax error). The server commits before it
  // acknowledges the last statement, so an error at commit is reported against the
  // last statement. Cheapest way to run a migration.
  BatchResult exec_batch(const std::vector<std::string>& statements);

  // COPY ... FROM STDIN: sends `data`, already in the format the statement names (text:
  // tab-separated lines, escaped), and returns the number of rows copied. On failure the
  // server's error in full goes to err_out (constraint, table, detail).
  Result<long long> copy_in(std::string_view copy_sql, std::string_view data, ServerError* err_out = nullptr);

  // One statement of pipeline_steps(). `sync` ends a segment after it: a failure skips only
  // the rest of its own segment (inside a transaction block the next segment then finds the
  // transaction aborted until it rolls back to a savepoint, as a psql script would).
  struct Step {
    std::string sql;
    bool sync = false;
  };
  struct StepResult {
    enum State { ok, failed, skipped } state = skipped;
    Rows rows;                          // ok: the rows, and affected() for INSERT/UPDATE/DELETE
    std::optional<ServerError> error;   // failed
  };
  // Sends every statement (extended protocol, pipeline mode) and returns each one's result;
  // results are read back at segment ends every kPipelineChunk statements or so, so neither
  // side's buffers fill up. The last segment ends with the last statement. A lost connection
  // fails every statement not yet answered.
  std::vector<StepResult> pipeline_steps(const std::vector<Step>& steps);

  // A second connection with the same parameters (for work done alongside this one).
  Result<Conn> reopen(const std::string& application_name) const;

  // LISTEN/NOTIFY. listen() subscribes this connection to a channel; wait_notifications()
  // returns what arrived (also during earlier queries), waiting up to timeout_ms for the
  // first one (none on timeout). It fails when the connection is lost, so a listener
  // learns of a dead server within one timeout.
  struct Notification {
    std::string channel, payload;
    int pid = 0;                 // the notifying backend
  };
  Status listen(std::string_view channel);
  Result<std::vector<Notification>> wait_notifications(int timeout_ms);

  int backend_pid() const;
  int server_version() const;   // e.g. 150018
  bool ok() const;              // connection still usable
  // Notices (e.g. "relation already exists, skipping") received since the last call.
  std::vector<std::string> take_notices();
  const std::string& redacted_dsn() const { return redacted_; }

 private:
  Conn() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string redacted_;
};

// Quotes an identifier / literal for inclusion in SQL text.
std::string quote_ident(std::string_view s);
std::string quote_literal(std::string_view s);

// --- DSNs (dsn.cpp) ---
// Replaces any password in a URL or key=value DSN with "****".
std::string redact(std::string_view dsn);
// True when the DSN carries a password (URL userinfo, ?password=, or password=...).
bool has_password(std::string_view dsn);
// True for postgres:// or postgresql:// URLs.
bool is_url(std::string_view s);
// Removes every occurrence of `secret` (if non-empty) from text: last line of defence for
// messages that may quote a DSN.
std::string scrub(std::string text, std::string_view secret);
// The password inside a DSN, or "" if none (used only to scrub messages).
std::string password_of(std::string_view dsn);

}  // namespace belay::pg
