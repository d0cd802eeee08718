#include "gateway/caller_error.h"

#include <gtest/gtest.h>

namespace gust::gateway {
namespace {

TEST(CallerError, InitErrorHidesTheLoadErrorAndQuotesTheActivation) {
  Status detail(Code::FunctionError,
                "the function failed to load: Runtime.ImportModuleError: cannot import main: "
                "/code/main.py line 3: DB_PASSWORD");
  Status shown = callerError(detail, "init_error", "act123");
  EXPECT_EQ(shown.code(), Code::FunctionError);
  EXPECT_EQ(shown.message().find("/code"), std::string::npos);
  EXPECT_EQ(shown.message().find("DB_PASSWORD"), std::string::npos);
  EXPECT_NE(shown.message().find("act123"), std::string::npos);
}

TEST(CallerError, RaisedErrorHidesTheExceptionMessage) {
  Status shown = callerError(Status(Code::FunctionError, "the function raised KeyError: 'API_KEY'"),
                             "error", "a1");
  EXPECT_EQ(shown.message().find("API_KEY"), std::string::npos);
  EXPECT_NE(shown.message().find("raised an error"), std::string::npos);
}

TEST(CallerError, MissingSecretAtResolveIsNotNamed) {
  Status detail(Code::FunctionError,
                "function 'f' needs secret 'DB_PASSWORD', which is not set: run `gust secret set "
                "DB_PASSWORD`");
  Status shown = callerError(detail, "", "a2");
  EXPECT_EQ(shown.code(), Code::FunctionError);
  EXPECT_EQ(shown.message().find("DB_PASSWORD"), std::string::npos);
  EXPECT_EQ(shown.message().find("gust secret"), std::string::npos);
}

TEST(CallerError, InternalErrorsSayNothingButTheActivation) {
  Status shown =
      callerError(internalError("cannot mount /var/lib/gust/functions/t/f/v1"), "", "a3");
  EXPECT_EQ(shown.code(), Code::Internal);
  EXPECT_EQ(shown.message(), "internal error (activation a3)");
}

TEST(CallerError, GustsOwnWordsAboutTheFunctionPassThrough) {
  for (auto [state, message] : {std::pair{"crashed", "function 'f' crashed: exit code 3"},
                                {"bad_response", "the function's response is 7 bytes, over"},
                                {"timeout", "function 'f' timed out after 1 s"}}) {
    Status detail(state == std::string("timeout") ? Code::DeadlineExceeded : Code::FunctionError,
                  message);
    EXPECT_EQ(callerError(detail, state, "a").message(), message) << state;
  }
  Status not_found(Code::NotFound, "no function named 'nope'");
  EXPECT_EQ(callerError(not_found, "", "a").message(), not_found.message());
}

}  // namespace
}  // namespace gust::gateway
