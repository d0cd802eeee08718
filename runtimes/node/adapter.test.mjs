// Tests for the Node.js adapter: each test writes handler code into a temporary directory, starts
// the real adapter.mjs the way the host does (a connected Unix socket inherited as fd 3, stdout
// and stderr as pipes) and plays the host's side of the protocol. Run: node --test runtimes/node/

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const kAdapterPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'adapter.mjs');
const kFrameTimeoutMs = 10_000;

const scratch_root = fs.mkdtempSync(path.join(os.tmpdir(), 'gust-node-adapter-'));
after(() => fs.rmSync(scratch_root, { recursive: true, force: true }));

let next_dir = 0;
// Writes {relative path: source} into a fresh code directory and returns its path.
function writeCode(files) {
  const code_dir = path.join(scratch_root, `code${next_dir++}`);
  for (const [name, source] of Object.entries(files)) {
    const file = path.join(code_dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, source);
  }
  return code_dir;
}

function encodeFrame(header, body = Buffer.alloc(0)) {
  const header_bytes = Buffer.from(JSON.stringify(header));
  const body_bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32BE(header_bytes.length, 0);
  prefix.writeUInt32BE(body_bytes.length, 4);
  return Buffer.concat([prefix, header_bytes, body_bytes]);
}

// Reads whatever the kernel holds in a child's stdout pipe right now, without waiting: libuv may
// not have polled the pipe yet even though the child wrote to it before replying.
function readPipeNow(stream) {
  const fd = stream._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return '';
  const parts = [];
  const buffer = Buffer.alloc(64 * 1024);
  for (;;) {
    let count;
    try {
      count = fs.readSync(fd, buffer, 0, buffer.length, null);
    } catch (err) {
      if (err.code === 'EAGAIN') break;
      throw err;
    }
    if (count === 0) break;
    parts.push(Buffer.from(buffer.subarray(0, count)));
  }
  return Buffer.concat(parts).toString('utf8');
}

// The host's side of one adapter instance.
class FakeHost {
  stdout = '';
  stderr = '';
  #frames = [];
  #waiters = [];
  #pending = Buffer.alloc(0);
  #next_id = 0;

  constructor(child, socket) {
    this.child = child;
    this.socket = socket;
    this.exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (text) => { this.stdout += text; });
    child.stderr.on('data', (text) => { this.stderr += text; });
    socket.on('data', (chunk) => this.#onData(chunk));
    socket.on('error', () => {});
  }

  #onData(chunk) {
    this.#pending = Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= 8) {
      const header_len = this.#pending.readUInt32BE(0);
      const body_len = this.#pending.readUInt32BE(4);
      assert.ok(header_len <= 64 * 1024, 'adapter sent an oversized header');
      if (this.#pending.length < 8 + header_len + body_len) return;
      const header = JSON.parse(this.#pending.subarray(8, 8 + header_len).toString('utf8'));
      const body = this.#pending.subarray(8 + header_len, 8 + header_len + body_len);
      this.#pending = this.#pending.subarray(8 + header_len + body_len);
      // Snapshot stdout when the frame arrives: the protocol promises it is complete by then.
      this.stdout += readPipeNow(this.child.stdout);
      const frame = { header, body: body.toString('utf8'), raw_body: body, stdout: this.stdout };
      const waiter_index = this.#waiters.findIndex((waiter) => waiter.matches(frame));
      if (waiter_index >= 0) this.#waiters.splice(waiter_index, 1)[0].resolve(frame);
      else this.#frames.push(frame);
    }
  }

  nextFrame(matches = () => true) {
    const index = this.#frames.findIndex(matches);
    if (index >= 0) return Promise.resolve(this.#frames.splice(index, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `no frame within ${kFrameTimeoutMs} ms; stderr: ${this.stderr}`)), kFrameTimeoutMs);
      this.#waiters.push({ matches, resolve: (frame) => { clearTimeout(timer); resolve(frame); } });
    });
  }

  frameFor(id) {
    return this.nextFrame((frame) => frame.header.id === id);
  }

  sendRaw(bytes) {
    this.socket.write(bytes);
  }

  // Sends an INVOKE and returns its id.
  invoke(event, fields = {}) {
    const id = fields.id ?? `act-${++this.#next_id}`;
    const header = {
      type: 'INVOKE', id, deadline_ms: Date.now() + 30_000, function_name: 'hello',
      function_version: '7', memory_mb: 256, trace_id: 'Root=1-abc', ...fields,
    };
    const body = typeof event === 'string' ? event : JSON.stringify(event);
    this.sendRaw(encodeFrame(header, body));
    return id;
  }

  async call(event, fields) {
    return this.frameFor(this.invoke(event, fields));
  }

  async expectReady() {
    const frame = await this.nextFrame();
    assert.equal(frame.header.type, 'READY', `expected READY, got ${JSON.stringify(frame.header)}` +
                                             ` ${frame.body}`);
  }

  async close() {
    this.socket.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), kFrameTimeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}

let next_socket = 0;
async function startAdapter(code_dir, handler_spec, extra_env = {}) {
  const socket_path = path.join(scratch_root, `s${next_socket++}.sock`);
  const server = net.createServer();
  server.listen(socket_path);
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const child_end = net.connect(socket_path);
  await once(child_end, 'connect');
  const [host_end] = await accepted;
  server.close();

  const child = spawn(process.execPath, [kAdapterPath], {
    cwd: code_dir,
    stdio: ['ignore', 'pipe', 'pipe', child_end],
    env: {
      PATH: process.env.PATH,
      GUST_SOCKET_FD: '3',
      GUST_CODE_DIR: code_dir,
      GUST_HANDLER: handler_spec,
      GUST_FUNCTION_NAME: 'hello',
      GUST_FUNCTION_VERSION: '7',
      GUST_MEMORY_MB: '256',
      ...extra_env,
    },
  });
  // The child has its own copy of the descriptor; ours must go so EOF works both ways.
  child_end.destroy();
  return new FakeHost(child, host_end);
}

async function startReady(files, handler_spec) {
  const host = await startAdapter(writeCode(files), handler_spec);
  await host.expectReady();
  return host;
}

function parsedResult(frame) {
  assert.equal(frame.header.type, 'RESULT', `expected RESULT, got ${JSON.stringify(frame.header)}` +
                                            ` ${frame.body}`);
  return JSON.parse(frame.body);
}

function v2Event(overrides = {}) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/api/items',
    rawQueryString: '',
    headers: { host: 'example.test', 'user-agent': 'test-agent' },
    requestContext: {
      http: { method: 'GET', path: '/api/items', protocol: 'HTTP/1.1', sourceIp: '10.0.0.9',
              userAgent: 'test-agent' },
      requestId: 'req-1',
      timeEpoch: Date.now(),
    },
    isBase64Encoded: false,
    ...overrides,
  };
}

describe('Lambda handlers', () => {
  test('CommonJS async handler returns objects and keeps module state between invocations',
       async () => {
    const host = await startReady({
      'index.js': `
        let count = 0;
        exports.handler = async (event) => ({ count: ++count, echo: event.name });
      `,
    }, 'index.handler');
    assert.deepEqual(parsedResult(await host.call({ name: 'a' })), { count: 1, echo: 'a' });
    assert.deepEqual(parsedResult(await host.call({ name: 'b' })), { count: 2, echo: 'b' });
    assert.deepEqual(await host.close(), { code: 0, signal: null });
  });

  test('ESM export const handler in a nested module path', async () => {
    const host = await startReady({
      'src/app.mjs': 'export const handler = async (event) => event.n * 2;',
    }, 'src/app.handler');
    assert.equal(parsedResult(await host.call({ n: 21 })), 42);
    await host.close();
  });

  test('CommonJS export assigned dynamically is found on module.exports', async () => {
    const host = await startReady({
      'main.cjs': 'Object.assign(module.exports, { ["hand" + "ler"]: () => "dynamic" });',
    }, 'main.handler');
    assert.equal(parsedResult(await host.call({})), 'dynamic');
    await host.close();
  });

  test('callback-style handler answers through the callback', async () => {
    const host = await startReady({
      'index.js': `
        exports.handler = function (event, context, callback) {
          setTimeout(() => callback(null, { late: true, got: event.x }), 20);
        };
        exports.failing = function (event, context, callback) { callback(new TypeError('nope')); };
      `,
    }, 'index.handler');
    assert.deepEqual(parsedResult(await host.call({ x: 1 })), { late: true, got: 1 });
    await host.close();
  });

  test('undefined becomes null and a synchronous return value is the result', async () => {
    const host = await startReady({
      'index.js': 'exports.handler = (event) => event.give ? "sync" : undefined;',
    }, 'index.handler');
    assert.equal((await host.call({ give: false })).body, 'null');
    assert.equal(parsedResult(await host.call({ give: true })), 'sync');
    await host.close();
  });

  test('context carries Lambda names', async () => {
    const host = await startReady({
      'index.js': `
        exports.handler = async (event, context) => ({
          functionName: context.functionName,
          functionVersion: context.functionVersion,
          awsRequestId: context.awsRequestId,
          memoryLimitInMB: context.memoryLimitInMB,
          invokedFunctionArn: context.invokedFunctionArn,
          logGroupName: context.logGroupName,
          logStreamName: context.logStreamName,
          remaining: (({ getRemainingTimeInMillis }) => getRemainingTimeInMillis())(context),
          waits: context.callbackWaitsForEmptyEventLoop,
          traceId: process.env._X_AMZN_TRACE_ID,
          lambdaName: process.env.AWS_LAMBDA_FUNCTION_NAME,
        });
      `,
    }, 'index.handler');
    const result =
      parsedResult(await host.call({}, { id: 'ctx-1', deadline_ms: Date.now() + 5000 }));
    assert.equal(result.functionName, 'hello');
    assert.equal(result.functionVersion, '7');
    assert.equal(result.awsRequestId, 'ctx-1');
    assert.equal(result.memoryLimitInMB, '256');
    assert.equal(result.invokedFunctionArn, 'arn:gust:lambda:local:000000000000:function:hello');
    assert.equal(result.logGroupName, '/aws/lambda/hello');
    assert.match(result.logStreamName, /^\d{4}\/\d{2}\/\d{2}\/\[7\][0-9a-f]{32}$/);
    assert.ok(result.remaining > 0 && result.remaining <= 5000, `remaining ${result.remaining}`);
    assert.equal(result.waits, true);
    assert.equal(result.traceId, 'Root=1-abc');
    await host.close();
  });

  test('a new trace id per invocation does not grow the instance', async () => {
    // Through Node's own process.env each value went to glibc's setenv, which keeps every
    // distinct string for good: with 2 KiB trace ids, 6,000 invocations leaked ~12 MiB.
    const host = await startReady({
      'index.js': 'exports.handler = async () => process.env._X_AMZN_TRACE_ID.length;',
    }, 'index.handler');
    try {
      const resident_kib = () => Number(/VmRSS:\s+(\d+)/.exec(
        fs.readFileSync(`/proc/${host.child.pid}/status`, 'utf8'))[1]);
      const run = async (round, count) => {
        for (let batch = 0; batch < count; batch += 200) {
          const calls = [];
          for (let i = batch; i < batch + 200; i++) {
            const trace_id = `Root=${round}-${i}-`.padEnd(2048, 'f');
            calls.push(host.call({}, { trace_id }).then((frame) => assert.equal(parsedResult(frame), 2048)));
          }
          await Promise.all(calls);
        }
      };
      await run(1, 2000);  // warm: the heaps reach their steady size
      const before = resident_kib();
      await run(2, 6000);
      const grown = resident_kib() - before;
      assert.ok(grown < 6144, `the instance grew by ${grown} KiB over 6,000 invocations`);
    } finally {
      await host.close();
    }
  });

  test('process.env keeps its rules after loading: values become strings, child processes see them', async () => {
    const host = await startReady({
      'index.js': `
        const { execFileSync } = require('node:child_process');
        exports.handler = async () => {
          process.env.GUST_TEST_NUMBER = 42;
          const seen = execFileSync(process.execPath, ['-e',
            'process.stdout.write(process.env._X_AMZN_TRACE_ID + "|" + process.env.GUST_TEST_NUMBER)']);
          return { type: typeof process.env.GUST_TEST_NUMBER, child: seen.toString() };
        };
      `,
    }, 'index.handler');
    const result = parsedResult(await host.call({}, { trace_id: 'Root=1-child' }));
    assert.deepEqual(result, { type: 'string', child: 'Root=1-child|42' });
    await host.close();
  });

  test('console output is in the stdout pipe before the RESULT arrives', async () => {
    // 512 KiB is more than a pipe holds, so part of it is still queued in the adapter when the
    // handler returns: the reply must wait for it.
    const host = await startReady({
      'index.js': `
        exports.handler = async (event) => {
          console.log('start ' + event.n);
          process.stdout.write('x'.repeat(512 * 1024) + '\\n');
          console.error('to stderr ' + event.n);
          console.log('end ' + event.n);
          return 'done';
        };
      `,
    }, 'index.handler');
    for (const n of [1, 2]) {
      const frame = await host.call({ n });
      assert.equal(parsedResult(frame), 'done');
      assert.ok(frame.stdout.includes(`start ${n}\n`), 'first line missing at RESULT time');
      assert.ok(frame.stdout.endsWith(`end ${n}\n`), 'last line missing at RESULT time');
    }
    await host.close();
    assert.match(host.stderr, /to stderr 2/);
  });
});

describe('Lambda errors', () => {
  test('a thrown error becomes ERROR with its class name, message and stack', async () => {
    const host = await startReady({
      'index.js': `
        class QuotaExceeded extends Error {}
        exports.handler = async (event) => {
          if (event.kind === 'type') throw new TypeError('bad type');
          throw new QuotaExceeded('over the limit');
        };
      `,
    }, 'index.handler');
    let frame = await host.call({ kind: 'type' });
    assert.equal(frame.header.type, 'ERROR');
    assert.equal(frame.header.error_type, 'TypeError');
    assert.equal(frame.header.message, 'bad type');
    assert.match(frame.body, /TypeError: bad type\n\s+at /);
    frame = await host.call({ kind: 'custom' });
    assert.equal(frame.header.error_type, 'QuotaExceeded');
    assert.equal(frame.header.message, 'over the limit');
    await host.close();
  });

  test('a rejected promise becomes ERROR and the instance keeps serving', async () => {
    const host = await startReady({
      'index.mjs': `
        export const handler = (event) => event.ok ? Promise.resolve('fine')
                                                   : Promise.reject(new RangeError('too far'));
      `,
    }, 'index.handler');
    const frame = await host.call({ ok: false });
    assert.equal(frame.header.type, 'ERROR');
    assert.equal(frame.header.error_type, 'RangeError');
    assert.equal(frame.header.message, 'too far');
    assert.match(frame.body, /RangeError: too far/);
    assert.equal(parsedResult(await host.call({ ok: true })), 'fine');
    await host.close();
  });

  test('callback(error) and a thrown string follow Lambda', async () => {
    const host = await startReady({
      'index.js': `
        exports.handler = (event, context, callback) => {
          if (event.string) throw 'plain string';
          callback(new SyntaxError('via callback'));
        };
      `,
    }, 'index.handler');
    let frame = await host.call({});
    assert.equal(frame.header.error_type, 'SyntaxError');
    assert.equal(frame.header.message, 'via callback');
    frame = await host.call({ string: true });
    assert.equal(frame.header.error_type, 'string');
    assert.equal(frame.header.message, 'plain string');
    await host.close();
  });

  test('unserialisable results become Runtime.MarshalError', async () => {
    const host = await startReady({
      'index.js': `
        exports.handler = async (event) => {
          if (event.bigint) return { n: 10n };
          const loop = { name: 'loop' };
          loop.self = loop;
          return loop;
        };
      `,
    }, 'index.handler');
    for (const event of [{}, { bigint: true }]) {
      const frame = await host.call(event);
      assert.equal(frame.header.type, 'ERROR');
      assert.equal(frame.header.error_type, 'Runtime.MarshalError');
      assert.match(frame.header.message, /Unable to stringify/);
    }
    await host.close();
  });

  test('a result nested past the stack becomes Runtime.MarshalError, and the instance lives on', async () => {
    const host = await startReady({
      'index.js': `
        exports.handler = async (event) => {
          if (!event.deep) return 'fine';
          let value = [];
          for (let i = 0; i < 100000; i++) value = [value];
          return value;
        };
      `,
    }, 'index.handler');
    const frame = await host.call({ deep: true });
    assert.equal(frame.header.type, 'ERROR');
    assert.equal(frame.header.error_type, 'Runtime.MarshalError');
    assert.equal(parsedResult(await host.call({})), 'fine');
    await host.close();
  });

  test('a huge error message is cut to fit the frame header limit', async () => {
    const host = await startReady({
      'index.js': 'exports.handler = async () => { throw new Error("\\u0001".repeat(200000)); };',
    }, 'index.handler');
    const frame = await host.call({});
    assert.equal(frame.header.type, 'ERROR');
    assert.match(frame.header.message, /\[truncated\]$/);
    await host.close();
  });

  test('an event that is not JSON becomes Runtime.UnmarshalError', async () => {
    const host = await startReady({ 'index.js': 'exports.handler = async () => 1;' },
                                  'index.handler');
    const frame = await host.call('{not json');
    assert.equal(frame.header.type, 'ERROR');
    assert.equal(frame.header.error_type, 'Runtime.UnmarshalError');
    assert.equal(parsedResult(await host.call({})), 1);
    await host.close();
  });

  test('an uncaught exception during an invocation answers it with ERROR, then exits',
       async () => {
    const host = await startReady({
      'index.js': `
        exports.handler = () => new Promise(() => {
          setTimeout(() => { throw new EvalError('from a timer'); }, 10);
        });
      `,
    }, 'index.handler');
    const frame = await host.call({});
    assert.equal(frame.header.type, 'ERROR');
    assert.equal(frame.header.error_type, 'EvalError');
    assert.equal(frame.header.message, 'from a timer');
    assert.equal((await host.exited).code, 1);
    assert.match(host.stderr, /EvalError: from a timer/);
  });

  test('an unhandled rejection during an invocation answers it with ERROR, then exits',
       async () => {
    const host = await startReady({
      'index.js': `
        exports.handler = () => new Promise(() => {
          Promise.reject(new Error('nobody listens'));
        });
      `,
    }, 'index.handler');
    const frame = await host.call({});
    assert.equal(frame.header.type, 'ERROR');
    assert.equal(frame.header.error_type, 'Runtime.UnhandledPromiseRejection');
    assert.match(frame.header.message, /nobody listens/);
    assert.equal((await host.exited).code, 1);
  });
});

describe('loading', () => {
  test('a syntax error in user code is INIT_ERROR, then exit 1', async () => {
    const host = await startAdapter(writeCode({ 'index.js': 'exports.handler = async ( => 1;' }),
                                    'index.handler');
    const frame = await host.nextFrame();
    assert.equal(frame.header.type, 'INIT_ERROR');
    assert.equal(frame.header.error_type, 'SyntaxError');
    assert.ok(frame.header.message.length > 0);
    assert.equal((await host.exited).code, 1);
  });

  test('a failure to load names the file and line in the code, ES modules too', async () => {
    for (const [files, where] of [
      [{ 'index.js': 'exports.handler = 1;\nlet x = ;\n' }, '(index.js:2)'],
      [{ 'index.mjs': "import { v } from './lib/v.mjs';\nexport const handler = v;\n",
         'lib/v.mjs': 'export const v = 1;\nlet y = ;\n' }, '(lib/v.mjs:2)'],
      [{ 'index.mjs': 'export const handler = 1;\n\nmissingThing();\n' }, '(index.mjs:3)'],
    ]) {
      const host = await startAdapter(writeCode(files), 'index.handler');
      const frame = await host.nextFrame();
      assert.equal(frame.header.type, 'INIT_ERROR');
      assert.ok(frame.header.message.endsWith(where), frame.header.message);
      assert.equal((await host.exited).code, 1);
    }
  });

  test('an error thrown at module top level is INIT_ERROR with its stack', async () => {
    const host = await startAdapter(
      writeCode({ 'index.mjs': 'throw new ReferenceError("missing config");' }), 'index.handler');
    const frame = await host.nextFrame();
    assert.equal(frame.header.type, 'INIT_ERROR');
    assert.equal(frame.header.error_type, 'ReferenceError');
    assert.equal(frame.header.message, 'missing config (index.mjs:1)');
    assert.match(frame.body, /index\.mjs/);
    assert.equal((await host.exited).code, 1);
  });

  test('a missing module or export names the Lambda error types', async () => {
    const code_dir = writeCode({ 'index.js': 'exports.other = () => 1;' });
    for (const [spec, error_type] of [['nothere.handler', 'Runtime.ImportModuleError'],
                                      ['index.handler', 'Runtime.HandlerNotFound'],
                                      ['index', 'Runtime.MalformedHandlerName']]) {
      const host = await startAdapter(code_dir, spec);
      const frame = await host.nextFrame();
      assert.equal(frame.header.type, 'INIT_ERROR');
      assert.equal(frame.header.error_type, error_type, frame.header.message);
      assert.equal((await host.exited).code, 1);
    }
  });

  test('a missing dependency of user code is Runtime.ImportModuleError', async () => {
    const host = await startAdapter(
      writeCode({ 'index.mjs': 'import "no-such-package-anywhere"; export const handler = 1;' }),
      'index.handler');
    const frame = await host.nextFrame();
    assert.equal(frame.header.error_type, 'Runtime.ImportModuleError');
    assert.match(frame.header.message, /no-such-package-anywhere/);
    assert.equal((await host.exited).code, 1);
  });
});

describe('Vercel handlers', () => {
  test('CommonJS module.exports = (req, res) with query, JSON body, cookies and set-cookie',
       async () => {
    const host = await startReady({
      'api/items.js': `
        module.exports = (req, res) => {
          res.setHeader('Set-Cookie', ['session=abc; HttpOnly', 'theme=dark']);
          res.setHeader('X-Multi', ['a', 'b']);
          res.status(201).json({
            method: req.method,
            url: req.url,
            query: req.query,
            body: req.body,
            cookies: req.cookies,
            agent: req.headers['user-agent'],
            cookieHeader: req.headers.cookie,
            ip: req.socket.remoteAddress,
          });
        };
      `,
    }, 'api/items.js');
    const result = parsedResult(await host.call(v2Event({
      rawQueryString: 'tag=a&tag=b&q=hello%20world',
      cookies: ['user=ann', 'pref=%7Bx%7D'],
      headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'test-agent' },
      requestContext: { http: { method: 'POST', path: '/api/items', protocol: 'HTTP/1.1',
                                sourceIp: '10.0.0.9', userAgent: 'test-agent' } },
      body: '{"name":"widget","qty":3}',
    })));
    assert.equal(result.statusCode, 201);
    assert.equal(result.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(result.headers['x-multi'], 'a, b');
    assert.equal(result.headers['set-cookie'], undefined);
    assert.deepEqual(result.cookies, ['session=abc; HttpOnly', 'theme=dark']);
    assert.equal(result.isBase64Encoded, false);
    assert.deepEqual(JSON.parse(result.body), {
      method: 'POST',
      url: '/api/items?tag=a&tag=b&q=hello%20world',
      query: { tag: ['a', 'b'], q: 'hello world' },
      body: { name: 'widget', qty: 3 },
      cookies: { user: 'ann', pref: '{x}' },
      agent: 'test-agent',
      cookieHeader: 'user=ann; pref=%7Bx%7D',
      ip: '10.0.0.9',
    });
    await host.close();
  });

  test('ESM export default writing a non-UTF-8 Buffer answers base64', async () => {
    const host = await startReady({
      'api/bin.mjs': `
        export default function (req, res) {
          res.statusCode = 200;
          res.setHeader('Content-Type', 'application/octet-stream');
          res.write(Buffer.from([0xff, 0xfe]));
          res.end(Buffer.from([0x00, 0x80]));
        }
      `,
    }, 'api/bin.mjs');
    const result = parsedResult(await host.call(v2Event()));
    assert.equal(result.statusCode, 200);
    assert.equal(result.headers['content-type'], 'application/octet-stream');
    assert.equal(result.isBase64Encoded, true);
    assert.deepEqual(Buffer.from(result.body, 'base64'), Buffer.from([0xff, 0xfe, 0x00, 0x80]));
    assert.equal(result.cookies, undefined);
    await host.close();
  });

  test('req is a readable stream and other body types parse as Vercel does', async () => {
    const host = await startReady({
      'api/echo.mjs': `
        export default async function (req, res) {
          const chunks = [];
          for await (const chunk of req) chunks.push(chunk);
          const raw = Buffer.concat(chunks);
          const body = req.body;
          res.send({
            raw: raw.toString('base64'),
            kind: Buffer.isBuffer(body) ? 'buffer' : typeof body,
            body: Buffer.isBuffer(body) ? body.toString('base64') : body,
          });
        }
      `,
    }, 'api/echo.mjs:default');
    const post = (content_type, body, isBase64Encoded = false) => host.call(v2Event({
      headers: content_type ? { 'content-type': content_type } : {},
      requestContext: { http: { method: 'POST', path: '/api/echo' } },
      body, isBase64Encoded,
    }));
    let result = JSON.parse(parsedResult(await post('application/x-www-form-urlencoded',
                                                     'a=1&b=two+words&a=3')).body);
    assert.deepEqual(result.body, { a: ['1', '3'], b: 'two words' });
    assert.equal(Buffer.from(result.raw, 'base64').toString(), 'a=1&b=two+words&a=3');
    result = JSON.parse(parsedResult(await post('text/plain', 'just text')).body);
    assert.deepEqual([result.kind, result.body], ['string', 'just text']);
    result = JSON.parse(parsedResult(await post('image/png', 'AAEC', true)).body);
    assert.deepEqual([result.kind, result.body, result.raw], ['buffer', 'AAEC', 'AAEC']);
    result = JSON.parse(parsedResult(await post(undefined, undefined)).body);
    assert.deepEqual([result.kind, result.raw], ['undefined', '']);
    await host.close();
  });

  test('invalid JSON body answers 400 as Vercel does', async () => {
    const host = await startReady({
      'api/strict.js': 'module.exports = (req, res) => res.json(req.body);',
    }, 'api/strict.js');
    const result = parsedResult(await host.call(v2Event({
      headers: { 'content-type': 'application/json' }, body: '{"broken":',
    })));
    assert.equal(result.statusCode, 400);
    assert.equal(result.body, 'Invalid JSON');
    await host.close();
  });

  test('redirect, send(string), writeHead and headersSent', async () => {
    const host = await startReady({
      'api/misc.js': `
        module.exports = (req, res) => {
          if (req.url.startsWith('/old')) return res.redirect('/new');
          if (req.url.startsWith('/perm')) return res.redirect(308, '/forever');
          if (req.url.startsWith('/head')) {
            res.writeHead(202, { 'X-Before': res.headersSent ? 'sent' : 'unsent' });
            let threw = false;
            try { res.setHeader('x-late', '1'); } catch (err) { threw = err.code; }
            return res.end(String(threw));
          }
          res.send('<p>hi</p>');
        };
      `,
    }, 'api/misc.js');
    const at = (raw_path) => host.call(v2Event({ rawPath: raw_path }));
    let result = parsedResult(await at('/old'));
    assert.deepEqual([result.statusCode, result.headers.location], [307, '/new']);
    result = parsedResult(await at('/perm'));
    assert.deepEqual([result.statusCode, result.headers.location], [308, '/forever']);
    result = parsedResult(await at('/head'));
    assert.deepEqual([result.statusCode, result.headers['x-before'], result.body],
                     [202, 'unsent', 'ERR_HTTP_HEADERS_SENT']);
    result = parsedResult(await at('/page'));
    assert.deepEqual([result.statusCode, result.headers['content-type'], result.body],
                     [200, 'text/html; charset=utf-8', '<p>hi</p>']);
    await host.close();
  });

  test('an async handler may end the response after it returns; a throw is ERROR', async () => {
    const host = await startReady({
      'api/late.js': `
        module.exports = async (req, res) => {
          if (req.query.fail) throw new URIError('handler broke');
          setTimeout(() => res.end('later'), 20);
        };
      `,
    }, 'api/late.js');
    const result = parsedResult(await host.call(v2Event()));
    assert.deepEqual([result.statusCode, result.body], [200, 'later']);
    const frame = await host.call(v2Event({ rawQueryString: 'fail=1' }));
    assert.equal(frame.header.type, 'ERROR');
    assert.equal(frame.header.error_type, 'URIError');
    await host.close();
  });

  test('a second end() and a write after end() leave the first response in place', async () => {
    const host = await startReady({
      'api/twice.js': `
        module.exports = async (req, res) => {
          res.end('first');
          res.end('second');
          res.write('after');
          throw new Error('thrown after end');
        };
      `,
    }, 'api/twice.js');
    const result = parsedResult(await host.call(v2Event()));
    assert.deepEqual([result.statusCode, result.body], [200, 'first']);
    assert.equal(parsedResult(await host.call(v2Event())).body, 'first');
    await host.close();
  });

  test('piping a stream into res works', async () => {
    const host = await startReady({
      'api/pipe.mjs': `
        import { Readable } from 'node:stream';
        export default (req, res) => {
          res.setHeader('content-type', 'text/plain');
          Readable.from(['one ', 'two ', 'three']).pipe(res);
        };
      `,
    }, 'api/pipe.mjs');
    const result = parsedResult(await host.call(v2Event()));
    assert.equal(result.body, 'one two three');
    await host.close();
  });
});

describe('framing and lifecycle', () => {
  const counter_code = { 'index.js': 'exports.handler = async (e) => e.n;' };

  test('EOF on the socket exits 0', async () => {
    const host = await startReady(counter_code, 'index.handler');
    assert.deepEqual(await host.close(), { code: 0, signal: null });
  });

  for (const [name, bytes] of [
    ['an oversized header length', (() => {
      const prefix = Buffer.alloc(8);
      prefix.writeUInt32BE(64 * 1024 + 1, 0);
      return prefix;
    })()],
    ['an oversized body length', (() => {
      const prefix = Buffer.alloc(8);
      prefix.writeUInt32BE(2, 0);
      prefix.writeUInt32BE(64 * 1024 * 1024 + 1, 4);
      return prefix;
    })()],
    ['a header that is not JSON', (() => {
      const header = Buffer.from('{nope');
      const prefix = Buffer.alloc(8);
      prefix.writeUInt32BE(header.length, 0);
      return Buffer.concat([prefix, header]);
    })()],
    ['a header that is a JSON array', encodeFrame(['INVOKE'])],
    ['a header without a string type', encodeFrame({ type: 7, id: 'x' })],
    ['an INVOKE without an id', encodeFrame({ type: 'INVOKE' }, '{}')],
  ]) {
    test(`${name} from the host exits non-zero`, async () => {
      const host = await startReady(counter_code, 'index.handler');
      host.sendRaw(bytes);
      const exit = await host.exited;
      assert.equal(exit.code, 2);
      assert.match(host.stderr, /broken stream/);
    });
  }

  test('frames split byte by byte and several frames in one write are both decoded',
       async () => {
    const host = await startReady(counter_code, 'index.handler');
    const frame_bytes = encodeFrame({ type: 'INVOKE', id: 'split', deadline_ms: Date.now() + 9000 },
                                    JSON.stringify({ n: 'split' }));
    for (const byte of frame_bytes) {
      host.sendRaw(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(parsedResult(await host.frameFor('split')), 'split');

    const batch = Buffer.concat(['b1', 'b2', 'b3'].map((id) => encodeFrame(
      { type: 'INVOKE', id, deadline_ms: Date.now() + 9000 }, JSON.stringify({ n: id }))));
    host.sendRaw(batch);
    for (const id of ['b1', 'b2', 'b3']) assert.equal(parsedResult(await host.frameFor(id)), id);
    await host.close();
  });

  test('an unknown frame type is ignored', async () => {
    const host = await startReady(counter_code, 'index.handler');
    host.sendRaw(encodeFrame({ type: 'PING_FROM_THE_FUTURE' }));
    assert.equal(parsedResult(await host.call({ n: 5 })), 5);
    await host.close();
  });

  test('overlapping invocations of a slow handler are each answered under their own id',
       async () => {
    const host = await startReady({
      'index.js': `
        exports.handler = async (event, context) => {
          await new Promise((resolve) => setTimeout(resolve, event.delay));
          return { id: context.awsRequestId, delay: event.delay };
        };
      `,
    }, 'index.handler');
    const slow = host.invoke({ delay: 300 }, { id: 'slow' });
    const fast = host.invoke({ delay: 50 }, { id: 'fast' });
    const first = await host.nextFrame();
    // Run one at a time, the slow one would have answered first.
    assert.equal(first.header.id, fast, 'the fast invocation should finish first');
    assert.deepEqual(parsedResult(first), { id: 'fast', delay: 50 });
    assert.deepEqual(parsedResult(await host.frameFor(slow)), { id: 'slow', delay: 300 });
    await host.close();
  });

  test('a large event and result cross intact', async () => {
    const host = await startReady({ 'index.js': 'exports.handler = async (e) => e;' },
                                  'index.handler');
    const event = { blob: 'é'.repeat(3 * 1024 * 1024) };
    assert.deepEqual(parsedResult(await host.call(event)), event);
    await host.close();
  });
});

describe('OpenWhisk actions (GUST_CONTRACT=openwhisk)', () => {
  const kAction = {
    'index.js': `exports.main = async (params) => {
      if (params.fail) return { error: { reason: 'asked' } };
      if (params.png) return { headers: { 'Content-Type': 'image/png' }, body: 'iVBORw0=' };
      return { params };
    };`,
  };

  test('web-action params merge the query and a JSON body and carry the __ow_ fields', async () => {
    const host = await startAdapter(writeCode(kAction), 'index.main', { GUST_CONTRACT: 'openwhisk' });
    try {
      await host.expectReady();
      const { params } = parsedResult(await host.call(v2Event({
        rawPath: '/fn/hello/deep/path', rawQueryString: 'a=1&b=query',
        headers: { 'Content-Type': 'application/json', 'X-Thing': 'y' },
        requestContext: { http: { method: 'POST' } },
        body: JSON.stringify({ b: 'body', n: 3 }),
      })));
      assert.equal(params.a, '1');
      assert.equal(params.b, 'body');
      assert.equal(params.n, 3);
      assert.equal(params.__ow_method, 'post');
      assert.equal(params.__ow_path, '/deep/path');
      assert.equal(params.__ow_headers['x-thing'], 'y');
      // A trigger's event (not HTTP) is the parameters themselves.
      assert.deepEqual(parsedResult(await host.call({ x: 1 })), { params: { x: 1 } });
    } finally {
      await host.close();
    }
  });

  test('a binary web response is base64 and {error} fails the activation', async () => {
    const host = await startAdapter(writeCode(kAction), 'index.main', { GUST_CONTRACT: 'openwhisk' });
    try {
      await host.expectReady();
      assert.deepEqual(parsedResult(await host.call(v2Event({ rawQueryString: 'png=1' }))), {
        statusCode: 200, headers: { 'Content-Type': 'image/png' }, body: 'iVBORw0=',
        isBase64Encoded: true,
      });
      const failed = await host.call({ fail: true });
      assert.equal(failed.header.type, 'ERROR');
      assert.equal(failed.header.error_type, 'Action.ApplicationError');
      assert.deepEqual(JSON.parse(failed.header.message), { reason: 'asked' });
    } finally {
      await host.close();
    }
  });
});

describe('pre-started instances (GUST_PRESTARTED=1: the function arrives with LOAD)', () => {
  const kEnvHandler = {
    'index.mjs': `export const handler = async () => ({
      mode: process.env.MODE, name: process.env.GUST_FUNCTION_NAME, cwd: process.cwd(),
      memory: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    });`,
  };

  test('it says STANDBY, waits for LOAD, then runs the function LOAD names', async () => {
    const code_dir = writeCode(kEnvHandler);
    const host = await startAdapter(scratch_root, '', {
      GUST_PRESTARTED: '1', GUST_CODE_DIR: '', GUST_FUNCTION_NAME: '', GUST_MEMORY_MB: '',
    });
    try {
      assert.deepEqual((await host.nextFrame()).header, { type: 'STANDBY' });
      host.socket.write(encodeFrame({ type: 'LOAD', env: {
        GUST_CODE_DIR: code_dir, GUST_HANDLER: 'index.handler', GUST_FUNCTION_NAME: 'loaded',
        MODE: 'prod', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512', GUST_MEMORY_MB: '512' } }));
      await host.expectReady();
      const frame = await host.call({});
      assert.deepEqual(parsedResult(frame), { mode: 'prod', name: 'loaded', cwd: code_dir, memory: '512' });
    } finally {
      await host.close();
    }
  });

  test('anything but LOAD first is a broken stream (exit 2)', async () => {
    const host = await startAdapter(scratch_root, '', { GUST_PRESTARTED: '1' });
    assert.deepEqual((await host.nextFrame()).header, { type: 'STANDBY' });
    host.socket.write(encodeFrame({ type: 'INVOKE', id: 'a1', deadline_ms: 0 }));
    const { code } = await host.exited;
    assert.equal(code, 2);
    assert.match(host.stderr, /LOAD/);
  });
});
