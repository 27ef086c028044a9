"""The request-body buffer the httptools protocol gives uvicorn (``BodyPieces``): the application gets
exactly the bytes sent, whether they arrived as one piece or many. The file tests send whole
checkpoints through the real server and compare SHA-256s; this covers the buffer's own contract."""

from __future__ import annotations

from modelyard.serving.httpprotocol import BodyPieces


def test_body_pieces_behave_like_the_bytearray_they_replace() -> None:
    body = BodyPieces()
    assert len(body) == 0 and bytes(body) == b""
    piece = b"x" * 100
    body += piece
    assert len(body) == 100
    assert bytes(body) is piece  # one piece is handed on without a copy
    body += b""
    body += b"yz"
    assert len(body) == 102 and bytes(body) == piece + b"yz"
