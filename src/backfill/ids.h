// Deterministic ids: UUIDv5 (RFC 9562: SHA-1 of a namespace and a name). The job's
// namespace is UUIDv5(NameSpace_URL, "https://belay.dev/ns/backfill") then UUIDv5 of that
// and the job name; a row's name is user U+001F entity U+001F old id (uuid-ossp computes
// the same: see bench/backfill_floor.sql). A positional id (element without an old id,
// policy "null") uses U+001E and the element's index instead, so it never equals a real one.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace belay::backfill {

using Uuid = std::array<uint8_t, 16>;

std::string to_string(const Uuid& u);
void append_uuid(std::string& out, const Uuid& u);

// SHA-1 through OpenSSL with one reusable context: one per thread.
class IdMaker {
 public:
  explicit IdMaker(const Uuid& ns);
  ~IdMaker();
  IdMaker(const IdMaker&) = delete;
  IdMaker& operator=(const IdMaker&) = delete;
  Uuid v5(std::string_view name);
  Uuid row(std::string_view user, std::string_view entity, std::string_view old_id);
  Uuid positional(std::string_view user, std::string_view entity, int index);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Uuid ns_;
  std::string buf_;
};

Uuid job_namespace_uuid(std::string_view job_name);

}  // namespace belay::backfill
