// Lambda's CommonJS shape, unmodified. No gust.toml: index.js runs index.handler on node.
exports.handler = async (event, context) => {
  const q = (event.queryStringParameters || {}).q || null;
  return {
    statusCode: 200,
    headers: { "content-type": "application/json", "x-shape": "node-cjs" },
    body: JSON.stringify({ shape: "cjs", q, functionName: context.functionName,
                           awsRequestId: context.awsRequestId }),
  };
};
