import java.util.Map;

// The bench's Java function: Lambda's handler shape, returning an API Gateway v2 response.
public class Hello {
  public Map<String, Object> handleRequest(Map<String, Object> event) {
    return Map.of("statusCode", 200, "body", "hello");
  }
}
