# A function with a dependency: requirements.txt is installed into this version's own virtual
# environment at deploy time, never at invoke time.
from slugify import slugify


def handler(event, context):
    text = (event.get("queryStringParameters") or {}).get("text", "Hello, Wörld!")
    return {"text": text, "slug": slugify(text)}
