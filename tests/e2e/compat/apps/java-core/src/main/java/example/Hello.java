package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.Map;

// A handler as AWS's Java guide writes one: RequestHandler<Map<String, String>, String>.
public class Hello implements RequestHandler<Map<String, String>, String> {
  @Override
  public String handleRequest(Map<String, String> event, Context context) {
    LambdaLogger logger = context.getLogger();
    logger.log("java handler got " + event.get("name") + "\n");
    if ("fail".equals(event.get("name"))) {
      throw new IllegalStateException("asked to fail");
    }
    return "Hello " + event.get("name") + " from " + context.getFunctionName() + " request "
        + context.getAwsRequestId() + " memory " + context.getMemoryLimitInMB()
        + " remaining>0 " + (context.getRemainingTimeInMillis() > 0);
  }
}
