// Lambda's ES module shape, unmodified: export const handler in index.mjs.
export const handler = async (event, context) => {
  const q = (event.queryStringParameters || {}).q || null;
  return { shape: "esm", q, functionName: context.functionName, awsRequestId: context.awsRequestId };
};
