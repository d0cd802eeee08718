# The bystander: after every hostile case the suite checks this still answers.


def handler(event, context):
    return {"hello": "world"}
