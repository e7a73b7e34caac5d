#include "server/api/admin_api.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logic/status_util.h"

namespace countd::api {
namespace {

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);  // rounds toward the past
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

absl::StatusOr<logic::SecretRole> RoleFromProto(v1::SecretRole role) {
  switch (role) {
    case v1::SECRET_ROLE_UNSPECIFIED:
    case v1::SECRET_ROLE_READ_WRITE: return logic::SecretRole::kReadWrite;
    case v1::SECRET_ROLE_READ_ONLY: return logic::SecretRole::kReadOnly;
    default:
      return logic::BadValue("role", absl::StrCat(static_cast<int>(role),
                                                  " is not a SecretRole (1 = READ_WRITE, "
                                                  "2 = READ_ONLY)"));
  }
}

v1::SecretRole RoleToProto(logic::SecretRole role) {
  return role == logic::SecretRole::kReadOnly ? v1::SECRET_ROLE_READ_ONLY
                                              : v1::SECRET_ROLE_READ_WRITE;
}

logic::TenantSettings SettingsFromProto(const v1::TenantSettings& in) {
  logic::TenantSettings out;
  out.allowed_origins.assign(in.allowed_origins().begin(), in.allowed_origins().end());
  out.rate_limit_per_second = in.rate_limit_per_second();
  out.rate_limit_burst = in.rate_limit_burst();
  return out;
}

void SecretInfoToProto(const logic::SecretInfo& in, v1::SecretInfo* out) {
  out->set_id(in.id);
  ToTimestamp(in.created, out->mutable_created());
  out->set_revoked(in.revoked);
  out->set_role(RoleToProto(in.role));
}

void TenantToProto(const logic::TenantInfo& in, v1::Tenant* out) {
  out->set_tenant(in.tenant);
  ToTimestamp(in.created, out->mutable_created());
  v1::TenantSettings* settings = out->mutable_settings();
  for (const std::string& origin : in.settings.allowed_origins) {
    settings->add_allowed_origins(origin);
  }
  settings->set_rate_limit_per_second(in.settings.rate_limit_per_second);
  settings->set_rate_limit_burst(in.settings.rate_limit_burst);
  for (const logic::SecretInfo& s : in.secrets) SecretInfoToProto(s, out->add_secrets());
}

void NewSecretToProto(logic::NewSecret in, v1::NewSecret* out) {
  SecretInfoToProto(in.info, out->mutable_info());
  out->set_secret(std::move(in.secret));
}

}  // namespace

absl::Status AdminApi::Backup(const v1::BackupRequest& req, v1::BackupResponse* resp) {
  absl::StatusOr<logic::BackupResult> result = admin_->Backup(req.dir());
  if (!result.ok()) return result.status();
  resp->set_dir(std::move(result->dir));
  int64_t nanos = absl::ToInt64Nanoseconds(result->elapsed);
  resp->mutable_elapsed()->set_seconds(nanos / 1000000000);
  resp->mutable_elapsed()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  resp->set_size_bytes(result->size_bytes);
  return absl::OkStatus();
}

absl::StatusOr<logic::TenantRegistry*> AdminApi::Registry() const {
  if (tenants_ == nullptr) {
    return logic::Refused("tenant",
                          "the tenant registry is not open: this countd runs with --auth=off and "
                          "without --secrets-key-file (give it one to manage tenants)");
  }
  return tenants_;
}

absl::Status AdminApi::CreateTenant(const v1::CreateTenantRequest& req,
                                    v1::CreateTenantResponse* resp) {
  absl::StatusOr<logic::TenantRegistry*> tenants = Registry();
  if (!tenants.ok()) return tenants.status();
  absl::StatusOr<logic::SecretRole> role = RoleFromProto(req.role());
  if (!role.ok()) return role.status();
  absl::StatusOr<std::pair<logic::TenantInfo, logic::NewSecret>> created =
      (*tenants)->CreateTenant(req.tenant(), SettingsFromProto(req.settings()), *role);
  if (!created.ok()) return created.status();
  TenantToProto(created->first, resp->mutable_tenant());
  NewSecretToProto(std::move(created->second), resp->mutable_secret());
  return absl::OkStatus();
}

absl::Status AdminApi::GetTenant(const v1::GetTenantRequest& req, v1::GetTenantResponse* resp) {
  absl::StatusOr<logic::TenantRegistry*> tenants = Registry();
  if (!tenants.ok()) return tenants.status();
  absl::StatusOr<logic::TenantInfo> info = (*tenants)->GetTenant(req.tenant());
  if (!info.ok()) return info.status();
  TenantToProto(*info, resp->mutable_tenant());
  return absl::OkStatus();
}

absl::Status AdminApi::ListTenants(const v1::ListTenantsRequest& req,
                                   v1::ListTenantsResponse* resp) {
  absl::StatusOr<logic::TenantRegistry*> tenants = Registry();
  if (!tenants.ok()) return tenants.status();
  absl::StatusOr<std::vector<logic::TenantInfo>> list = (*tenants)->ListTenants();
  if (!list.ok()) return list.status();
  for (const logic::TenantInfo& info : *list) TenantToProto(info, resp->add_tenants());
  return absl::OkStatus();
}

absl::Status AdminApi::UpdateTenant(const v1::UpdateTenantRequest& req,
                                    v1::UpdateTenantResponse* resp) {
  absl::StatusOr<logic::TenantRegistry*> tenants = Registry();
  if (!tenants.ok()) return tenants.status();
  absl::StatusOr<logic::TenantInfo> info =
      (*tenants)->UpdateTenant(req.tenant(), SettingsFromProto(req.settings()));
  if (!info.ok()) return info.status();
  TenantToProto(*info, resp->mutable_tenant());
  return absl::OkStatus();
}

absl::Status AdminApi::DeleteTenant(const v1::DeleteTenantRequest& req,
                                    v1::DeleteTenantResponse* resp) {
  absl::StatusOr<logic::TenantRegistry*> tenants = Registry();
  if (!tenants.ok()) return tenants.status();
  return (*tenants)->DeleteTenant(req.tenant());
}

absl::Status AdminApi::AddSecret(const v1::AddSecretRequest& req, v1::AddSecretResponse* resp) {
  absl::StatusOr<logic::TenantRegistry*> tenants = Registry();
  if (!tenants.ok()) return tenants.status();
  absl::StatusOr<logic::SecretRole> role = RoleFromProto(req.role());
  if (!role.ok()) return role.status();
  absl::StatusOr<logic::NewSecret> secret = (*tenants)->AddSecret(req.tenant(), *role);
  if (!secret.ok()) return secret.status();
  NewSecretToProto(*std::move(secret), resp->mutable_secret());
  return absl::OkStatus();
}

absl::Status AdminApi::RevokeSecret(const v1::RevokeSecretRequest& req,
                                    v1::RevokeSecretResponse* resp) {
  absl::StatusOr<logic::TenantRegistry*> tenants = Registry();
  if (!tenants.ok()) return tenants.status();
  absl::StatusOr<logic::TenantInfo> info = (*tenants)->RevokeSecret(req.tenant(), req.secret_id());
  if (!info.ok()) return info.status();
  TenantToProto(*info, resp->mutable_tenant());
  return absl::OkStatus();
}

}  // namespace countd::api
