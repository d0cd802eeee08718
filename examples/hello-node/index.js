// Module-level state lives as long as the warm instance: this counter proves reuse.
let calls = 0;

exports.handler = async (event, context) => {
  calls += 1;
  const name = (event.queryStringParameters || {}).name || "world";
  console.log(`greeting ${name} (call ${calls} of this instance)`);
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message: `hello, ${name}`, calls, request_id: context.awsRequestId }),
  };
};
