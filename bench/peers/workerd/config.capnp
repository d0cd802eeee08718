# workerd config for bench/run.sh: one module worker (hello.js) on a socket that bench/run.sh
# names with `--socket-addr http=127.0.0.1:PORT` (the address below is only the default).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "hello", worker = .helloWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8080", http = (), service = "hello") ],
);

const helloWorker :Workerd.Worker = (
  modules = [ (name = "hello.js", esModule = embed "hello.js") ],
  compatibilityDate = "2024-09-23",
);
