// An HTTP function as the aws-lambda-go README shows one: lambda.Start with a handler taking
// the function-URL event (API Gateway HTTP API v2) and returning its response.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func handleRequest(ctx context.Context, request events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	if request.QueryStringParameters["fail"] == "1" {
		return events.APIGatewayV2HTTPResponse{}, errors.New("asked to fail")
	}
	_, hasDeadline := ctx.Deadline()
	fmt.Printf("go handler saw %s %s\n", request.RequestContext.HTTP.Method, request.RawPath)
	body, _ := json.Marshal(map[string]any{
		"greeting":     "hello " + request.QueryStringParameters["name"],
		"request_id":   lc.AwsRequestID,
		"function_arn": lc.InvokedFunctionArn,
		"function":     lambdacontext.FunctionName,
		"memory_mb":    lambdacontext.MemoryLimitInMB,
		"method":       request.RequestContext.HTTP.Method,
		"body":         request.Body,
		"has_deadline": hasDeadline,
	})
	return events.APIGatewayV2HTTPResponse{
		StatusCode: 201,
		Headers:    map[string]string{"Content-Type": "application/json", "X-Runtime": "go"},
		Body:       string(body),
	}, nil
}

func main() {
	lambda.Start(handleRequest)
}
