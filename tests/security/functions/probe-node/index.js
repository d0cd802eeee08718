// The escape-suite probe in Node: the core checks from a second runtime (V8 and libuv threads,
// another interpreter prefix). POST /fn/<name> with a JSON body {serverPort, readPaths}.
const fs = require("fs");
const net = require("net");
const path = require("path");

function attempt(fn) {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    return { ok: false, errno: e.code || String(e) };
  }
}

function connect(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    const done = (result) => { socket.destroy(); resolve(result); };
    socket.on("connect", () => done({ ok: true }));
    socket.on("timeout", () => done({ ok: false, errno: "ETIMEDOUT" }));
    socket.on("error", (e) => done({ ok: false, errno: e.code }));
  });
}

exports.handler = async (event) => {
  let args = {};
  if (event.body) {
    args = JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, "base64").toString() : event.body);
  }
  const tasks = {};
  for (const tid of fs.readdirSync("/proc/self/task")) {
    const status = fs.readFileSync(`/proc/self/task/${tid}/status`, "utf8");
    const fields = {};
    for (const line of status.split("\n")) {
      const [key, ...rest] = line.split(":");
      if (["CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Uid"].includes(key)) {
        fields[key] = rest.join(":").trim();
      }
    }
    tasks[tid] = fields;
  }
  const mine = path.join(__dirname, `.probe-${process.pid}-${Date.now()}`);
  const reads = {};
  for (const p of args.readPaths || []) {
    reads[p] = attempt(() => { fs.closeSync(fs.openSync(p, "r")); return "opened"; });
  }
  return {
    tasks,
    uid: process.getuid(),
    writeCode: attempt(() => { fs.writeFileSync(mine, "x"); fs.unlinkSync(mine); return "wrote"; }),
    writeUsr: attempt(() => { fs.closeSync(fs.openSync("/usr/lib/os-release", "a")); return "opened"; }),
    reads,
    pids: fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).length,
    server: await connect("127.0.0.1", args.serverPort),
  };
};
