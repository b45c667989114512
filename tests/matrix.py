"""One request of an authorization matrix row, as a given role."""


def call_endpoint(client_for, people, world, role, method, url, payload, fmt):
    client = client_for(None if role == "anonymous" else people[role])
    kwargs = {}
    if payload is not None:
        kwargs["data"] = payload(world)
    if fmt:
        kwargs["format"] = fmt
    return getattr(client, method)(url(world), **kwargs)
