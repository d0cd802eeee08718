// The workerd peer: a module worker doing the same trivial work as bench/functions/hello-*.
export default {
  async fetch(request) {
    return new Response("hello", { headers: { "content-type": "text/plain" } });
  },
};
