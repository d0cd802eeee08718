package dev.gust.runtime;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Proxy;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Gust's Java runtime: a client of the AWS Lambda Runtime API (served by the relay inside the
 * instance) that calls a handler written for Lambda's Java runtime, unmodified.
 *
 * <p>_HANDLER is "package.Class" or "package.Class::method" (default method handleRequest). The
 * method takes (input[, context]) like RequestHandler&lt;I, O&gt;, or (InputStream, OutputStream[,
 * context]) like RequestStreamHandler. Inputs and outputs go through Jackson, as in Lambda. The
 * context is whatever interface the method declares (com.amazonaws.services.lambda.runtime.Context
 * from aws-lambda-java-core, usually): a proxy answers its methods by name, so this runtime needs
 * no compile-time dependency on AWS's jar and a plain class works too.
 */
public final class Main {
  private static final ObjectMapper JSON =
      new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

  private final String api;
  private Object target;
  private Method method;
  private Kind kind;

  private enum Kind { POJO, STREAM }

  private Main(String api) {
    this.api = "http://" + api + "/2018-06-01/runtime";
  }

  public static void main(String[] args) throws Exception {
    if (args.length == 1 && args[0].equals("--warmup")) {
      warmup();
      return;
    }
    String api = System.getenv("AWS_LAMBDA_RUNTIME_API");
    if (api == null) {
      System.err.println("gust java runtime: AWS_LAMBDA_RUNTIME_API is not set");
      System.exit(2);
    }
    Main runtime = new Main(api);
    try {
      runtime.load(System.getenv("_HANDLER"));
    } catch (Throwable error) {
      runtime.post("/init/error", errorDocument(error), errorType(error));
      System.exit(1);
    }
    runtime.loop();
  }

  /**
   * Exercises what every invocation loads (Jackson both ways, reflection, the context proxy, the
   * HTTP client's classes) so that build.sh can record those classes in a CDS archive.
   */
  private static void warmup() throws Exception {
    Map<String, Object> sample = new LinkedHashMap<>();
    sample.put("list", List.of(1, 2.5, "x", true));
    byte[] bytes = JSON.writeValueAsBytes(sample);
    Map<?, ?> back = JSON.readValue(bytes, Map.class);
    JSON.readValue("\"text\"", String.class);
    JSON.readValue("{\"a\":1}", JSON.getTypeFactory().constructType(Map.class));
    Runnable proxy = (Runnable) Proxy.newProxyInstance(Main.class.getClassLoader(),
        new Class<?>[] {Runnable.class}, (p, m, a) -> null);
    proxy.run();
    HttpURLConnection connection =
        (HttpURLConnection) new URL("http://127.0.0.1:9/2018-06-01/runtime/invocation/next").openConnection();
    connection.setRequestMethod("POST");
    errorDocument(new IllegalStateException(String.valueOf(back.size())));
  }

  private void load(String spec) throws Exception {
    if (spec == null || spec.isEmpty()) {
      throw new IllegalArgumentException("handler is empty: name a class, e.g. example.Hello");
    }
    String className = spec;
    String methodName = "handleRequest";
    int separator = spec.indexOf("::");
    if (separator >= 0) {
      className = spec.substring(0, separator);
      methodName = spec.substring(separator + 2);
    }
    Class<?> type;
    try {
      type = Class.forName(className, true, Main.class.getClassLoader());
    } catch (ClassNotFoundException e) {
      throw new ClassNotFoundException("class " + className + " is not in the bundle (looked in "
          + "its root, *.jar, lib/*.jar and target/)", e);
    }
    for (Method candidate : type.getMethods()) {
      if (!candidate.getName().equals(methodName) || candidate.isBridge() || candidate.isSynthetic()) {
        continue;
      }
      Class<?>[] params = candidate.getParameterTypes();
      if (params.length >= 2 && InputStream.class.isAssignableFrom(params[0])
          && OutputStream.class.isAssignableFrom(params[1]) && params.length <= 3) {
        method = candidate;
        kind = Kind.STREAM;
        break;
      }
      if (params.length >= 1 && params.length <= 2 && (method == null
          || method.getParameterTypes()[0] == Object.class)) {
        method = candidate;
        kind = Kind.POJO;
      }
    }
    if (method == null) {
      throw new NoSuchMethodException(className + " has no public " + methodName
          + "(input, context) or " + methodName + "(InputStream, OutputStream, context)");
    }
    target = Modifier.isStatic(method.getModifiers())
        ? null : type.getDeclaredConstructor().newInstance();
  }

  private void loop() throws IOException {
    while (true) {
      HttpURLConnection next = (HttpURLConnection) new URL(api + "/invocation/next").openConnection();
      next.setReadTimeout(0);
      byte[] event;
      try (InputStream in = next.getInputStream()) {
        event = in.readAllBytes();
      }
      String requestId = next.getHeaderField("Lambda-Runtime-Aws-Request-Id");
      long deadline = parseLong(next.getHeaderField("Lambda-Runtime-Deadline-Ms"));
      String arn = next.getHeaderField("Lambda-Runtime-Invoked-Function-Arn");
      String trace = next.getHeaderField("Lambda-Runtime-Trace-Id");
      if (trace != null) System.setProperty("com.amazonaws.xray.traceHeader", trace);
      byte[] result;
      try {
        result = invoke(event, requestId, deadline, arn);
      } catch (Throwable error) {
        Throwable cause = error instanceof InvocationTargetException ? error.getCause() : error;
        System.out.flush();
        System.err.flush();
        post("/invocation/" + requestId + "/error", errorDocument(cause), errorType(cause));
        continue;
      }
      System.out.flush();
      System.err.flush();
      post("/invocation/" + requestId + "/response", result, null);
    }
  }

  private byte[] invoke(byte[] event, String requestId, long deadline, String arn) throws Exception {
    Class<?>[] params = method.getParameterTypes();
    Object context = null;
    int contextIndex = kind == Kind.STREAM ? 2 : 1;
    if (params.length > contextIndex) context = context(params[contextIndex], requestId, deadline, arn);
    if (kind == Kind.STREAM) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      Object[] args = params.length == 3
          ? new Object[] {new ByteArrayInputStream(event), out, context}
          : new Object[] {new ByteArrayInputStream(event), out};
      method.invoke(target, args);
      return out.toByteArray();
    }
    JavaType inputType = JSON.getTypeFactory().constructType(method.getGenericParameterTypes()[0]);
    Object input = JSON.readValue(event, inputType);
    Object output = params.length == 2 ? method.invoke(target, input, context) : method.invoke(target, input);
    if (method.getReturnType() == void.class) return "null".getBytes(StandardCharsets.UTF_8);
    return JSON.writeValueAsBytes(output);
  }

  /** An implementation of the handler's context interface, answering Lambda's method names. */
  private static Object context(Class<?> type, String requestId, long deadline, String arn) {
    if (!type.isInterface()) return null;
    String name = env("AWS_LAMBDA_FUNCTION_NAME", "");
    return Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, (proxy, m, args) -> {
      switch (m.getName()) {
        case "getAwsRequestId": return requestId;
        case "getFunctionName": return name;
        case "getFunctionVersion": return env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
        case "getInvokedFunctionArn": return arn;
        case "getLogGroupName": return env("AWS_LAMBDA_LOG_GROUP_NAME", "/gust/" + name);
        case "getLogStreamName": return env("AWS_LAMBDA_LOG_STREAM_NAME", "");
        case "getMemoryLimitInMB": return Integer.parseInt(env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"));
        case "getRemainingTimeInMillis":
          return (int) Math.max(0, deadline - System.currentTimeMillis());
        case "getLogger": return logger(m.getReturnType());
        case "toString": return "Context(" + requestId + ")";
        case "hashCode": return System.identityHashCode(proxy);
        case "equals": return proxy == args[0];
        default: return null;  // getIdentity, getClientContext: none here
      }
    });
  }

  private static Object logger(Class<?> type) {
    if (!type.isInterface()) return null;
    return Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, (proxy, m, args) -> {
      if (m.getName().equals("log") && args != null && args.length >= 1) {
        Object message = args[0];
        if (message instanceof byte[]) {
          System.out.write((byte[]) message);
        } else {
          System.out.print(message);
        }
        System.out.flush();
      }
      return null;
    });
  }

  private void post(String path, byte[] body, String errorType) throws IOException {
    HttpURLConnection connection = (HttpURLConnection) new URL(api + path).openConnection();
    connection.setRequestMethod("POST");
    connection.setDoOutput(true);
    connection.setFixedLengthStreamingMode(body.length);
    connection.setRequestProperty("Content-Type", "application/json");
    if (errorType != null) connection.setRequestProperty("Lambda-Runtime-Function-Error-Type", errorType);
    try (OutputStream out = connection.getOutputStream()) {
      out.write(body);
    }
    try (InputStream in = connection.getInputStream()) {
      in.readAllBytes();
    }
  }

  private static String errorType(Throwable error) {
    return error.getClass().getName();
  }

  private static byte[] errorDocument(Throwable error) {
    List<String> trace = new ArrayList<>();
    for (StackTraceElement element : error.getStackTrace()) trace.add(element.toString());
    Map<String, Object> document = new LinkedHashMap<>();
    document.put("errorMessage", String.valueOf(error.getMessage()));
    document.put("errorType", errorType(error));
    document.put("stackTrace", trace);
    try {
      return JSON.writeValueAsBytes(document);
    } catch (IOException e) {
      StringWriter text = new StringWriter();
      error.printStackTrace(new PrintWriter(text));
      return ("{\"errorMessage\":\"unserialisable error\",\"errorType\":\"" + errorType(error) + "\"}")
          .getBytes(StandardCharsets.UTF_8);
    }
  }

  private static long parseLong(String text) {
    try {
      return text == null ? 0 : Long.parseLong(text);
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  private static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null ? fallback : value;
  }
}
