#include "server/api/tally_api.h"

namespace countd::api {
namespace {

logic::TallyOp ToOp(v1::TallyOp op) {
  switch (op) {
    case v1::OP_ECOUNT: return logic::TallyOp::kECount;
    case v1::OP_TOPK: return logic::TallyOp::kTopK;
    default: return logic::TallyOp::kUnspecified;
  }
}

}  // namespace

TallyApi::TallyApi(logic::Tally* tally) : tally_(tally) {}

absl::Status TallyApi::Increment(const v1::TallyIncrementRequest& req,
                                 v1::TallyIncrementResponse* resp) {
  logic::TallyIncrementArgs args;
  args.tenant = req.tenant();
  args.op = ToOp(req.op());
  args.counter = req.counter();
  args.countable = req.countable();
  args.window_minutes = req.window_minutes();
  if (req.has_metadata()) args.metadata = req.metadata();
  if (req.has_delta()) args.delta = req.delta();
  return tally_->Increment(args);
}

absl::Status TallyApi::GetCount(const v1::GetCountRequest& req, v1::GetCountResponse* resp) {
  absl::StatusOr<int64_t> count =
      tally_->GetCount(req.tenant(), ToOp(req.op()), req.counter(), req.countable());
  if (!count.ok()) return count.status();
  resp->set_count(*count);
  return absl::OkStatus();
}

absl::Status TallyApi::GetTopK(const v1::GetTopKRequest& req, v1::GetTopKResponse* resp) {
  absl::optional<int32_t> k;
  if (req.has_k()) k = req.k();
  absl::StatusOr<std::vector<logic::TallyItem>> items =
      tally_->GetTopK(req.tenant(), req.counter(), k, req.with_metadata());
  if (!items.ok()) return items.status();
  for (const logic::TallyItem& item : *items) {
    v1::TopKItem* out = resp->add_items();
    out->set_countable(item.countable);
    out->set_count(item.count);
    if (item.metadata.has_value()) out->set_metadata(*item.metadata);
  }
  return absl::OkStatus();
}

}  // namespace countd::api
