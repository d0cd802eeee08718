// Uses a dependency that only package.json provides.
const isNumber = require("is-number");

exports.handler = async (event) => {
  const value = (event.queryStringParameters || {}).value;
  return { value, isNumber: isNumber(value), resolved: require.resolve("is-number") };
};
