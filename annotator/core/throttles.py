"""Rate limits on sign-in and uploads (rates: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])."""

from rest_framework.throttling import SimpleRateThrottle


class SigninThrottle(SimpleRateThrottle):
    """Token requests (and password sign-ins): per client IP, whoever they claim to be."""

    scope = "signin"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UploadThrottle(SimpleRateThrottle):
    """Imports and checkpoint uploads (POST), per user."""

    scope = "upload"

    def allow_request(self, request, view):
        return request.method != "POST" or super().allow_request(request, view)

    def get_cache_key(self, request, view):
        ident = request.user.pk if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
