// A plain class with Lambda's method shape and no AWS dependency; deployed as Greeter.class.
import java.util.Map;

public class Greeter {
  public Map<String, Object> handleRequest(Map<String, Object> input) {
    return Map.of("greeting", "hi " + input.get("name"), "keys", input.size());
  }
}
