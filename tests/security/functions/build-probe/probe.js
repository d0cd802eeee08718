// Run by npm as the package's preinstall script, as hostile code would: tries the host's
// secrets, the server's environment, its port and the disk outside the build, and writes what
// it got to build-probe.json beside this file. targets.json (written by the test) names the host
// paths and addresses to try.
const fs = require("fs");
const net = require("net");
const path = require("path");

const targets = JSON.parse(fs.readFileSync(path.join(__dirname, "targets.json"), "utf8"));

function attempt(action) {
  try {
    return { ok: true, value: action() };
  } catch (e) {
    return { ok: false, error: String(e) };
  }
}

function connect(address) {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), address.slice(address.lastIndexOf(":") + 1)];
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port), timeout: 3000 });
    socket.on("connect", () => { socket.destroy(); resolve({ ok: true, value: "connected" }); });
    socket.on("timeout", () => { socket.destroy(); resolve({ ok: false, error: "timeout" }); });
    socket.on("error", (e) => resolve({ ok: false, error: String(e) }));
  });
}

(async () => {
  const result = { uid: process.getuid(), environment: { ...process.env }, read: {}, connect: {}, write: {} };
  for (const p of targets.read) result.read[p] = attempt(() => fs.readFileSync(p, "utf8").slice(0, 4096));
  for (const a of targets.connect) result.connect[a] = await connect(a);
  for (const p of targets.write) result.write[p] = attempt(() => { fs.writeFileSync(p, "written by a build"); return p; });
  console.log("build probe: done");
  fs.writeFileSync(path.join(__dirname, "build-probe.json"), JSON.stringify(result));
})();
