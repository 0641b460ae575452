"""POST/GET /v1/moderations against the real API and database: what is accepted, what is refused."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from tests.conftest import Keys
from tests.support import images
from tests.support.db import count, rows
from tests.support.processes import ApiServer


def _post(api: ApiServer, key: str | None, data: bytes, filename: str = "x.jpg", **form: str):  # type: ignore[no-untyped-def]
    with api.client(key) as client:
        return client.post(
            "/v1/moderations", files={"image": (filename, data, "image/jpeg")}, data=form
        )


def _assert_error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_accepts_a_jpeg_and_stores_submission_and_outbox(
    api: ApiServer, keys: Keys, db: str
) -> None:
    data = images.jpeg(80, 60, seed=11)
    response = _post(api, keys.a, data, external_id="post-1")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["policy"]["slug"] == "default"
    assert body["policy"]["version"].startswith("default-")
    assert body["image"] == {
        "sha256": body["image"]["sha256"],
        "width": 80,
        "height": 60,
        "format": "JPEG",
        "purged_at": None,
    }
    assert body["external_id"] == "post-1" and body["decision"] is None
    assert body["legal_hold"] is None
    (row,) = rows(
        db, "SELECT status, policy_version FROM submissions WHERE id = :id", id=body["id"]
    )
    assert row == {"status": "queued", "policy_version": body["policy"]["version"]}
    outbox = rows(
        db, "SELECT task, queue, args FROM outbox WHERE args->>'submission_id' = :id", id=body["id"]
    )
    assert outbox == [
        {"task": "inference.moderate", "queue": "inference", "args": {"submission_id": body["id"]}}
    ]


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP"])
def test_accepts_every_allowed_format(api: ApiServer, keys: Keys, fmt: str) -> None:
    data = images.encode(images.sample(40, 30, seed=5), fmt)
    response = _post(api, keys.a, data, filename=f"x.{fmt.lower()}")
    assert response.status_code == 202, response.text
    assert response.json()["image"]["format"] == fmt


def test_one_pixel_png_is_accepted(api: ApiServer, keys: Keys) -> None:
    response = _post(api, keys.a, images.png(1, 1), filename="dot.png")
    assert response.status_code == 202, response.text
    assert response.json()["image"]["width"] == 1


def test_exif_orientation_is_applied_to_reported_size(api: ApiServer, keys: Keys) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: displayed as 30x50
    data = images.encode(images.sample(50, 30), "JPEG", exif=exif.tobytes())
    body = _post(api, keys.a, data).json()
    assert (body["image"]["width"], body["image"]["height"]) == (30, 50)


def test_same_bytes_are_stored_once(api: ApiServer, keys: Keys, db: str) -> None:
    data = images.png(33, 33, seed=99)
    first, second = _post(api, keys.a, data).json(), _post(api, keys.b, data).json()
    assert first["image"]["sha256"] == second["image"]["sha256"]
    assert first["id"] != second["id"]
    n = rows(db, "SELECT count(*) AS n FROM images WHERE sha256 = :s", s=first["image"]["sha256"])
    assert n == [{"n": 1}]


BAD_INPUTS = [
    ("empty file", b"", 422, "invalid_image"),
    ("text named .jpg", b"hello, I am not a picture\n" * 10, 415, "unsupported_media_type"),
    ("truncated jpeg", images.truncated_jpeg(), 422, "invalid_image"),
    ("20000x20000 png bomb", images.png_bomb(), 413, "payload_too_large"),
    ("pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", 415, "unsupported_media_type"),
]


@pytest.mark.parametrize(
    ("name", "data", "status", "code"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_images_are_refused_and_leave_no_row(
    api: ApiServer, keys: Keys, db: str, name: str, data: bytes, status: int, code: str
) -> None:
    before = (count(db, "submissions"), count(db, "outbox"))
    _assert_error(_post(api, keys.a, data), status, code)
    assert (count(db, "submissions"), count(db, "outbox")) == before


def test_too_many_bytes_is_413_before_buffering(api: ApiServer, keys: Keys, db: str) -> None:
    before = count(db, "submissions")
    big = b"\xff\xd8\xff" + b"\x00" * (20 * 1024 * 1024 + 10)
    _assert_error(_post(api, keys.a, big), 413, "payload_too_large")
    assert count(db, "submissions") == before


def test_chunked_upload_over_the_limit_is_413(api: ApiServer, keys: Keys) -> None:
    def body():  # type: ignore[no-untyped-def]
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
        for _ in range(22):
            yield b"\x00" * (1024 * 1024)

    with api.client(keys.a) as client:
        response = client.post(
            "/v1/moderations",
            content=body(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
    _assert_error(response, 413, "payload_too_large")


def test_unknown_policy_is_422(api: ApiServer, keys: Keys, db: str) -> None:
    before = count(db, "submissions")
    _assert_error(_post(api, keys.a, images.jpeg(), policy="no-such-policy"), 422, "unknown_policy")
    assert count(db, "submissions") == before


def test_other_policy_by_slug(api: ApiServer, keys: Keys) -> None:
    body = _post(api, keys.a, images.jpeg(), policy="marketplace").json()
    assert body["policy"]["slug"] == "marketplace"


def test_external_id_over_200_chars_is_422(api: ApiServer, keys: Keys) -> None:
    _assert_error(_post(api, keys.a, images.jpeg(), external_id="x" * 201), 422, "invalid_request")


def test_missing_image_field_is_422(api: ApiServer, keys: Keys) -> None:
    with api.client(keys.a) as client:
        response = client.post("/v1/moderations", data={"policy": "default"})
    _assert_error(response, 422, "invalid_request")


def test_missing_key_is_401(api: ApiServer, db: str) -> None:
    before = count(db, "submissions")
    response = _post(api, None, images.jpeg())
    _assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert count(db, "submissions") == before


def test_wrong_key_is_401(api: ApiServer) -> None:
    _assert_error(_post(api, "mod_not-a-real-key", images.jpeg()), 401, "unauthorized")
    with api.client("mod_not-a-real-key") as client:
        _assert_error(client.get(f"/v1/moderations/{uuid.uuid4()}"), 401, "unauthorized")


def test_unknown_and_foreign_ids_are_404(api: ApiServer, keys: Keys) -> None:
    created = _post(api, keys.a, images.jpeg(seed=4)).json()
    with api.client(keys.a) as client:
        assert client.get(f"/v1/moderations/{created['id']}").status_code == 200
        _assert_error(client.get(f"/v1/moderations/{uuid.uuid4()}"), 404, "not_found")
        _assert_error(client.get("/v1/moderations/not-a-uuid"), 404, "not_found")
    with api.client(keys.b) as client:
        _assert_error(client.get(f"/v1/moderations/{created['id']}"), 404, "not_found")


def test_health(api: ApiServer) -> None:
    with api.client() as client:
        assert client.get("/healthz").json()["database"] == "ok"


def test_gif_is_decoded_as_its_first_frame() -> None:
    from moderation.submissions.images import decode_for_model

    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    img = decode_for_model(buf.getvalue(), max_pixels=10_000)
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 0, 0)
