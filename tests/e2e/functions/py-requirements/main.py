# Imports a package that only requirements.txt provides (not in the server's interpreter).
import slugify


def handler(event, context):
    text = (event.get("queryStringParameters") or {}).get("text", "")
    return {"slug": slugify.slugify(text), "module": slugify.__file__}
