// countctl: a command-line client for every countd.v1 RPC.
//
//   countctl [--addr=HOST:PORT] [--timeout=5s] [--bearer=TOKEN | --bearer-file=PATH]
//            [--tls] [--tls-ca-file=PATH] [--tls-cert-file=PATH --tls-key-file=PATH]
//            [--tls-server-name=NAME] <subcommand> [--FIELD=VALUE ...] [--json=REQUEST]
//
// Subcommands are derived from the service descriptors in the generated code: each method of a
// service in kServices becomes `<prefix><method in kebab-case>` (Counters.GetBatch -> get-batch,
// Tally.GetTopK -> tally-get-top-k). The request is built from proto3 JSON (--json) and then
// from one flag per request field, so every field of every request can be set without
// per-method code. The call goes through the generic stub, and the response is printed as proto3
// JSON on stdout.
//
// Admin methods get no prefix (Admin.Backup -> backup, Admin.CreateTenant -> create-tenant), take
// a longer default deadline, and a few flags have a second spelling (kFlagAliases: `countctl
// backup --to DIR` sets `dir`). Two methods mapping to one subcommand name abort at start.
//
// Credentials: --bearer=VALUE, --bearer-file=PATH (the file's contents, trimmed) or the
// environment variable COUNTD_BEARER are sent as `authorization: Bearer VALUE`: the operator
// token for Admin subcommands, `<tenant>:<secret>` for the others. The value is never printed.
//
// Transport: plaintext gRPC unless --tls or any other --tls-* flag is given (a countd started
// with --tls-cert-file speaks TLS only). --tls-ca-file replaces the default roots (gRPC's, i.e.
// the system's) with a PEM bundle; --tls-cert-file with --tls-key-file presents a client
// certificate (mutual TLS); --tls-server-name overrides the name the server's certificate must
// carry (default: the host of --addr). The files are read before dialing; a missing, unreadable
// or wrong-kind file is a usage error naming the flag and the path, never showing the contents.
//
// Exit status: 0 success; 1 the RPC failed ({"code","message"} JSON on stderr); 2 usage error.

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>  // google::protobuf::Value, for JsonQuote
#include <google/protobuf/util/json_util.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/connection.h"
#include "countd/v1/admin.grpc.pb.h"
#include "countd/v1/counters.grpc.pb.h"
#include "countd/v1/gm.grpc.pb.h"
#include "countd/v1/tally.grpc.pb.h"

namespace countd::client {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::MethodDescriptor;
using google::protobuf::Reflection;

constexpr int kExitOk = 0;
constexpr int kExitRpcError = 1;
constexpr int kExitUsage = 2;

// A service countctl exposes. Adding a service is one row.
struct ServiceEntry {
  // Prepended to the kebab-case method name to form the subcommand.
  const char* prefix;
  // The service's unqualified name in its .proto file.
  const char* name;
  // Returns any message of the service's .proto file. Referencing it links that file's generated
  // code into the binary (so its descriptors exist) and leads to the file descriptor.
  const Descriptor* (*anchor)();
};

constexpr ServiceEntry kServices[] = {
    {"", "Counters", &v1::IncrRequest::descriptor},
    {"tally-", "Tally", &v1::TallyIncrementRequest::descriptor},
    {"gm-", "GameMechanics", &v1::NotifyActionRequest::descriptor},
    // Operator commands read best unprefixed (`countctl backup`); their names must not collide
    // with a Counters method.
    {"", "Admin", &v1::BackupRequest::descriptor},
};

// A second spelling of one subcommand's request field flag.
struct FlagAlias {
  const char* subcommand;
  const char* flag;   // as typed, without "--"
  const char* field;  // the request field it sets
};

constexpr FlagAlias kFlagAliases[] = {
    {"backup", "to", "dir"},  // `countctl backup --to DIR`, as issue 6 spells it
};

// Default deadline of Admin calls: a backup copies the database when the target directory is on
// another filesystem, which can take minutes. --timeout still wins.
constexpr absl::Duration kAdminTimeout = absl::Minutes(30);

// One subcommand: its name and the RPC it calls.
struct Subcommand {
  std::string name;
  const MethodDescriptor* method;
};

// "GetTopK" -> "get-top-k".
std::string KebabCase(absl::string_view camel) {
  std::string out;
  for (char c : camel) {
    if (absl::ascii_isupper(c)) {
      if (!out.empty()) out.push_back('-');
      out.push_back(absl::ascii_tolower(c));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Every subcommand, in service then method declaration order.
const std::vector<Subcommand>& AllSubcommands() {
  static const auto* const kAll = [] {
    auto* all = new std::vector<Subcommand>;
    for (const ServiceEntry& entry : kServices) {
      const auto* service = entry.anchor()->file()->FindServiceByName(entry.name);
      if (service == nullptr) {  // A wrong kServices row: a bug, not a user error.
        std::fprintf(stderr, "countctl: no service %s in %s\n", entry.name,
                     entry.anchor()->file()->name().c_str());
        std::abort();
      }
      for (int i = 0; i < service->method_count(); ++i) {
        const MethodDescriptor* method = service->method(i);
        std::string name = absl::StrCat(entry.prefix, KebabCase(method->name()));
        for (const Subcommand& other : *all) {
          if (other.name == name) {  // two RPCs under one name: a kServices bug
            std::fprintf(stderr, "countctl: subcommand %s names both %s and %s\n", name.c_str(),
                         other.method->full_name().c_str(), method->full_name().c_str());
            std::abort();
          }
        }
        all->push_back({std::move(name), method});
      }
    }
    return all;
  }();
  return *kAll;
}

const MethodDescriptor* FindSubcommand(absl::string_view name) {
  for (const Subcommand& sub : AllSubcommands()) {
    if (sub.name == name) return sub.method;
  }
  return nullptr;
}

// The parsed command line.
struct Invocation {
  std::string addr = "127.0.0.1:50051";
  absl::Duration timeout = absl::Seconds(5);
  bool timeout_given = false;  // --timeout was on the command line
  bool help = false;
  bool dry_run = false;  // Print the request instead of sending it.
  // --bearer, --bearer-file, --tls and --tls-* as given.
  client::ConnectionFlags connection;
  std::string subcommand;
  absl::optional<std::string> json;
  // Request field flags in command-line order: name as typed, value (absent for a bare flag).
  std::vector<std::pair<std::string, absl::optional<std::string>>> fields;
};

// Global flags that take a value (spelled with dashes), and where each is stored.
absl::optional<std::string>* StringGlobal(absl::string_view name, Invocation* inv) {
  if (name == "bearer") return &inv->connection.bearer;
  if (name == "bearer-file") return &inv->connection.bearer_file;
  if (name == "json") return &inv->json;
  if (name == "tls-ca-file") return &inv->connection.tls_ca_file;
  if (name == "tls-cert-file") return &inv->connection.tls_cert_file;
  if (name == "tls-key-file") return &inv->connection.tls_key_file;
  if (name == "tls-server-name") return &inv->connection.tls_server_name;
  return nullptr;
}

// Applies one global flag (--addr, --timeout, --json, --bearer, --bearer-file, --tls,
// --tls-*). `name` is as typed (dashes or underscores). Returns false if `name` is not global.
absl::StatusOr<bool> ApplyGlobalFlag(absl::string_view typed,
                                     const absl::optional<std::string>& value, Invocation* inv) {
  const std::string name = absl::StrReplaceAll(typed, {{"_", "-"}});
  absl::optional<std::string>* str = StringGlobal(name, inv);
  if (str == nullptr && name != "addr" && name != "timeout" && name != "tls") return false;
  if (name == "tls") {  // a bare --tls is handled by ParseArgs; this is --tls=VALUE
    bool on = false;
    if (!value.has_value() || !absl::SimpleAtob(*value, &on)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls: want true or false, got '", value.value_or(""), "'"));
    }
    inv->connection.tls = on;
    return true;
  }
  if (!value.has_value())
    return absl::InvalidArgumentError(absl::StrCat("--", typed, " needs a value"));
  if (str != nullptr) {
    *str = *value;
  } else if (name == "addr") {
    inv->addr = *value;
  } else if (!absl::ParseDuration(*value, &inv->timeout) || inv->timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--timeout: want a positive duration such as 5s or 500ms, got '", *value, "'"));
  } else {
    inv->timeout_given = true;
  }
  return true;
}

// Parses argv. Flags are `--name=value`, `--name value`, or a bare `--name` (true, for bools);
// global flags may appear anywhere; the first positional argument is the subcommand.
absl::StatusOr<Invocation> ParseArgs(int argc, char** argv) {
  Invocation inv;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help" || arg == "help") {
      inv.help = true;
      continue;
    }
    if (arg == "--dry-run") {
      inv.dry_run = true;
      continue;
    }
    if (arg == "--tls") {  // a bare bool: the next argument is not its value
      inv.connection.tls = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      if (!inv.subcommand.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
      }
      inv.subcommand = std::string(arg);
      continue;
    }
    arg.remove_prefix(2);
    std::string name;
    absl::optional<std::string> value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else {
      name = std::string(arg);
      if (i + 1 < argc && !absl::StartsWith(argv[i + 1], "--")) value = argv[++i];
    }
    absl::StatusOr<bool> global = ApplyGlobalFlag(name, value, &inv);
    if (!global.ok()) return global.status();
    if (!*global) inv.fields.emplace_back(std::move(name), std::move(value));
  }
  return inv;
}

// Renames the subcommand's aliased field flags (kFlagAliases) to the fields they set.
void ApplyFlagAliases(Invocation* inv) {
  for (auto& [name, value] : inv->fields) {
    for (const FlagAlias& alias : kFlagAliases) {
      if (inv->subcommand == alias.subcommand && name == alias.flag) name = alias.field;
    }
  }
}

// Finds the request field a flag names: `visitor-id`, `visitor_id` or `visitorId`.
const FieldDescriptor* FindField(const Descriptor* type, absl::string_view flag) {
  std::string snake = absl::StrReplaceAll(flag, {{"-", "_"}});
  if (const FieldDescriptor* f = type->FindFieldByName(snake)) return f;
  return type->FindFieldByCamelcaseName(std::string(flag));
}

// Resolves an enum value from its full name ("OP_TOPK"), its suffix ("topk", "TOPK") or number.
absl::StatusOr<int> ParseEnum(const FieldDescriptor* field, absl::string_view text) {
  const auto* type = field->enum_type();
  std::string upper = absl::AsciiStrToUpper(text);
  if (const auto* v = type->FindValueByName(upper)) return v->number();
  for (int i = 0; i < type->value_count(); ++i) {
    if (absl::EndsWith(type->value(i)->name(), absl::StrCat("_", upper))) {
      return type->value(i)->number();
    }
  }
  int number;
  if (absl::SimpleAtoi(text, &number)) return number;
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) names.push_back(type->value(i)->name());
  return absl::InvalidArgumentError(absl::StrCat("--", field->name(), ": '", text,
                                                 "' is not one of ", absl::StrJoin(names, ", ")));
}

// Sets (or, when `add`, appends) one scalar value of `field` parsed from `text`.
absl::Status SetScalar(const FieldDescriptor* field, absl::string_view text, bool add,
                       Message* msg) {
  const Reflection* r = msg->GetReflection();
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("--", field->name(), ": '", text, "' is not a valid ", field->type_name()));
  };
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      add ? r->AddString(msg, field, std::string(text))
          : r->SetString(msg, field, std::string(text));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad();
      add ? r->AddInt32(msg, field, v) : r->SetInt32(msg, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad();
      add ? r->AddInt64(msg, field, v) : r->SetInt64(msg, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad();
      add ? r->AddUInt32(msg, field, v) : r->SetUInt32(msg, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad();
      add ? r->AddUInt64(msg, field, v) : r->SetUInt64(msg, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v;
      if (!absl::SimpleAtod(text, &v)) return bad();
      add ? r->AddDouble(msg, field, v) : r->SetDouble(msg, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float v;
      if (!absl::SimpleAtof(text, &v)) return bad();
      add ? r->AddFloat(msg, field, v) : r->SetFloat(msg, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (!absl::SimpleAtob(text, &v)) return bad();
      add ? r->AddBool(msg, field, v) : r->SetBool(msg, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      absl::StatusOr<int> v = ParseEnum(field, text);
      if (!v.ok()) return v.status();
      add ? r->AddEnumValue(msg, field, *v) : r->SetEnumValue(msg, field, *v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: break;
  }
  return absl::InternalError(absl::StrCat("--", field->name(), ": not a scalar field"));
}

// Replaces `field` of `msg` with the proto3 JSON value `json` (an object, array or scalar).
absl::Status SetFromJson(const FieldDescriptor* field, absl::string_view json, Message* msg) {
  std::unique_ptr<Message> holder(msg->New());
  // Field names are [A-Za-z0-9_], so quoting the name needs no escaping.
  google::protobuf::util::Status parsed = google::protobuf::util::JsonStringToMessage(
      absl::StrCat("{\"", field->name(), "\":", json, "}"), holder.get());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", field->name(), ": bad JSON: ", parsed.message().ToString()));
  }
  msg->GetReflection()->ClearField(msg, field);
  msg->MergeFrom(*holder);
  return absl::OkStatus();
}

// Applies one field flag. Messages and maps take JSON; repeated scalars take a JSON array or a
// comma-separated list; other scalars take their plain text form; a bare bool flag means true.
absl::Status ApplyFieldFlag(absl::string_view name, const absl::optional<std::string>& value,
                            Message* msg) {
  const FieldDescriptor* field = FindField(msg->GetDescriptor(), name);
  if (field == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " for ",
                                                   msg->GetDescriptor()->full_name(),
                                                   " (see --help after the subcommand)"));
  }
  if (!value.has_value()) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_BOOL || field->is_repeated()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
    }
    msg->GetReflection()->SetBool(msg, field, true);
    return absl::OkStatus();
  }
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    return SetFromJson(field, *value, msg);
  }
  if (!field->is_repeated()) return SetScalar(field, *value, /*add=*/false, msg);
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(*value), "[")) {
    return SetFromJson(field, *value, msg);
  }
  msg->GetReflection()->ClearField(msg, field);
  for (absl::string_view item : absl::StrSplit(*value, ',', absl::SkipEmpty())) {
    if (absl::Status s = SetScalar(field, item, /*add=*/true, msg); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Builds the request: first from --json, then each field flag in order (later wins).
absl::StatusOr<std::unique_ptr<Message>> BuildRequest(const Descriptor* type,
                                                      const Invocation& inv) {
  std::unique_ptr<Message> request(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  if (inv.json.has_value()) {
    google::protobuf::util::Status parsed =
        google::protobuf::util::JsonStringToMessage(*inv.json, request.get());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--json: not a valid ", type->full_name(),
                                                     ": ", parsed.message().ToString()));
    }
  }
  for (const auto& [name, value] : inv.fields) {
    if (absl::Status s = ApplyFieldFlag(name, value, request.get()); !s.ok()) return s;
  }
  return request;
}

// Calls `method` once over a fresh channel and waits for the answer or the deadline.
grpc::Status Call(const Invocation& inv, const client::Transport& transport,
                  const std::string& bearer, const MethodDescriptor* method, const Message& request,
                  Message* response) {
  grpc::TemplatedGenericStub<Message, Message> stub(
      grpc::CreateCustomChannel(inv.addr, transport.credentials, transport.args));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + inv.timeout));
  if (!bearer.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", bearer));
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, absl::StrCat("/", method->service()->full_name(), "/", method->name()),
                 grpc::StubOptions(), &request, response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  return status;
}

// Prints `msg` as proto3 JSON (every field, proto field names) followed by a newline.
void PrintJson(const Message& msg, FILE* out) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  google::protobuf::util::Status printed =
      google::protobuf::util::MessageToJsonString(msg, &json, options);
  if (!printed.ok()) json = absl::StrCat("\"cannot print response: ", printed.ToString(), "\"");
  std::fprintf(out, "%s\n", json.c_str());
}

// Returns `text` as a JSON string literal, escaped by protobuf's JSON printer.
std::string JsonQuote(const std::string& text) {
  google::protobuf::Value value;
  value.set_string_value(text);
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(value, &json).ok()) return "\"\"";
  return json;
}

// Prints {"code":"NOT_FOUND","message":"..."} on stderr. gRPC and absl codes share numbers.
void PrintRpcError(const grpc::Status& status) {
  std::string code = absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
  std::fprintf(stderr, "{\"code\":%s,\"message\":%s}\n", JsonQuote(code).c_str(),
               JsonQuote(status.error_message()).c_str());
}

void PrintHelp(FILE* out) {
  std::fprintf(out,
               "usage: countctl [--addr=HOST:PORT] [--timeout=DURATION] "
               "[--bearer=VALUE | --bearer-file=PATH]\n"
               "                [--tls] [--tls-ca-file=PATH] "
               "[--tls-cert-file=PATH --tls-key-file=PATH]\n"
               "                [--tls-server-name=NAME] <subcommand> [--FIELD=VALUE ...] "
               "[--json=REQUEST]\n\n"
               "Calls one countd.v1 RPC and prints the response as proto3 JSON.\n"
               "  --addr     server address (default 127.0.0.1:50051)\n"
               "  --timeout  deadline of the call (default 5s)\n"
               "  --bearer   credential sent as 'authorization: Bearer VALUE': the operator\n"
               "             token for Admin subcommands, TENANT:SECRET for the others\n"
               "             (default: the environment variable COUNTD_BEARER)\n"
               "  --bearer-file  read that credential from a file (trimmed); keeps it out of\n"
               "             the process list and shell history\n"
               "  --tls      connect with TLS, trusting the system's roots (gRPC's default\n"
               "             roots); any --tls-* flag below implies it. Default: plaintext\n"
               "  --tls-ca-file  PEM CA bundle to trust instead (for a private CA)\n"
               "  --tls-cert-file, --tls-key-file  client certificate chain and its\n"
               "             unencrypted key, both PEM, for mutual TLS (give both)\n"
               "  --tls-server-name  name the server certificate must carry (default: the\n"
               "             host of --addr)\n"
               "  --json     the whole request message in proto3 JSON; field flags override it\n"
               "  --dry-run  print the request as proto3 JSON instead of sending it\n"
               "  --FIELD    one request field (tenant, visitor-id, ...); messages, maps and\n"
               "             repeated fields take JSON, repeated scalars also a comma list\n"
               "Exit status: 0 ok, 1 RPC error (JSON on stderr), 2 usage error.\n"
               "`countctl <subcommand> --help` lists the subcommand's fields.\n\n"
               "subcommands:\n");
  for (const Subcommand& sub : AllSubcommands()) {
    std::fprintf(out, "  %-28s %s/%s\n", sub.name.c_str(),
                 sub.method->service()->full_name().c_str(), sub.method->name().c_str());
  }
}

// A field's type as shown in help, e.g. "repeated countd.v1.CounterPath (JSON)".
std::string FieldTypeName(const FieldDescriptor* field) {
  std::string type = field->type_name();
  if (field->message_type() != nullptr) type = field->message_type()->full_name();
  if (field->enum_type() != nullptr) type = field->enum_type()->full_name();
  if (field->is_map()) return "map (JSON object)";
  if (field->is_repeated()) {
    return absl::StrCat(
        "repeated ", type,
        field->message_type() != nullptr ? " (JSON array)" : " (JSON array or a,b,c)");
  }
  return field->message_type() != nullptr ? absl::StrCat(type, " (JSON object)") : type;
}

void PrintSubcommandHelp(absl::string_view name, const MethodDescriptor* method, FILE* out) {
  std::fprintf(out, "usage: countctl %s [--FIELD=VALUE ...] [--json=REQUEST]\n",
               std::string(name).c_str());
  std::fprintf(out, "calls %s/%s with a %s; fields:\n", method->service()->full_name().c_str(),
               method->name().c_str(), method->input_type()->full_name().c_str());
  const Descriptor* type = method->input_type();
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    std::string flag = absl::StrReplaceAll(field->name(), {{"_", "-"}});
    for (const FlagAlias& alias : kFlagAliases) {
      if (name == alias.subcommand && field->name() == alias.field) {
        absl::StrAppend(&flag, ", --", alias.flag);
      }
    }
    std::fprintf(out, "  --%-22s %s\n", flag.c_str(), FieldTypeName(field).c_str());
  }
}

int UsageError(absl::string_view message) {
  std::fprintf(stderr, "countctl: %s\nrun `countctl --help` for usage.\n",
               std::string(message).c_str());
  return kExitUsage;
}

int Run(int argc, char** argv) {
  absl::StatusOr<Invocation> inv = ParseArgs(argc, argv);
  if (!inv.ok()) return UsageError(inv.status().message());
  if (inv->subcommand.empty()) {
    if (!inv->help) return UsageError("missing subcommand");
    PrintHelp(stdout);
    return kExitOk;
  }
  const MethodDescriptor* method = FindSubcommand(inv->subcommand);
  if (method == nullptr) {
    return UsageError(absl::StrCat("unknown subcommand '", inv->subcommand, "'"));
  }
  ApplyFlagAliases(&*inv);
  if (!inv->timeout_given && method->service()->name() == "Admin") inv->timeout = kAdminTimeout;
  if (inv->help) {
    PrintSubcommandHelp(inv->subcommand, method, stdout);
    return kExitOk;
  }
  absl::StatusOr<std::unique_ptr<Message>> request = BuildRequest(method->input_type(), *inv);
  if (!request.ok()) return UsageError(request.status().message());
  if (inv->dry_run) {
    PrintJson(**request, stdout);
    return kExitOk;
  }
  absl::StatusOr<std::string> bearer = client::ResolveBearer(inv->connection);
  if (!bearer.ok()) return UsageError(bearer.status().message());
  absl::StatusOr<client::Transport> transport = client::ResolveTransport(inv->connection);
  if (!transport.ok()) return UsageError(transport.status().message());
  std::unique_ptr<Message> response(google::protobuf::MessageFactory::generated_factory()
                                        ->GetPrototype(method->output_type())
                                        ->New());
  grpc::Status status = Call(*inv, *transport, *bearer, method, **request, response.get());
  if (!status.ok()) {
    PrintRpcError(status);
    return kExitRpcError;
  }
  PrintJson(*response, stdout);
  return kExitOk;
}

}  // namespace
}  // namespace countd::client

int main(int argc, char** argv) { return countd::client::Run(argc, argv); }
