"""The baseline for API ingest: a bare FastAPI endpoint that parses the same multipart upload
(image file + form fields) and does nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, File, Form, UploadFile

app = FastAPI()


@app.post("/v1/moderations", status_code=202)
def upload(
    image: Annotated[UploadFile, File()],
    policy: Annotated[str, Form()] = "default",
    external_id: Annotated[str | None, Form()] = None,
) -> dict[str, object]:
    """Read the upload and answer; no validation, storage or queueing."""
    data = image.file.read()
    return {"status": "queued", "bytes": len(data), "policy": policy, "external_id": external_id}


if __name__ == "__main__":  # python -m bench.bare_app --port P [--workers N]: served as ours is
    import argparse

    import uvicorn

    from moderation.web.http_protocol import server_options

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.bare_app:app",
        port=args.port,
        workers=args.workers,
        **server_options(),
        log_level="warning",
    )
