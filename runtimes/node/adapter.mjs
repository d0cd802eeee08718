// The Node.js runtime adapter: runs one function version's code inside an instance and speaks the
// worker protocol (docs/protocol.md) with the host over the inherited Unix socket.
//
// DESIGN: the adapter moves Loading -> Serving -> (exit). Loading imports GUST_HANDLER and ends
// with exactly one READY or INIT_ERROR frame. Serving decodes INVOKE frames and starts each
// invocation at once, so several may be in flight when the host allows concurrency > 1.
// Invariants: (1) every INVOKE gets exactly one RESULT or ERROR, keyed by its id: the first
// answer wins and later ones (a callback after the promise, a second res.end) are dropped;
// (2) nothing but frames is written to the socket, and a reply is written only after
// process.stdout and process.stderr have drained, so the host can attribute every line written
// before the reply to that invocation; (3) the instance dies on anything it cannot account for:
// a malformed frame exits 2, an uncaught exception or unhandled rejection answers every in-flight
// invocation with ERROR and exits 1, EOF on the socket exits 0.
//
// Why stdout needs an explicit drain: Node documents pipes as synchronous on Linux, but that only
// holds while the pipe has room. A write larger than the free pipe buffer is queued inside libuv
// (process.stdout.writableLength > 0) and finishes later, so the adapter waits for the queue to
// empty before replying. When it is already empty (the usual case) the reply goes out in the
// same tick.

import { Readable, Writable } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import querystring from 'node:querystring';
import crypto from 'node:crypto';

const kMaxHeaderBytes = 64 * 1024;
const kMaxBodyBytes = 64 * 1024 * 1024;
const kFramePrefixBytes = 8;
// Error messages are cut well below the header limit: JSON escaping can grow text up to 6x.
const kMaxErrorMessageChars = 8 * 1024;
const kMaxErrorTypeChars = 256;
const kScriptExtensions = ['.js', '.mjs', '.cjs'];
// Used when the host sends no deadline: Lambda's longest timeout, so timers sized from
// getRemainingTimeInMillis() stay sensible (an Infinity would make setTimeout fire at once).
const kFallbackRemainingMs = 15 * 60 * 1000;
// How long a dying instance waits for its last frames to leave before exiting anyway.
const kExitGraceMs = 2000;

const kExitProtocolError = 2;

let env = process.env;

// Node's process.env hands every value written to it to glibc's setenv, which keeps each distinct
// string for the life of the process: a new _X_AMZN_TRACE_ID per invocation grew an instance by
// ~110 bytes a call. Once the function's environment is in place, process.env becomes an
// ordinary object under the same rule (values become strings), so writes stay in JavaScript:
// the process and the child processes it spawns (child_process reads process.env) see them;
// native code calling getenv() sees the environment as it was loaded.
function detachEnvironment() {
  const detached = new Proxy({ ...process.env }, {
    set(target, key, value) {
      target[key] = `${value}`;
      return true;
    },
    defineProperty(target, key, descriptor) {
      const coerced = 'value' in descriptor ? { ...descriptor, value: `${descriptor.value}` } : descriptor;
      return Reflect.defineProperty(target, key, coerced);
    },
  });
  process.env = detached;
  env = detached;
}

// The function's settings, from the environment: at start, or for a pre-started instance
// (GUST_PRESTARTED=1) once LOAD has brought the function's environment.
let code_dir, default_function_name, default_function_version, default_memory_mb, log_stream_name;
function readFunctionEnvironment() {
  code_dir = env.GUST_CODE_DIR || process.cwd();
  default_function_name = env.GUST_FUNCTION_NAME || env.AWS_LAMBDA_FUNCTION_NAME || '';
  default_function_version = env.GUST_FUNCTION_VERSION || env.AWS_LAMBDA_FUNCTION_VERSION || '$LATEST';
  default_memory_mb = env.GUST_MEMORY_MB || env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || '128';
  log_stream_name = env.AWS_LAMBDA_LOG_STREAM_NAME || makeLogStreamName();
}
readFunctionEnvironment();

// ---------------------------------------------------------------------------------------------
// Frames

class ProtocolError extends Error {
  name = 'ProtocolError';
}

// Splits the socket's byte stream into frames. Chunks are kept in a list and copied once, when a
// whole header or body is present, so a 64 MiB body arriving in 64 KiB reads costs one copy
// rather than a quadratic series of concatenations.
class FrameDecoder {
  #chunks = [];
  #buffered_bytes = 0;
  #header_len = -1;
  #body_len = -1;
  #on_frame;

  constructor(on_frame) {
    this.#on_frame = on_frame;
  }

  // Throws ProtocolError on a frame the protocol calls broken.
  push(chunk) {
    this.#chunks.push(chunk);
    this.#buffered_bytes += chunk.length;
    for (;;) {
      if (this.#header_len < 0) {
        if (this.#buffered_bytes < kFramePrefixBytes) return;
        const prefix = this.#take(kFramePrefixBytes);
        const header_len = prefix.readUInt32BE(0);
        const body_len = prefix.readUInt32BE(4);
        if (header_len > kMaxHeaderBytes) {
          throw new ProtocolError(`frame header of ${header_len} bytes exceeds ${kMaxHeaderBytes}`);
        }
        if (body_len > kMaxBodyBytes) {
          throw new ProtocolError(`frame body of ${body_len} bytes exceeds ${kMaxBodyBytes}`);
        }
        this.#header_len = header_len;
        this.#body_len = body_len;
      }
      if (this.#buffered_bytes < this.#header_len + this.#body_len) return;
      const header = parseHeader(this.#take(this.#header_len));
      const body = this.#take(this.#body_len);
      this.#header_len = -1;
      this.#body_len = -1;
      this.#on_frame(header, body);
    }
  }

  #take(byte_count) {
    this.#buffered_bytes -= byte_count;
    const first = this.#chunks[0];
    if (byte_count === 0) return Buffer.alloc(0);
    if (first.length === byte_count) return this.#chunks.shift();
    if (first.length > byte_count) {
      this.#chunks[0] = first.subarray(byte_count);
      return first.subarray(0, byte_count);
    }
    const out = Buffer.allocUnsafe(byte_count);
    let filled = 0;
    while (filled < byte_count) {
      const chunk = this.#chunks[0];
      const wanted = byte_count - filled;
      if (chunk.length <= wanted) {
        chunk.copy(out, filled);
        filled += chunk.length;
        this.#chunks.shift();
      } else {
        chunk.copy(out, filled, 0, wanted);
        this.#chunks[0] = chunk.subarray(wanted);
        filled = byte_count;
      }
    }
    return out;
  }
}

function parseHeader(bytes) {
  let header;
  try {
    header = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ProtocolError(`frame header is not JSON: ${err.message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new ProtocolError('frame header is not a JSON object');
  }
  if (typeof header.type !== 'string') {
    throw new ProtocolError('frame header has no string "type"');
  }
  return header;
}

function encodeFrame(header, body) {
  const header_bytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.allocUnsafe(kFramePrefixBytes);
  prefix.writeUInt32BE(header_bytes.length, 0);
  prefix.writeUInt32BE(body.length, 4);
  return [prefix, header_bytes, body];
}

let socket;

function writeFrame(header, body = Buffer.alloc(0)) {
  const parts = encodeFrame(header, body);
  // cork/uncork hands the three parts to the kernel in one writev.
  socket.cork();
  for (const part of parts) if (part.length > 0) socket.write(part);
  socket.uncork();
}

// ---------------------------------------------------------------------------------------------
// Errors as the protocol reports them

// Lambda's rules, except that an Error whose name was left at "Error" by a subclass reports the
// subclass's name: the protocol asks for the exception class name.
function describeError(value) {
  if (value instanceof Error || (value !== null && typeof value === 'object' &&
                                 typeof value.message === 'string')) {
    let error_type = typeof value.name === 'string' && value.name ? value.name : 'Error';
    const class_name = value.constructor?.name;
    if (error_type === 'Error' && typeof class_name === 'string' && class_name &&
        class_name !== 'Object') {
      error_type = class_name;
    }
    const stack = typeof value.stack === 'string' ? value.stack : '';
    return { error_type, message: value.message, stack };
  }
  // Lambda reports a thrown or rejected non-Error by its typeof (callback('boom') -> "string").
  return { error_type: typeof value, message: safeString(value), stack: '' };
}

function safeString(value) {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function truncate(text, max_chars) {
  return text.length <= max_chars ? text : `${text.slice(0, max_chars)}... [truncated]`;
}

// Builds an ERROR or INIT_ERROR frame that always fits the protocol's limits, whatever the user
// threw: a frame past a limit would make the host kill the instance instead of reporting.
function errorFrame(type, id, description) {
  const header = {
    type,
    error_type: truncate(description.error_type, kMaxErrorTypeChars),
    message: truncate(description.message, kMaxErrorMessageChars),
  };
  if (id !== undefined) header.id = id;
  let message_chars = kMaxErrorMessageChars;
  while (header.message && Buffer.byteLength(JSON.stringify(header), 'utf8') > kMaxHeaderBytes) {
    message_chars = Math.floor(message_chars / 2);
    header.message = message_chars > 0 ? truncate(description.message, message_chars) : '';
  }
  let body = Buffer.from(description.stack, 'utf8');
  if (body.length > kMaxBodyBytes) body = body.subarray(0, kMaxBodyBytes);
  return [header, body];
}

// ---------------------------------------------------------------------------------------------
// Flushing user output before a reply

function stdioDrained() {
  return process.stdout.writableLength === 0 && process.stderr.writableLength === 0;
}

function drainStream(stream) {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  // Writes complete in order, so an empty write's callback runs once everything before it is out.
  return new Promise((resolve) => stream.write('', () => resolve()));
}

function drainStdio() {
  return Promise.all([drainStream(process.stdout), drainStream(process.stderr)]);
}

// ---------------------------------------------------------------------------------------------
// Invocations

// id -> Invocation, for every INVOKE that has not had its reply written yet.
const in_flight = new Map();
let dying = false;

class Invocation {
  constructor(id) {
    this.id = id;
    this.reply = null;  // [header, body] once the outcome is known
    this.sent = false;
  }
}

function answer(invocation, header, body) {
  if (invocation.reply !== null) return;  // first answer wins
  invocation.reply = [header, body];
  if (dying) return;  // die() writes it, after the fatal error's own output
  if (stdioDrained()) {
    transmit(invocation);
  } else {
    drainStdio().then(() => transmit(invocation));
  }
}

function transmit(invocation) {
  if (invocation.sent) return;
  invocation.sent = true;
  in_flight.delete(invocation.id);
  writeFrame(invocation.reply[0], invocation.reply[1]);
}

function succeed(invocation, value) {
  let json;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    const description = describeError(err);
    description.message = `Unable to stringify response body: ${description.message}`;
    description.error_type = 'Runtime.MarshalError';
    failWith(invocation, description);
    return;
  }
  const body = Buffer.from(json === undefined ? 'null' : json, 'utf8');
  if (body.length > kMaxBodyBytes) {
    failWith(invocation, {
      error_type: 'Function.ResponseSizeTooLarge',
      message: `Response payload size (${body.length} bytes) exceeded maximum allowed payload ` +
               `size (${kMaxBodyBytes} bytes).`,
      stack: '',
    });
    return;
  }
  answer(invocation, { type: 'RESULT', id: invocation.id }, body);
}

function fail(invocation, error) {
  failWith(invocation, describeError(error));
}

function failWith(invocation, description) {
  if (invocation.reply !== null) return;
  const [header, body] = errorFrame('ERROR', invocation.id, description);
  answer(invocation, header, body);
}

function isThenable(value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
         typeof value.then === 'function';
}

// ---------------------------------------------------------------------------------------------
// Lambda shape: handler(event, context[, callback])

// Lambda's context object. Its methods are closures, not prototype methods, because handlers
// destructure them (`const { getRemainingTimeInMillis } = context`) as Lambda's own allow.
function makeContext(header, invocation, callback) {
  const function_name =
    typeof header.function_name === 'string' ? header.function_name : default_function_name;
  const deadline_ms = Number(header.deadline_ms);
  return {
    // Accepted for compatibility and ignored: the socket keeps the event loop busy for good, so
    // "wait for an empty event loop" could never finish.
    callbackWaitsForEmptyEventLoop: true,
    functionName: function_name,
    functionVersion: typeof header.function_version === 'string' ? header.function_version
                                                                : default_function_version,
    invokedFunctionArn: functionArn(function_name),
    memoryLimitInMB: header.memory_mb !== undefined ? String(header.memory_mb)
                                                    : default_memory_mb,
    awsRequestId: String(header.id),
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME || `/aws/lambda/${function_name}`,
    logStreamName: log_stream_name,
    identity: undefined,
    clientContext: undefined,
    getRemainingTimeInMillis: Number.isFinite(deadline_ms)
                                ? () => Math.max(0, deadline_ms - Date.now())
                                : () => kFallbackRemainingMs,
    // Lambda's legacy completion methods, still used by old code.
    succeed: (result) => succeed(invocation, result),
    fail: (error) => fail(invocation, error ?? new Error('context.fail() called')),
    done: callback,
  };
}

let cached_arn_name = null;
let cached_arn = '';
function functionArn(function_name) {
  if (function_name !== cached_arn_name) {
    cached_arn_name = function_name;
    cached_arn = `arn:gust:lambda:local:000000000000:function:${function_name}`;
  }
  return cached_arn;
}

function runLambda(handler, invocation, event, header) {
  const callback = (error, result) => {
    if (error !== null && error !== undefined) fail(invocation, error);
    else succeed(invocation, result);
  };
  try {
    const returned = handler(event, makeContext(header, invocation, callback), callback);
    if (isThenable(returned)) {
      // As in Lambda, a promise settles the invocation even when the handler takes a callback.
      returned.then((result) => succeed(invocation, result), (err) => fail(invocation, err));
    } else if (handler.length < 3) {
      succeed(invocation, returned);
    }
    // Otherwise a callback-style handler answers through callback() when it is ready.
  } catch (err) {
    fail(invocation, err);
  }
}

// ---------------------------------------------------------------------------------------------
// Vercel shape: handler(req, res) driven by an API Gateway HTTP API v2.0 event

// Raised by req.body for a JSON body that does not parse; Vercel answers such requests 400.
class InvalidBodyError extends Error {
  name = 'InvalidBodyError';
}

const kNoBody = Buffer.alloc(0);

function mediaType(content_type) {
  if (typeof content_type !== 'string') return '';
  const semicolon = content_type.indexOf(';');
  const media = semicolon < 0 ? content_type : content_type.slice(0, semicolon);
  return media.trim().toLowerCase();
}

function parseBody(content_type, bytes) {
  if (bytes.length === 0) return undefined;
  const media = mediaType(content_type);
  if (media === 'application/json' || media.endsWith('+json')) {
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new InvalidBodyError('Invalid JSON');
    }
  }
  if (media === 'application/x-www-form-urlencoded') {
    return querystring.parse(bytes.toString('utf8'));
  }
  if (media.startsWith('text/')) return bytes.toString('utf8');
  return bytes;
}

function decodeCookieValue(value) {
  if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.endsWith('"')) {
    value = value.slice(1, -1);
  }
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

// As the `cookie` package Vercel uses: first occurrence of a name wins, values are URI-decoded.
function parseCookieHeader(header) {
  const cookies = Object.create(null);
  if (typeof header !== 'string') return cookies;
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=');
    if (equals < 0) continue;
    const name = pair.slice(0, equals).trim();
    if (!name || name in cookies) continue;
    cookies[name] = decodeCookieValue(pair.slice(equals + 1).trim());
  }
  return cookies;
}

// A Readable over the request body, carrying IncomingMessage's fields and Vercel's req.query,
// req.cookies and req.body. The three helpers are computed on first use: most handlers read one.
class VercelRequest extends Readable {
  #event;
  #body_bytes;
  #raw_query;
  #query;
  #cookies;
  #body;
  #body_parsed = false;

  constructor(event) {
    super();
    this.#event = event;
    const http = event.requestContext?.http ?? {};
    this.method = typeof http.method === 'string' ? http.method
                : typeof event.httpMethod === 'string' ? event.httpMethod : 'GET';
    const raw_path = typeof event.rawPath === 'string' ? event.rawPath
                   : typeof event.path === 'string' ? event.path : '/';
    this.#raw_query = typeof event.rawQueryString === 'string' ? event.rawQueryString : '';
    this.url = this.#raw_query ? `${raw_path}?${this.#raw_query}` : raw_path;

    const headers = Object.create(null);
    if (event.headers !== null && typeof event.headers === 'object') {
      for (const name in event.headers) headers[name.toLowerCase()] = String(event.headers[name]);
    }
    if (Array.isArray(event.cookies) && event.cookies.length > 0) {
      headers.cookie = event.cookies.join('; ');
    }
    this.headers = headers;

    const protocol = typeof http.protocol === 'string' ? http.protocol : 'HTTP/1.1';
    this.httpVersion = protocol.startsWith('HTTP/') ? protocol.slice(5) : '1.1';
    this.httpVersionMajor = Number(this.httpVersion[0]) || 1;
    this.httpVersionMinor = Number(this.httpVersion[2]) || 0;
    this.complete = true;
    this.aborted = false;
    // Enough of a socket for code that logs the client address or checks for TLS.
    this.socket = { remoteAddress: http.sourceIp, remotePort: undefined, encrypted: true };
    this.connection = this.socket;

    if (typeof event.body === 'string' && event.body.length > 0) {
      this.#body_bytes = Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    } else {
      this.#body_bytes = kNoBody;
    }
  }

  _read() {
    if (this.#body_bytes.length > 0) this.push(this.#body_bytes);
    this.push(null);
  }

  get rawHeaders() {
    const raw = [];
    for (const name in this.headers) raw.push(name, this.headers[name]);
    return raw;
  }

  get query() {
    if (this.#query === undefined) {
      let query;
      if (this.#raw_query) {
        query = querystring.parse(this.#raw_query);
      } else {
        query = Object.create(null);
        const given = this.#event.queryStringParameters;
        if (given !== null && typeof given === 'object') Object.assign(query, given);
      }
      // Vercel merges dynamic route segments into req.query; the query string wins on a clash.
      const path_parameters = this.#event.pathParameters;
      if (path_parameters !== null && typeof path_parameters === 'object') {
        for (const name in path_parameters) {
          if (!(name in query)) query[name] = path_parameters[name];
        }
      }
      this.#query = query;
    }
    return this.#query;
  }

  set query(value) {
    this.#query = value;
  }

  get cookies() {
    if (this.#cookies === undefined) this.#cookies = parseCookieHeader(this.headers.cookie);
    return this.#cookies;
  }

  set cookies(value) {
    this.#cookies = value;
  }

  get body() {
    if (!this.#body_parsed) {
      this.#body = parseBody(this.headers['content-type'], this.#body_bytes);
      this.#body_parsed = true;
    }
    return this.#body;
  }

  set body(value) {
    this.#body = value;
    this.#body_parsed = true;
  }
}

function headersSentError(action) {
  const err = new Error(`Cannot ${action} headers after they are sent to the client`);
  err.code = 'ERR_HTTP_HEADERS_SENT';
  return err;
}

function withUtf8Charset(content_type) {
  return content_type.toLowerCase().includes('charset=') ? content_type
                                                          : `${content_type}; charset=utf-8`;
}

// A Writable that buffers what the handler writes, with ServerResponse's header API and Vercel's
// res.status/send/json/redirect. Headers freeze at the first write, writeHead or end, as in
// Node, so code that works on Vercel behaves the same here.
class VercelResponse extends Writable {
  statusCode = 200;
  statusMessage = '';
  #request;
  #headers = new Map();  // lowercase name -> value
  #headers_sent = false;
  #chunks = [];
  #on_end;

  // on_end(response) runs inside the first res.end(), once everything written is buffered.
  constructor(request, on_end) {
    super();
    this.#request = request;
    this.#on_end = on_end;
    this.req = request;
  }

  _write(chunk, encoding, callback) {
    this.#chunks.push(chunk);
    callback();
  }

  write(chunk, encoding, callback) {
    this.#headers_sent = true;
    return super.write(chunk, encoding, callback);
  }

  // The invocation completes here rather than on 'finish': a stray write after end() would
  // error and destroy the stream before its deferred 'finish', losing a finished response.
  end(chunk, encoding, callback) {
    if (this.writableEnded) {
      // As ServerResponse: a second end() is a no-op.
      const done = [chunk, encoding, callback].find((arg) => typeof arg === 'function');
      if (done) this.once('finish', done);
      return this;
    }
    this.#headers_sent = true;
    super.end(chunk, encoding, callback);
    // _write is synchronous, so every chunk is in #chunks by now.
    if (this.writableEnded) this.#on_end(this);
    return this;
  }

  get headersSent() {
    return this.#headers_sent;
  }

  get finished() {
    return this.writableEnded;
  }

  flushHeaders() {
    this.#headers_sent = true;
  }

  setHeader(name, value) {
    if (this.#headers_sent) throw headersSentError('set');
    if (value === undefined) {
      const err = new TypeError(`Invalid value "undefined" for header "${name}"`);
      err.code = 'ERR_HTTP_INVALID_HEADER_VALUE';
      throw err;
    }
    this.#headers.set(String(name).toLowerCase(), value);
    return this;
  }

  appendHeader(name, value) {
    const key = String(name).toLowerCase();
    const existing = this.#headers.get(key);
    if (existing === undefined) return this.setHeader(name, value);
    if (this.#headers_sent) throw headersSentError('append');
    this.#headers.set(key, [].concat(existing, value));
    return this;
  }

  getHeader(name) {
    return this.#headers.get(String(name).toLowerCase());
  }

  getHeaders() {
    const headers = Object.create(null);
    for (const [name, value] of this.#headers) headers[name] = value;
    return headers;
  }

  getHeaderNames() {
    return [...this.#headers.keys()];
  }

  hasHeader(name) {
    return this.#headers.has(String(name).toLowerCase());
  }

  removeHeader(name) {
    if (this.#headers_sent) throw headersSentError('remove');
    this.#headers.delete(String(name).toLowerCase());
  }

  writeHead(status_code, status_message, headers) {
    if (this.#headers_sent) throw headersSentError('write');
    if (typeof status_message === 'string') {
      this.statusMessage = status_message;
    } else {
      headers = status_message;
    }
    this.statusCode = status_code;
    if (Array.isArray(headers)) {
      if (headers.length > 0 && Array.isArray(headers[0])) {
        for (const [name, value] of headers) this.appendHeader(name, value);
      } else {
        for (let i = 0; i + 1 < headers.length; i += 2) {
          this.appendHeader(headers[i], headers[i + 1]);
        }
      }
    } else if (headers !== null && typeof headers === 'object') {
      for (const name of Object.keys(headers)) this.setHeader(name, headers[name]);
    }
    this.#headers_sent = true;
    return this;
  }

  status(status_code) {
    this.statusCode = status_code;
    return this;
  }

  // Vercel's res.send, less Content-Length and ETag, which the host derives from the body.
  send(body) {
    let chunk = body;
    if (typeof chunk === 'string') {
      if (!this.hasHeader('content-type')) this.setHeader('content-type', 'text/html');
    } else if (chunk === null) {
      chunk = '';
    } else if (Buffer.isBuffer(chunk)) {
      if (!this.hasHeader('content-type')) {
        this.setHeader('content-type', 'application/octet-stream');
      }
    } else if (typeof chunk === 'object' || typeof chunk === 'number' ||
               typeof chunk === 'boolean') {
      return this.json(chunk);
    } else if (chunk !== undefined) {
      throw new TypeError(
        '`body` is not a valid string, object, boolean, number, Stream, or Buffer');
    }
    if (typeof chunk === 'string') {
      const content_type = this.getHeader('content-type');
      if (typeof content_type === 'string') {
        this.setHeader('content-type', withUtf8Charset(content_type));
      }
    }
    if (this.statusCode === 204 || this.statusCode === 304) {
      this.removeHeader('content-type');
      this.removeHeader('content-length');
      this.removeHeader('transfer-encoding');
      chunk = '';
    }
    if (this.#request.method === 'HEAD' || chunk === undefined) this.end();
    else this.end(chunk);
    return this;
  }

  json(value) {
    const text = JSON.stringify(value);
    if (!this.hasHeader('content-type')) {
      this.setHeader('content-type', 'application/json; charset=utf-8');
    }
    return this.send(text === undefined ? '' : text);
  }

  redirect(status_or_url, url) {
    let status_code = status_or_url;
    if (typeof status_or_url === 'string' && url === undefined) {
      url = status_or_url;
      status_code = 307;
    }
    if (typeof status_code !== 'number' || typeof url !== 'string') {
      throw new Error('Invalid redirect arguments. Please use a single argument URL, e.g. ' +
                      "res.redirect('/destination') or use a status code and URL, e.g. " +
                      "res.redirect(307, '/destination').");
    }
    this.writeHead(status_code, { Location: url }).end();
    return this;
  }

  // The v2.0 response the host turns into HTTP; set-cookie values travel in `cookies`.
  toResult() {
    const status_code = this.statusCode;
    if (!Number.isInteger(status_code) || status_code < 100 || status_code > 999) {
      throw new RangeError(`Invalid status code: ${status_code}`);
    }
    const headers = Object.create(null);
    let cookies;
    for (const [name, value] of this.#headers) {
      if (name === 'set-cookie') {
        cookies = Array.isArray(value) ? value.map(String) : [String(value)];
      } else {
        headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
      }
    }
    const body = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    const is_text = isUtf8(body);
    const result = { statusCode: status_code, headers };
    if (cookies !== undefined && cookies.length > 0) result.cookies = cookies;
    result.body = body.toString(is_text ? 'utf8' : 'base64');
    result.isBase64Encoded = !is_text;
    return result;
  }
}

const kInvalidJsonResult = Object.freeze({
  statusCode: 400,
  headers: { 'content-type': 'text/plain; charset=utf-8' },
  body: 'Invalid JSON',
  isBase64Encoded: false,
});

function runVercel(handler, invocation, event) {
  const request = new VercelRequest(event !== null && typeof event === 'object' ? event : {});
  const response = new VercelResponse(request, () => {
    let result;
    try {
      result = response.toResult();
    } catch (err) {
      fail(invocation, err);
      return;
    }
    succeed(invocation, result);
  });
  const failRequest = (err) => {
    if (err instanceof InvalidBodyError) succeed(invocation, kInvalidJsonResult);
    else fail(invocation, err);
  };
  // After end() these find the invocation answered and change nothing.
  response.on('error', failRequest);
  response.once('close', () => {
    if (!response.writableEnded) {
      fail(invocation, new Error('The response was destroyed before res.end() was called'));
    }
  });

  try {
    const returned = handler(request, response);
    // A handler that returns before res.end() may still end it later (from a timer or a
    // stream); the host's deadline bounds the wait, as on Vercel.
    if (isThenable(returned)) returned.then(undefined, failRequest);
  } catch (err) {
    failRequest(err);
  }
}

// ---------------------------------------------------------------------------------------------
// Loading the user's code

class InitError extends Error {
  constructor(error_type, message) {
    super(message);
    this.name = error_type;
  }
}

function hasScriptExtension(file) {
  return kScriptExtensions.includes(path.extname(file));
}

// GUST_HANDLER is `module.export` (Lambda), a script path (Vercel, default export) or
// `path:export`. Returns {module_path, export_name}; export_name null means the default export.
function parseHandlerSpec(spec) {
  const colon = spec.lastIndexOf(':');
  if (colon > 0) return { module_path: spec.slice(0, colon), export_name: spec.slice(colon + 1) };
  if (hasScriptExtension(spec)) return { module_path: spec, export_name: null };
  const dot = spec.lastIndexOf('.');
  const slash = spec.lastIndexOf('/');
  if (dot <= 0 || dot < slash || dot === spec.length - 1) {
    throw new InitError('Runtime.MalformedHandlerName',
                        `Bad handler ${spec}: expected module.export or a .js/.mjs/.cjs file path`);
  }
  return { module_path: spec.slice(0, dot), export_name: spec.slice(dot + 1) };
}

function resolveModuleFile(module_path) {
  const base = path.resolve(code_dir, module_path);
  const candidates = hasScriptExtension(base) ? [base] : kScriptExtensions.map((ext) => base + ext);
  for (const candidate of candidates) {
    if (fs.statSync(candidate, { throwIfNoEntry: false })?.isFile()) return candidate;
  }
  throw new InitError('Runtime.ImportModuleError',
                      `Cannot find module '${module_path}' in ${code_dir} ` +
                      `(tried ${candidates.map((file) => path.basename(file)).join(', ')})`);
}

// ---------------------------------------------------------------------------------------------
// Where a failure to load is in the function's own files, so a deploy's load check can say

const kScriptFile = /\.(js|mjs|cjs)$/;
const kMaxFilesToCheck = 200;
let loading_file = null;  // the module GUST_HANDLER names, once resolved

// A path of the code dir's own (not under node_modules), relative to it; else null.
function ownFile(file) {
  if (file.startsWith('file://')) {
    try {
      file = fileURLToPath(file);
    } catch {
      return null;
    }
  }
  const root = code_dir.endsWith(path.sep) ? code_dir : code_dir + path.sep;
  if (!file.startsWith(root)) return null;
  const relative = file.slice(root.length);
  return relative.split(path.sep).includes('node_modules') ? null : relative;
}

// The code's script files, GUST_HANDLER's module first, then the rest breadth-first.
function scriptFiles() {
  const files = loading_file ? [loading_file] : [];
  const folders = [code_dir];
  while (folders.length > 0 && files.length < kMaxFilesToCheck) {
    let entries = [];
    try {
      entries = fs.readdirSync(folders.shift(), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const full = path.join(entry.parentPath ?? entry.path, entry.name);
      if (entry.isDirectory()) folders.push(full);
      else if (kScriptFile.test(entry.name) && full !== loading_file) files.push(full);
    }
  }
  return files.slice(0, kMaxFilesToCheck);
}

// An ES module's SyntaxError carries no position (Node keeps it internal), but `node --check`
// prints it: run it over the code's files until one does not parse. Only on this failure path.
function syntaxErrorLocation() {
  for (const file of scriptFiles()) {
    const checked = spawnSync(process.execPath, ['--check', file],
                              { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'ignore', 'pipe'] });
    if (checked.status === 0 || checked.error) continue;
    const head = /^(\S+):(\d+)$/m.exec(checked.stderr ?? '');
    const where = head && ownFile(head[1]);
    if (where) return `${where}:${head[2]}`;
  }
  return null;
}

// "path:line" in the function's own files where `err` arose, or null: the head of a CommonJS
// SyntaxError's stack ("/code/index.js:3"), else the innermost stack frame in the code.
function codeLocation(err) {
  const stack = typeof err?.stack === 'string' ? err.stack : '';
  const head = /^(\S+):(\d+)\n/.exec(stack);
  if (head && ownFile(head[1])) return `${ownFile(head[1])}:${head[2]}`;
  for (const frame of stack.matchAll(/\(?((?:file:\/\/)?\/[^\s():]+):(\d+):\d+\)?$/gm)) {
    const where = ownFile(frame[1]);
    if (where) return `${where}:${frame[2]}`;
  }
  if (err?.name === 'SyntaxError') return syntaxErrorLocation();
  return null;
}

// describeError() for a failure to load, its message ending with where: "... (api/users.js:3)".
function describeInitError(err) {
  const description = describeError(err);
  if (err instanceof InitError) return description;  // names the module or export already
  const where = codeLocation(err);
  if (where) description.message = `${description.message} (${where})`;
  return description;
}

// Returns {handler, shape}, shape being 'lambda' or 'vercel'.
async function loadHandler(spec) {
  if (!spec) throw new InitError('Runtime.HandlerNotFound', 'GUST_HANDLER is not set');
  const { module_path, export_name } = parseHandlerSpec(spec);
  const file = resolveModuleFile(module_path);
  loading_file = file;
  let namespace;
  try {
    namespace = await import(pathToFileURL(file).href);
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') {
      throw Object.assign(new InitError('Runtime.ImportModuleError', err.message),
                          { stack: err.stack });
    }
    throw err;
  }

  if (export_name === null || export_name === 'default') {
    let handler = namespace.default;
    // CommonJS compiled from TypeScript or Babel keeps its default on exports.default.
    if (typeof handler !== 'function' && typeof handler?.default === 'function') {
      handler = handler.default;
    }
    if (typeof handler !== 'function') {
      throw new InitError('Runtime.HandlerNotFound',
                          `${module_path} has no default export function ((req, res) => ...)`);
    }
    return { handler, shape: 'vercel' };
  }
  // import() of CommonJS finds names by static analysis, so an export assigned dynamically is
  // only on the module.exports object, i.e. namespace.default.
  let handler = namespace[export_name];
  if (typeof handler !== 'function') handler = namespace.default?.[export_name];
  if (typeof handler !== 'function') {
    throw new InitError('Runtime.HandlerNotFound',
                        `${module_path}.${export_name} is undefined or not exported`);
  }
  return { handler, shape: 'lambda' };
}

// ---------------------------------------------------------------------------------------------
// OpenWhisk actions (gust.toml contract = "openwhisk"): main(params) returning an object

// The path below the function: /fn/NAME[@q]/rest and /t/TENANT/fn/NAME[@q]/rest are "/rest";
// a gateway route (routeKey not $default) keeps its whole path.
function functionPath(event) {
  const raw = event.rawPath || '/';
  if ((event.routeKey ?? '$default') !== '$default') return raw;
  const parts = raw.split('/');
  let cut = 0;
  if (parts.length >= 3 && parts[1] === 'fn') cut = 3;
  else if (parts.length >= 5 && parts[1] === 't' && parts[3] === 'fn') cut = 5;
  return cut ? '/' + parts.slice(cut).join('/') : raw;
}

function isHttpEvent(event) {
  return typeof event?.requestContext?.http === 'object' && event.requestContext.http !== null;
}

// Web-action parameters: the query and a JSON object body merged, plus the __ow_* fields; any
// other event is passed as the parameters themselves.
function openwhiskParams(event) {
  if (!isHttpEvent(event)) {
    return event !== null && typeof event === 'object' && !Array.isArray(event)
      ? { ...event } : { value: event };
  }
  const params = Object.fromEntries(new URLSearchParams(event.rawQueryString || ''));
  const headers = {};
  for (const [name, value] of Object.entries(event.headers || {})) headers[name.toLowerCase()] = value;
  if (Array.isArray(event.cookies) && event.cookies.length) headers.cookie = event.cookies.join('; ');
  const content_type = headers['content-type'] || '';
  if (event.body) {
    const raw = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body);
    let parsed = null;
    if (content_type.includes('json')) {
      try { parsed = JSON.parse(raw.toString('utf8')); } catch { parsed = null; }
    }
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      Object.assign(params, parsed);
    } else if (content_type.includes('x-www-form-urlencoded')) {
      Object.assign(params, Object.fromEntries(new URLSearchParams(raw.toString('utf8'))));
    } else {
      params.__ow_body = content_type.includes('text') ? raw.toString('utf8') : raw.toString('base64');
    }
  }
  params.__ow_method = (event.requestContext.http.method || 'GET').toLowerCase();
  params.__ow_headers = headers;
  params.__ow_path = functionPath(event);
  return params;
}

class ActionError extends Error {
  name = 'Action.ApplicationError';
}

// {error} fails the activation; statusCode/headers/body make an HTTP response (an object body
// is sent as JSON, a body with a non-text type is base64 as OpenWhisk expects); anything else
// is the JSON result.
function openwhiskReply(result, http_event) {
  if (result !== null && typeof result === 'object' && 'error' in result) {
    const error = result.error;
    throw new ActionError(typeof error === 'string' ? error : JSON.stringify(error));
  }
  if (!http_event || result === null || typeof result !== 'object') return result;
  if (!('statusCode' in result || 'headers' in result || 'body' in result)) return result;
  const headers = { ...(result.headers || {}) };
  let body = result.body ?? '';
  let encoded = false;
  if (typeof body === 'object') {
    body = JSON.stringify(body);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/json';
    }
  } else {
    body = String(body);
    const type = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1] || '';
    encoded = type !== '' && !['text', 'json', 'xml', 'javascript'].some((t) => type.includes(t));
  }
  return { statusCode: Number(result.statusCode) || (body ? 200 : 204), headers, body,
           isBase64Encoded: encoded };
}

function openwhiskHandler(main) {
  return async (event) => openwhiskReply(await main(openwhiskParams(event)), isHttpEvent(event));
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

let ready = false;

function makeLogStreamName() {
  const now = new Date();
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  return `${day}/[${default_function_version}]${crypto.randomBytes(16).toString('hex')}`;
}

function exitAfterFlush(code) {
  setTimeout(() => process.exit(code), kExitGraceMs).unref();
  drainStdio().then(() => {
    if (socket && !socket.destroyed && socket.writableLength > 0) {
      socket.end(() => process.exit(code));
    } else {
      process.exit(code);
    }
  });
}

function protocolFailure(err) {
  if (dying) return;
  dying = true;
  process.stderr.write(`gust adapter: broken stream from host: ${err.message}\n`);
  process.exit(kExitProtocolError);
}

// An error nothing caught. It cannot be pinned on one invocation, so every in-flight one is
// answered with it and the instance exits rather than run on in an unknown state.
function die(description) {
  if (dying) return;
  dying = true;
  socket?.pause();
  process.stderr.write(`${description.error_type}: ${description.message}\n` +
                       (description.stack ? `${description.stack}\n` : ''));
  drainStdio().then(() => {
    if (!socket) {
      process.exit(1);
    } else if (!ready) {
      writeFrame(...errorFrame('INIT_ERROR', undefined, description));
    } else {
      for (const invocation of in_flight.values()) {
        if (invocation.reply === null) {
          invocation.reply = errorFrame('ERROR', invocation.id, description);
        }
        transmit(invocation);
      }
    }
    exitAfterFlush(1);
  });
}

process.on('uncaughtException', (err) => die(describeError(err)));
process.on('unhandledRejection', (reason) => {
  const description = describeError(reason);
  die({
    error_type: 'Runtime.UnhandledPromiseRejection',
    message: `${description.error_type}: ${description.message}`,
    stack: description.stack,
  });
});

function startInvocation(handler, shape, header, body) {
  const id = header.id;
  if (!((typeof id === 'string' && id !== '') || Number.isFinite(id))) {
    throw new ProtocolError('INVOKE without an id');
  }
  if (in_flight.has(id)) {
    // Two replies with one id could not be told apart by the host.
    throw new ProtocolError(`INVOKE ${id} arrived while ${id} is still running`);
  }
  const invocation = new Invocation(id);
  in_flight.set(id, invocation);

  let event;
  try {
    event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch (err) {
    failWith(invocation, { error_type: 'Runtime.UnmarshalError',
                           message: `Unable to parse event as JSON: ${err.message}`, stack: '' });
    return;
  }
  if (typeof header.trace_id === 'string' && header.trace_id) {
    env._X_AMZN_TRACE_ID = header.trace_id;
  }
  if (shape === 'lambda') runLambda(handler, invocation, event, header);
  else runVercel(handler, invocation, event);
}

async function main() {
  const fd = Number(env.GUST_SOCKET_FD);
  if (!Number.isInteger(fd) || fd < 0) {
    process.stderr.write('gust adapter: GUST_SOCKET_FD is not set; start me from the Gust host\n');
    process.exit(kExitProtocolError);
  }
  socket = new net.Socket({ fd, readable: true, writable: true });
  socket.on('end', () => exitAfterFlush(0));
  socket.on('error', (err) => {
    // The host going away mid-write is just a less polite EOF.
    const host_left = err.code === 'EPIPE' || err.code === 'ECONNRESET';
    if (!host_left) process.stderr.write(`gust adapter: socket error: ${err.message}\n`);
    exitAfterFlush(host_left ? 0 : 1);
  });

  // Frames go to whoever waits for them: LOAD while standing by, then INVOKEs once READY.
  let onFrame = () => {};
  const decoder = new FrameDecoder((header, body) => {
    if (!dying) onFrame(header, body);
  });
  socket.on('data', (chunk) => {
    if (dying) return;
    try {
      decoder.push(chunk);
    } catch (err) {
      if (err instanceof ProtocolError) protocolFailure(err);
      else throw err;
    }
  });

  if (env.GUST_PRESTARTED === '1') {
    // Pre-started: the runtime is booted before anyone knows which function it will run. Say
    // so (STANDBY), then take the function's environment from LOAD and load it as usual.
    delete env.GUST_PRESTARTED;
    const load = await new Promise((resolve) => {
      onFrame = (header) => resolve(header);
      writeFrame({ type: 'STANDBY' });
    });
    onFrame = () => {};
    if (load.type !== 'LOAD' || typeof load.env !== 'object' || load.env === null ||
        Array.isArray(load.env)) {
      protocolFailure(new ProtocolError(
        "a pre-started instance's first frame must be LOAD with an `env` object"));
      return;
    }
    for (const [key, value] of Object.entries(load.env)) env[key] = String(value);
    readFunctionEnvironment();
    try {
      process.chdir(code_dir);
    } catch {
      // the code dir is checked when the handler loads, with a clearer message
    }
  }

  detachEnvironment();
  let loaded;
  try {
    loaded = await loadHandler(env.GUST_HANDLER);
  } catch (err) {
    if (dying) return;  // a fatal error during loading already sent INIT_ERROR
    dying = true;
    writeFrame(...errorFrame('INIT_ERROR', undefined, describeInitError(err)));
    exitAfterFlush(1);
    return;
  }
  if (dying) return;  // a fatal error during loading already sent INIT_ERROR
  ready = true;
  writeFrame({ type: 'READY' });

  const { handler, shape } = env.GUST_CONTRACT === 'openwhisk'
    ? { handler: openwhiskHandler(loaded.handler), shape: 'lambda' } : loaded;
  onFrame = (header, body) => {
    // Other types are reserved for later protocol versions; an older adapter ignores them.
    if (header.type === 'INVOKE') startInvocation(handler, shape, header, body);
  };
}

main();
