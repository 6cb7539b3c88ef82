"""The one error hierarchy of ForgeML.

Every error a user can cause is a :class:`ForgeError`. Each subclass also subclasses the
built-in exception it resembles, so ``except KeyError`` keeps working for callers who do not know
about ForgeML. :func:`http_status` and :func:`exit_code` are the single place where errors become
HTTP status codes and CLI exit codes.
"""

from __future__ import annotations


class ForgeError(Exception):
    """Root of every error ForgeML raises on purpose."""

    http_status: int = 500
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    @property
    def kind(self) -> str:
        """The error type name used in JSON error bodies."""
        return type(self).__name__


class NotFoundError(ForgeError, KeyError):
    """A named resource, version or artifact does not exist."""

    http_status = 404
    exit_code = 4


class AlreadyExistsError(ForgeError, ValueError):
    """A resource with that name (and version) already exists."""

    http_status = 409
    exit_code = 5


class ValidationError(ForgeError, ValueError):
    """A config, payload, file or argument is malformed or out of range."""

    http_status = 400
    exit_code = 2


class InvalidTransitionError(ForgeError, ValueError):
    """A status change that the resource's state machine does not allow."""

    http_status = 409
    exit_code = 6


class ConflictError(ForgeError, RuntimeError):
    """The resource changed underneath the caller or is busy."""

    http_status = 409
    exit_code = 6


class IdempotencyKeyReusedError(ForgeError, ValueError):
    """An idempotency key came back with a different request than the one it was first used for
    (the IETF Idempotency-Key draft answers 422)."""

    http_status = 422
    exit_code = 2


class ForbiddenError(ForgeError, PermissionError):
    """The caller may not do this from where it is (a network face naming a server path, a
    script it did not upload, a denied policy)."""

    http_status = 403
    exit_code = 11


class UnauthenticatedError(ForgeError, PermissionError):
    """A network call without a valid credential (no key, an unknown, revoked or expired key)."""

    http_status = 401
    exit_code = 11


class CorruptArtifactError(ForgeError, OSError):
    """An artifact's bytes no longer match its content hash."""

    http_status = 500
    exit_code = 7


class PayloadTooLargeError(ForgeError, ValueError):
    """A request body or record is larger than the configured limit."""

    http_status = 413
    exit_code = 2


class UnsupportedMediaTypeError(ForgeError, ValueError):
    """A request's Content-Type or Accept is not one the endpoint speaks."""

    http_status = 415
    exit_code = 2


class ModelError(ForgeError, RuntimeError):
    """The model itself raised while predicting (SageMaker answers 424)."""

    http_status = 424
    exit_code = 8


class BackendUnavailableError(ForgeError, ConnectionError):
    """A database, cache, broker or other service cannot be reached."""

    http_status = 503
    exit_code = 9


class JobFailedError(ForgeError, RuntimeError):
    """A job the caller waited for ended Failed or Stopped."""

    http_status = 409
    exit_code = 10


class ThrottlingError(ForgeError, RuntimeError):
    """Too many requests from one principal (or address): try again after ``retry_after`` seconds."""

    http_status = 429
    exit_code = 9

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


def http_status(error: BaseException) -> int:
    """HTTP status for an exception: the ForgeError's own, else 500."""
    return error.http_status if isinstance(error, ForgeError) else 500


def exit_code(error: BaseException) -> int:
    """CLI exit code for an exception: the ForgeError's own, else 1."""
    return error.exit_code if isinstance(error, ForgeError) else 1


__all__ = [
    "AlreadyExistsError",
    "BackendUnavailableError",
    "ConflictError",
    "CorruptArtifactError",
    "ForbiddenError",
    "ForgeError",
    "IdempotencyKeyReusedError",
    "InvalidTransitionError",
    "JobFailedError",
    "ModelError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ThrottlingError",
    "UnauthenticatedError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "exit_code",
    "http_status",
]
