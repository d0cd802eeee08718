# A Flask app as Cloud Run's Python quickstart writes it: it listens on $PORT.
import os

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def hello_world():
    name = os.environ.get("NAME", "World")
    return f"Hello {name}!"


@app.route("/items/<item_id>", methods=["GET", "PUT"])
def item(item_id):
    response = jsonify(id=item_id, method=request.method, query=request.args.to_dict(),
                       json=request.get_json(silent=True), cookie=request.cookies.get("session"),
                       service=os.environ.get("K_SERVICE"))
    response.set_cookie("seen", item_id)
    response.headers["X-Framework"] = "flask"
    return response


@app.route("/binary")
def binary():
    return bytes(range(256)), 200, {"Content-Type": "application/octet-stream"}


@app.route("/healthz")
def healthz():
    return "ok"


if __name__ == "__main__":
    app.run(debug=False, host="0.0.0.0", port=int(os.environ.get("PORT", 8080)))
