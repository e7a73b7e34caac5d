#include "server/api/counters_api.h"

#include <string>
#include <vector>

#include "server/logic/decimal.h"

namespace countd::api {
namespace {

template <typename Pairs>
std::vector<logic::CounterPath> ToPaths(const Pairs& in) {
  std::vector<logic::CounterPath> out;
  out.reserve(in.size());
  for (const v1::CounterPath& p : in) out.push_back({p.class_(), p.path()});
  return out;
}

template <typename Req>
logic::CounterUser ToUser(const Req& req) {
  logic::CounterUser user;
  if (req.user_case() == Req::kUid) user.uid = req.uid();
  if (req.user_case() == Req::kRegToken) user.reg_token = req.reg_token();
  return user;
}

template <typename Req>
logic::StashAddArgs ToStashAdd(const Req& req) {
  logic::StashAddArgs args;
  args.tenant = req.tenant();
  args.visitor_id = req.visitor_id();
  args.counter_name = req.counter_name();
  if (req.has_delta()) args.delta = req.delta();
  if (req.has_event_time_ms()) args.event_time_ms = req.event_time_ms();
  return args;
}

void FillValue(const logic::CounterValue& in, v1::CounterValue* out) {
  out->set_class_(in.cls);
  out->set_path(in.path);
  out->set_period(in.period);
  out->set_count(in.count);
  out->set_value(logic::MicrosToDouble(in.value_micros));
  out->set_value_decimal(logic::FormatMicros(in.value_micros));
  int64_t ms = absl::ToUnixMillis(in.last_updated);
  out->mutable_last_updated()->set_seconds(ms / 1000);
  out->mutable_last_updated()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
}

}  // namespace

CountersApi::CountersApi(logic::Counters* counters, logic::Stash* stash)
    : counters_(counters), stash_(stash) {}

absl::Status CountersApi::RegisterCounters(const v1::RegisterCountersRequest& req,
                                           v1::RegisterCountersResponse* resp) {
  return counters_->RegisterCounters(req.tenant(), ToPaths(req.counters()));
}

absl::Status CountersApi::GetRegisteredCounters(const v1::GetRegisteredCountersRequest& req,
                                                v1::GetRegisteredCountersResponse* resp) {
  absl::StatusOr<std::vector<logic::CounterPath>> paths =
      counters_->GetRegisteredCounters(req.tenant());
  if (!paths.ok()) return paths.status();
  for (const logic::CounterPath& p : *paths) {
    v1::CounterPath* out = resp->add_counters();
    out->set_class_(p.cls);
    out->set_path(p.path);
  }
  return absl::OkStatus();
}

absl::Status CountersApi::UnregisterCounters(const v1::UnregisterCountersRequest& req,
                                             v1::UnregisterCountersResponse* resp) {
  return counters_->UnregisterCounters(req.tenant(), ToPaths(req.counters()));
}

absl::Status CountersApi::SetCounterSettings(const v1::SetCounterSettingsRequest& req,
                                             v1::SetCounterSettingsResponse* resp) {
  logic::CounterSettings settings;
  settings.max_path_depth = req.settings().max_path_depth();
  absl::StatusOr<logic::CounterSettings> out =
      counters_->SetCounterSettings(req.tenant(), settings);
  if (!out.ok()) return out.status();
  resp->mutable_settings()->set_max_path_depth(out->max_path_depth);
  return absl::OkStatus();
}

absl::Status CountersApi::GetCounterSettings(const v1::GetCounterSettingsRequest& req,
                                             v1::GetCounterSettingsResponse* resp) {
  absl::StatusOr<logic::CounterSettings> out = counters_->GetCounterSettings(req.tenant());
  if (!out.ok()) return out.status();
  resp->mutable_settings()->set_max_path_depth(out->max_path_depth);
  return absl::OkStatus();
}

absl::Status CountersApi::IncrementCounters(const v1::IncrementCountersRequest& req,
                                            v1::IncrementCountersResponse* resp) {
  logic::IncrementCountersArgs args;
  args.tenant = req.tenant();
  args.user = ToUser(req);
  args.request_id = req.request_id();
  if (req.has_event_time_ms()) args.event_time_ms = req.event_time_ms();
  args.counters.reserve(req.counters_size());
  for (const v1::CounterIncrement& c : req.counters()) {
    logic::CounterIncrement inc;
    inc.cls = c.class_();
    inc.path = c.path();
    if (c.has_value()) inc.value = c.value();
    if (c.has_count()) inc.count = c.count();
    args.counters.push_back(std::move(inc));
  }
  return counters_->IncrementCounters(args);
}

absl::Status CountersApi::GetCounters(const v1::GetCountersRequest& req,
                                      v1::GetCountersResponse* resp) {
  logic::GetCountersArgs args;
  args.tenant = req.tenant();
  args.user = ToUser(req);
  for (const v1::CounterQuery& q : req.counters()) {
    args.counters.push_back({q.class_(), q.path(), q.period()});
  }
  absl::StatusOr<std::vector<logic::CounterValue>> values = counters_->GetCounters(args);
  if (!values.ok()) return values.status();
  for (const logic::CounterValue& v : *values) FillValue(v, resp->add_counters());
  return absl::OkStatus();
}

absl::Status CountersApi::Incr(const v1::IncrRequest& req, v1::IncrResponse* resp) {
  absl::StatusOr<std::string> key = stash_->Add(ToStashAdd(req), /*negate=*/false);
  if (!key.ok()) return key.status();
  resp->set_key(*key);
  return absl::OkStatus();
}

absl::Status CountersApi::Decr(const v1::DecrRequest& req, v1::DecrResponse* resp) {
  absl::StatusOr<std::string> key = stash_->Add(ToStashAdd(req), /*negate=*/true);
  if (!key.ok()) return key.status();
  resp->set_key(*key);
  return absl::OkStatus();
}

absl::Status CountersApi::Get(const v1::GetRequest& req, v1::GetResponse* resp) {
  absl::StatusOr<int64_t> count =
      stash_->Get(req.tenant(), req.visitor_id(), req.counter_name(), req.date());
  if (!count.ok()) return count.status();
  resp->set_count(*count);
  return absl::OkStatus();
}

absl::Status CountersApi::GetBatch(const v1::GetBatchRequest& req, v1::GetBatchResponse* resp) {
  std::vector<std::string> keys(req.keys().begin(), req.keys().end());
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> counts =
      stash_->GetBatch(req.tenant(), keys);
  if (!counts.ok()) return counts.status();
  for (const auto& [key, count] : *counts) (*resp->mutable_counts())[key] = count;
  return absl::OkStatus();
}

}  // namespace countd::api
