#include "tests/fuzz/route_fuzz.h"

#include <memory>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "server/shim/internal/gigya/params.h"
#include "server/shim/internal/routes.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_world.h"
#include "tests/fuzz/invariants.h"

namespace countd::fuzz {
namespace {

absl::string_view View(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace

void FuzzGigyaRoutes(const uint8_t* data, size_t size, absl::string_view prefix) {
  FuzzWorld world;
  for (const http::HttpRequest& request : ReadRequests(View(data, size), prefix)) {
    http::HttpResponse response = world.shim().Handle(request);
    // "/<ns>.<method>" is one segment, optionally with one trailing slash naming the same method.
    absl::string_view name = absl::string_view(request.path).substr(1);
    if (absl::EndsWith(name, "/")) name.remove_suffix(1);
    if (name.find('/') != absl::string_view::npos) {
      // Not a Gigya-style path: the shim has no route for it.
      CheckNoRoute(request, response);
      continue;
    }
    if (CheckGigyaAnswer(request, response) != 0) continue;
    const std::string context = Exchange(request, response);
    auto method = world.gigya().find(name);
    Check(method != world.gigya().end(), "errorCode 0 from a method that does not exist", context);
    absl::StatusOr<shim::GigyaParams> params = shim::GigyaParams::FromRequest(request);
    Check(params.ok(), "errorCode 0 but the parameters do not parse", context);
    absl::StatusOr<shim::GigyaMethod::Request> parsed = method->second.parse(*params, request);
    Check(parsed.ok(), "errorCode 0 but the parse step fails", context);
    CheckAcceptedRequest(**parsed, context);
  }
}

void FuzzStashRoutes(const uint8_t* data, size_t size) {
  FuzzWorld world;
  for (const http::HttpRequest& request : ReadRequests(View(data, size), "/stash/v1.1/count/")) {
    http::HttpResponse response = world.shim().Handle(request);
    if (CheckStashAnswer(request, response) != 200) continue;
    const std::string context = Exchange(request, response);
    absl::StatusOr<shim::StashRequest> parsed = shim::ParseStashRequest(request);
    Check(parsed.ok(), "status 200 but ParseStashRequest fails", context);
    std::visit([&context](const auto& r) { CheckAcceptedRequest(r, context); }, *parsed);
  }
}

void FuzzTallyRoutes(const uint8_t* data, size_t size) {
  FuzzWorld world;
  for (const http::HttpRequest& request : ReadRequests(View(data, size), "/tally/")) {
    http::HttpResponse response = world.shim().Handle(request);
    if (!CheckTallyAnswer(request, response)) continue;
    const std::string context = Exchange(request, response);
    absl::StatusOr<shim::TallyRequest> parsed = shim::ParseTallyRequest(request);
    Check(parsed.ok(), "success but ParseTallyRequest fails", context);
    std::visit([&context](const auto& r) { CheckAcceptedRequest(r, context); }, *parsed);
  }
}

void FuzzCanonicalRoutes(const uint8_t* data, size_t size) {
  FuzzWorld world;
  for (const http::HttpRequest& request : ReadRequests(View(data, size), "/v1/")) {
    const google::protobuf::MethodDescriptor* method = CanonicalMethod(request.path);
    http::HttpResponse response = world.shim().Handle(request);
    if (!CheckCanonicalAnswer(request, response,
                              method != nullptr ? method->output_type() : nullptr)) {
      continue;
    }
    const std::string context = Exchange(request, response);
    std::unique_ptr<google::protobuf::Message> parsed(
        google::protobuf::MessageFactory::generated_factory()
            ->GetPrototype(method->input_type())
            ->New());
    Check(shim::ParseCanonicalRequest(request, parsed.get()).ok(),
          "HTTP 200 but ParseCanonicalRequest fails", context);
    CheckAcceptedRequest(*parsed, context);
  }
}

}  // namespace countd::fuzz
