// Holds each invocation for ?ms and reports how many ran at once in this instance, so a test can
// see whether one instance really serves `concurrency` invocations together.
const instance = require("crypto").randomUUID(); // pids repeat across sandboxes
let inflight = 0;
let peak = 0;

exports.handler = async (event) => {
  const q = event.queryStringParameters || {};
  const tag = q.tag || "untagged";
  inflight += 1;
  peak = Math.max(peak, inflight);
  const seen = inflight;
  console.log(`start ${tag}`);
  await new Promise((resolve) => setTimeout(resolve, Number(q.ms || 0)));
  console.log(`end ${tag}`);
  inflight -= 1;
  return { tag, pid: process.pid, instance, peak, seen };
};
