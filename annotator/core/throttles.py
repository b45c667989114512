"""Rate limits on sign-in and uploads (rates: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

A client is known by `client_ip` (X-Forwarded-For only from TRUSTED_PROXIES), never by a header
it writes itself, so a new X-Forwarded-For per attempt does not buy a new allowance."""

from rest_framework.throttling import SimpleRateThrottle

from .client_ip import client_ip


class ClientIpThrottle(SimpleRateThrottle):
    def get_ident(self, request):
        return client_ip(request)


class SigninThrottle(ClientIpThrottle):
    """Token requests (and password sign-ins): per client IP, whoever they claim to be."""

    scope = "signin"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UploadThrottle(ClientIpThrottle):
    """Imports and checkpoint uploads (POST), per user."""

    scope = "upload"

    def allow_request(self, request, view):
        return request.method != "POST" or super().allow_request(request, view)

    def get_cache_key(self, request, view):
        ident = request.user.pk if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
