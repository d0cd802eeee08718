// bench/soak.sh's Node function: a log-heavy handler, 4 lines of 1 KiB on stdout per call, so
// the soak's data dir fills with logs the way a chatty production function's would.
const line = "x".repeat(1000);

exports.handler = async (event, context) => {
  for (let i = 0; i < 4; i++) console.log(`${context.awsRequestId} line ${i} ${line}`);
  return { statusCode: 200, headers: { "content-type": "text/plain" }, body: "hello" };
};
