# An OpenWhisk Python action (a web action): main(args) returns a dict.
def main(args):
    name = args.get("name", "stranger")
    if name == "fail":
        return {"error": "asked to fail"}
    if args.get("__ow_method") == "post" and args.get("raw"):
        return {"statusCode": 201, "headers": {"Content-Type": "text/plain"},
                "body": "raw " + args["raw"]}
    return {"greeting": "Hello " + name + "!", "method": args.get("__ow_method"),
            "has_headers": isinstance(args.get("__ow_headers"), dict)}
