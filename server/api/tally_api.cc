#include "server/api/tally_api.h"

#include "absl/strings/str_cat.h"
#include "server/logic/status_util.h"

namespace countd::api {
namespace {

// A proto3 enum field holds any int32: a number that names no TallyOp is refused here (the logic
// reads OP_UNSPECIFIED as OP_ECOUNT where the contract allows an unset op).
absl::StatusOr<logic::TallyOp> ToOp(v1::TallyOp op) {
  switch (op) {
    case v1::OP_UNSPECIFIED: return logic::TallyOp::kUnspecified;
    case v1::OP_ECOUNT: return logic::TallyOp::kECount;
    case v1::OP_TOPK: return logic::TallyOp::kTopK;
    default:
      return logic::BadValue(
          "op", absl::StrCat(static_cast<int>(op), " is not a TallyOp (OP_ECOUNT or OP_TOPK)"));
  }
}

}  // namespace

TallyApi::TallyApi(logic::Tally* tally) : tally_(tally) {}

absl::Status TallyApi::Increment(const v1::TallyIncrementRequest& req,
                                 v1::TallyIncrementResponse* resp) {
  absl::StatusOr<logic::TallyOp> op = ToOp(req.op());
  if (!op.ok()) return op.status();
  logic::TallyIncrementArgs args;
  args.tenant = req.tenant();
  args.op = *op;
  args.counter = req.counter();
  args.countable = req.countable();
  args.window_minutes = req.window_minutes();
  if (req.has_metadata()) args.metadata = req.metadata();
  if (req.has_delta()) args.delta = req.delta();
  return tally_->Increment(args);
}

absl::Status TallyApi::GetCount(const v1::GetCountRequest& req, v1::GetCountResponse* resp) {
  absl::StatusOr<logic::TallyOp> op = ToOp(req.op());
  if (!op.ok()) return op.status();
  absl::StatusOr<int64_t> count =
      tally_->GetCount(req.tenant(), *op, req.counter(), req.countable());
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
