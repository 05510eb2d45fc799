#include "backfill/ids.h"

#include <openssl/evp.h>

#include "backfill/backfill.h"

namespace belay::backfill {

namespace {
constexpr Uuid kNamespaceUrl = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
const char* kHex = "0123456789abcdef";
}  // namespace

void append_uuid(std::string& out, const Uuid& u) {
  // Hot: every row and every reference. One resize, then plain stores.
  size_t at = out.size();
  out.resize(at + 36);
  char* p = out.data() + at;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = kHex[u[i] >> 4];
    *p++ = kHex[u[i] & 0xf];
  }
}

std::string to_string(const Uuid& u) {
  std::string s;
  s.reserve(36);
  append_uuid(s, u);
  return s;
}

struct IdMaker::Impl {
  EVP_MD* md = nullptr;  // fetched once: implicit fetches per digest are slow in OpenSSL 3
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
};

IdMaker::IdMaker(const Uuid& ns) : impl_(std::make_unique<Impl>()), ns_(ns) {
  impl_->md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  impl_->ctx = EVP_MD_CTX_new();
}

IdMaker::~IdMaker() = default;

Uuid IdMaker::v5(std::string_view name) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestInit_ex(impl_->ctx, impl_->md, nullptr);
  EVP_DigestUpdate(impl_->ctx, ns_.data(), ns_.size());
  EVP_DigestUpdate(impl_->ctx, name.data(), name.size());
  EVP_DigestFinal_ex(impl_->ctx, md, &len);
  Uuid u;
  for (size_t i = 0; i < 16; ++i) u[i] = md[i];
  u[6] = static_cast<uint8_t>((u[6] & 0x0f) | 0x50);  // version 5
  u[8] = static_cast<uint8_t>((u[8] & 0x3f) | 0x80);  // RFC variant
  return u;
}

Uuid IdMaker::row(std::string_view user, std::string_view entity, std::string_view old_id) {
  buf_.assign(user);
  buf_ += '\x1f';
  buf_ += entity;
  buf_ += '\x1f';
  buf_ += old_id;
  return v5(buf_);
}

Uuid IdMaker::positional(std::string_view user, std::string_view entity, int index) {
  buf_.assign(user);
  buf_ += '\x1f';
  buf_ += entity;
  buf_ += '\x1e';
  buf_ += std::to_string(index);
  return v5(buf_);
}

Uuid job_namespace_uuid(std::string_view job_name) {
  IdMaker root(kNamespaceUrl);
  IdMaker job(root.v5("https://belay.dev/ns/backfill"));
  return job.v5(job_name);
}

std::string job_namespace(const std::string& job_name) { return to_string(job_namespace_uuid(job_name)); }

std::string new_id(const Job& job, const std::string& user, const std::string& entity, const std::string& old_id) {
  IdMaker m(job_namespace_uuid(job.name));
  return to_string(m.row(user, entity, old_id));
}

}  // namespace belay::backfill
