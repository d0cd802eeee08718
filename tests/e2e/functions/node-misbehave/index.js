// Misbehaves on request: ?do=exit calls process.exit(7). Otherwise a counter and the pid.
let calls = 0;
// Which instance answered: pids repeat across sandboxes (each function is pid 1 of its own).
const instance = require("crypto").randomUUID();

exports.handler = async (event) => {
  calls += 1;
  const doWhat = (event.queryStringParameters || {}).do || event.do;
  if (doWhat === "exit") process.exit(7);
  return { calls, pid: process.pid, instance };
};
