# A project entry in Lambda's shape: echoes the parts of the event that routing decides.


def handler(event, context):
    return {"routeKey": event.get("routeKey"), "rawPath": event.get("rawPath"),
            "query": event.get("queryStringParameters")}
