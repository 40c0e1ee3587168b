"""A request either sandbox refuses: answered with its status and `{"detail": ...}`, as
Reveni's API and Khaos's do."""

from __future__ import annotations

from starlette.responses import JSONResponse


class RequestError(Exception):
    """A bad request: answered with its status and `{"detail": ...}`."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


def detail(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The answer to a refused request."""
    return JSONResponse({"detail": text}, status_code=status, headers=headers)
