"""Reading an uploaded file's body with a size limit, on the event loop (nothing else is)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"description": "The upload is larger than 20 MB: split it"}
}


async def read_limited(request: Request, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """The body, stopping at ``limit`` bytes with 413 (never the whole of a huge upload)."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise HTTPException(413, detail=f"upload larger than {limit // 1048576} MB; split it")
    return bytes(raw)


def import_error(problems: list[tuple[int | None, str]]) -> HTTPException:
    """400 listing every bad row, as every import route answers it."""
    return HTTPException(
        400,
        detail={
            "message": "nothing imported",
            "errors": [{"line": line, "error": err} for line, err in problems],
        },
    )
