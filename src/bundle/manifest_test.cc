#include "bundle/manifest.h"

#include <gtest/gtest.h>

namespace gust::bundle {
namespace {

TEST(Manifest, ParsesEveryKey) {
  auto config = parseManifest(R"(
name = "resize"
runtime = "python3"
handler = "main.handler"
memory_mb = 512
timeout_s = 5
concurrency = 2
max_instances = 3
network = "egress"
env = { MODE = "prod" }
secrets = ["DB_PASSWORD"]
)",
                              "dir");
  ASSERT_TRUE(config.isOk()) << config.status().message();
  EXPECT_EQ(config->name, "resize");
  EXPECT_EQ(config->memory_mb, 512);
  EXPECT_EQ(config->timeout_s, 5);
  EXPECT_EQ(config->concurrency, 2);
  EXPECT_EQ(config->max_instances, 3);
  EXPECT_EQ(config->network, "egress");
  EXPECT_EQ(config->env.at("MODE"), "prod");
  EXPECT_EQ(config->secrets.at(0), "DB_PASSWORD");
}

TEST(Manifest, DefaultsNameAndHandler) {
  auto config = parseManifest("runtime = \"node\"\n", "hello-node");
  ASSERT_TRUE(config.isOk());
  EXPECT_EQ(config->name, "hello-node");
  EXPECT_EQ(config->handler, "index.handler");
  EXPECT_EQ(config->memory_mb, 256);
}

TEST(Manifest, RejectsUnknownKeyWithItsLine) {
  auto config = parseManifest("runtime = \"python3\"\n\nmemroy_mb = 128\n", "x");
  ASSERT_FALSE(config.isOk());
  EXPECT_NE(config.status().message().find("gust.toml:3"), std::string::npos)
      << config.status().message();
  EXPECT_NE(config.status().message().find("memroy_mb"), std::string::npos);
}

TEST(Manifest, RejectsWrongTypeWithItsLine) {
  auto config = parseManifest("runtime = \"python3\"\nmemory_mb = \"lots\"\n", "x");
  ASSERT_FALSE(config.isOk());
  EXPECT_NE(config.status().message().find("gust.toml:2"), std::string::npos);
  EXPECT_NE(config.status().message().find("integer"), std::string::npos);
}

TEST(Manifest, RejectsOutOfRangeAndUnknownRuntime) {
  EXPECT_FALSE(parseManifest("runtime = \"python3\"\ntimeout_s = 0\n", "x").isOk());
  auto cobol = parseManifest("runtime = \"cobol\"\n", "x");
  ASSERT_FALSE(cobol.isOk());
  EXPECT_NE(cobol.status().message().find("python3 | node | java | provided | http"),
            std::string::npos);
}

TEST(Manifest, RejectsSyntaxErrorsWithLineAndColumn) {
  auto config = parseManifest("runtime = \"python3\"\nenv = {\n", "x");
  ASSERT_FALSE(config.isOk());
  EXPECT_NE(config.status().message().find("gust.toml:"), std::string::npos);
}

TEST(Manifest, RejectsBadFunctionName) {
  EXPECT_FALSE(parseManifest("name = \"Has Spaces\"\nruntime = \"node\"\n", "x").isOk());
  EXPECT_FALSE(parseManifest("runtime = \"node\"\n", "../etc").isOk());
}

TEST(Manifest, RoundTripsThroughJson) {
  auto config = parseManifest("runtime = \"python3\"\nenv = { A = \"1\" }\n", "fn");
  ASSERT_TRUE(config.isOk());
  config->entries.push_back({"api/x", "python3", "api/x.py"});
  auto back = functionConfigFromJson(toJson(*config).dump());
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back->env.at("A"), "1");
  EXPECT_EQ(back->entries.at(0).handler, "api/x.py");
}

TEST(Manifest, ParsesDestinationsAndRoundTripsThem) {
  auto config = parseManifest(
      "runtime = \"python3\"\non_success = \"function:sink\"\n"
      "on_failure = \"kafka:fails@127.0.0.1:9092,10.0.0.2:9093\"\n",
      "fn");
  ASSERT_TRUE(config.isOk()) << config.status().message();
  EXPECT_EQ(config->on_success, "function:sink");
  auto back = functionConfigFromJson(toJson(*config).dump());
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back->on_failure, "kafka:fails@127.0.0.1:9092,10.0.0.2:9093");
  auto kafka = parseDestination(back->on_failure);
  ASSERT_TRUE(kafka.isOk());
  EXPECT_EQ(kafka->kind, Destination::Kind::kKafka);
  EXPECT_EQ(kafka->topic, "fails");
  EXPECT_EQ(kafka->brokers, "127.0.0.1:9092,10.0.0.2:9093");
  EXPECT_EQ(parseDestination("function:sink")->function, "sink");
}

TEST(Manifest, RejectsBadDestinationsWithTheirLine) {
  auto bad = parseManifest("runtime = \"python3\"\non_failure = \"queue:x\"\n", "fn");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("gust.toml:2"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("on_failure"), std::string::npos);
  EXPECT_FALSE(parseDestination("function:Bad Name").isOk());
  EXPECT_FALSE(parseDestination("function:").isOk());
  EXPECT_FALSE(parseDestination("kafka:topic").isOk());
  EXPECT_FALSE(parseDestination("kafka:@127.0.0.1:9092").isOk());
  EXPECT_FALSE(parseDestination("kafka:t/x@127.0.0.1:9092").isOk());
  EXPECT_FALSE(parseDestination("kafka:t@127.0.0.1").isOk());
  EXPECT_FALSE(parseDestination("kafka:t@127.0.0.1:x").isOk());
  EXPECT_FALSE(parseDestination("kafka:t@127.0.0.1:9092,").isOk());
}

TEST(Manifest, FindsLongestEntryAtSegmentBoundary) {
  FunctionConfig config;
  config.entries = {{"api/users", "python3", "api/users.py"},
                    {"api/users/admin", "node", "api/users/admin.js"},
                    {"api/index", "python3", "api/index.py"}};
  EXPECT_EQ(config.findEntry("api/users")->handler, "api/users.py");
  EXPECT_EQ(config.findEntry("api/users/7")->handler, "api/users.py");
  EXPECT_EQ(config.findEntry("api/users/admin")->handler, "api/users/admin.js");
  EXPECT_EQ(config.findEntry("api/usersx"), nullptr);
  EXPECT_EQ(config.findEntry("api")->handler, "api/index.py");
}

TEST(Manifest, ForeignRuntimesAndTheirDefaults) {
  auto provided = parseManifest("runtime = \"provided\"\n", "go");
  ASSERT_TRUE(provided.isOk()) << provided.status().message();
  EXPECT_EQ(provided->handler, "bootstrap");

  auto http = parseManifest("runtime = \"http\"\n", "flask");
  ASSERT_FALSE(http.isOk());
  EXPECT_NE(http.status().message().find("$PORT"), std::string::npos) << http.status().message();
  auto flask = parseManifest(
      "runtime = \"http\"\nhandler = \"python3 app.py\"\nready_path = \"/healthz\"\n", "f");
  ASSERT_TRUE(flask.isOk()) << flask.status().message();
  EXPECT_EQ(flask->ready_path, "/healthz");

  auto java = parseManifest("runtime = \"java\"\n", "j");
  ASSERT_FALSE(java.isOk());
  EXPECT_NE(java.status().message().find("handleRequest"), std::string::npos);
}

TEST(Manifest, ContractsPickTheirPlatformsDefaultHandler) {
  auto whisk_py = parseManifest("runtime = \"python3\"\ncontract = \"openwhisk\"\n", "w");
  ASSERT_TRUE(whisk_py.isOk());
  EXPECT_EQ(whisk_py->handler, "__main__.main");
  auto whisk_node = parseManifest("runtime = \"node\"\ncontract = \"openwhisk\"\n", "w");
  ASSERT_TRUE(whisk_node.isOk());
  EXPECT_EQ(whisk_node->handler, "index.main");
  auto faas = parseManifest("runtime = \"python3\"\ncontract = \"openfaas\"\n", "f");
  ASSERT_TRUE(faas.isOk());
  EXPECT_EQ(faas->handler, "handler.handle");
  auto back = functionConfigFromJson(toJson(*faas).dump());
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back->contract, "openfaas");
}

TEST(Manifest, RejectsContractsAndReadyPathWhereTheyCannotApply) {
  auto faas_node = parseManifest("runtime = \"node\"\ncontract = \"openfaas\"\n", "f");
  ASSERT_FALSE(faas_node.isOk());
  EXPECT_NE(faas_node.status().message().find("python3"), std::string::npos);
  EXPECT_FALSE(parseManifest("runtime = \"provided\"\ncontract = \"openwhisk\"\n", "x").isOk());
  EXPECT_FALSE(parseManifest("runtime = \"python3\"\ncontract = \"knative\"\n", "x").isOk());
  EXPECT_FALSE(parseManifest("runtime = \"python3\"\nready_path = \"/x\"\n", "x").isOk());
  auto no_slash =
      parseManifest("runtime = \"http\"\nhandler = \"x\"\nready_path = \"healthz\"\n", "x");
  ASSERT_FALSE(no_slash.isOk());
  EXPECT_NE(no_slash.status().message().find("gust.toml:3"), std::string::npos);
}

// An env entry becomes NAME=VALUE, a C string, in every instance: a NUL would make every
// invoke fail, so the deploy refuses it, naming the variable and its line.
TEST(Manifest, RejectsANulInAnEnvValueNamingTheVariable) {
  auto config =
      parseManifest("runtime = \"python3\"\nenv = { OK = \"1\", BAD = \"a\\u0000b\" }\n", "x");
  ASSERT_FALSE(config.isOk());
  const std::string& message = config.status().message();
  EXPECT_EQ(config.status().code(), Code::InvalidArgument);
  EXPECT_NE(message.find("gust.toml:2"), std::string::npos) << message;
  EXPECT_NE(message.find("env.BAD"), std::string::npos) << message;
  EXPECT_NE(message.find("NUL"), std::string::npos) << message;
}

TEST(Manifest, RejectsEnvNamesThatAreEmptyOrHoldEqualsOrNul) {
  for (const char* name : {"\"\"", "\"A=B\"", "\"A\\u0000B\""}) {
    auto config =
        parseManifest(std::string("runtime = \"python3\"\nenv = { ") + name + " = \"v\" }\n", "x");
    ASSERT_FALSE(config.isOk()) << name;
    EXPECT_EQ(config.status().message().find('\0'), std::string::npos)
        << "a raw NUL in the message";
    EXPECT_NE(config.status().message().find("name"), std::string::npos)
        << config.status().message();
  }
}

TEST(Manifest, AcceptsEnvValuesWithEqualsNewlinesAndUnicode) {
  auto config = parseManifest("runtime = \"python3\"\nenv = { A = \"x=y\\nz é\" }\n", "x");
  ASSERT_TRUE(config.isOk()) << config.status().message();
  EXPECT_EQ(config->env.at("A"), "x=y\nz é");
}

}  // namespace
}  // namespace gust::bundle
