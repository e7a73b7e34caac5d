// server/flags.h — countd's command-line flags (each also read from COUNTD_<NAME>) and their
// translation into a validated ServerConfig.
#ifndef COUNTD_SERVER_FLAGS_H_
#define COUNTD_SERVER_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/server.h"

namespace countd {

// The arguments to parse: argv[0], then "--name=value" for every flag whose environment variable
// COUNTD_<NAME> (upper case, e.g. COUNTD_DATA_DIR) is set, then the command line, whose flags
// come later and so win. Flag names are accepted with dashes (--data-dir) or underscores.
std::vector<std::string> ArgsWithEnvironment(int argc, char** argv);

// Reads the parsed flags, and the credential files they name (--operator-token-file,
// --secrets-key-file). Errors: INVALID_ARGUMENT naming the flag and the bad value (for a
// credential file: its path and what is wrong, never its contents).
absl::StatusOr<ServerConfig> ConfigFromFlags();

// The log level flag ("debug", "info", "warn", "error").
std::string LogLevelFlag();

// Every countd flag with its effective value (after the environment and the command line),
// "name=value" separated by spaces, in a fixed order; for the startup log. No flag holds a
// secret; the credential file flags (--operator-token-file, --secrets-key-file) show only
// "<set>" or "<unset>".
std::string EffectiveFlags();

}  // namespace countd

#endif  // COUNTD_SERVER_FLAGS_H_
