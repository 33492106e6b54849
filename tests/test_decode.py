"""decode_image: the one image reader of build_tiny_hdf5.py and predict.

JPEGs are decoded strictly (a libjpeg warning is an error, nothing is printed)
and otherwise exactly as OpenCV decoded them before; a damaged PNG is called one,
and nothing libpng says reaches stderr.
"""

import io
import os
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image
from tiny_data import damage_jpeg, write_damaged_jpeg

from pyimagesearch.datasets.tinyimagenet import decode_image


def _opencv(path, size=(64, 64)):
    """How decode_image read every image before: OpenCV, resized, RGB."""
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    if (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _photo(shape=(48, 80, 3), seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (7, 7), 0)


def test_damaged_scan_data_is_refused_and_nothing_is_printed(tmp_path, capfd):
    path = write_damaged_jpeg(str(tmp_path / "damaged.JPEG"))
    # What the old decoder did with it: an image, and a warning line from libjpeg.
    assert _opencv(path) is not None
    assert "Corrupt JPEG data" in capfd.readouterr().err
    with pytest.raises(ValueError, match=r"damaged\.JPEG: is a damaged JPEG \(Corrupt JPEG "
                                         r"data: .*\)"):
        decode_image(path)
    assert capfd.readouterr() == ("", "")  # in the error, not on stderr


def _variants(tmp_path):
    """Good JPEGs of every kind OpenCV and libjpeg-turbo write, and a PNG."""
    bgr = _photo()
    files = {}

    def encode(name, *params, image=bgr):
        ok, data = cv2.imencode(".jpg", image, list(params))
        assert ok
        files[name] = data.tobytes()

    encode("baseline.jpg", cv2.IMWRITE_JPEG_QUALITY, 75)
    encode("progressive.jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    encode("optimized.jpg", cv2.IMWRITE_JPEG_OPTIMIZE, 1)
    encode("restart_markers.jpg", cv2.IMWRITE_JPEG_RST_INTERVAL, 2)
    for name, factor in (("444", cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
                         ("422", cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422)):
        encode(f"sampling_{name}.jpg", cv2.IMWRITE_JPEG_SAMPLING_FACTOR, factor)
    encode("gray.jpg", image=cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    rgb = Image.fromarray(bgr[:, :, ::-1])
    for name, image, kwargs in (("cmyk.jpg", rgb.convert("CMYK"), {}),
                                ("pil_progressive.jpg", rgb, {"progressive": True})):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90, **kwargs)
        files[name] = buffer.getvalue()
    files["trailing_bytes.jpg"] = files["baseline.jpg"] + bytes(100) + b"\xff\xd8junk"
    files["image.png"] = cv2.imencode(".png", bgr)[1].tobytes()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return sorted(str(tmp_path / name) for name in files)


@pytest.mark.parametrize("size", [(80, 48), (64, 64), (32, 20)])
def test_good_images_decode_exactly_as_opencv_decoded_them(tmp_path, capfd, size):
    for path in _variants(tmp_path):
        image = decode_image(path, size)
        assert image.dtype == np.uint8 and image.shape == (size[1], size[0], 3), path
        np.testing.assert_array_equal(image, _opencv(path, size), err_msg=path)
    gray = decode_image(str(tmp_path / "gray.jpg"), size)
    assert (gray == gray[..., :1]).all()  # three equal channels
    assert capfd.readouterr().err == ""


def _tiff(orientation=None, byte_order=b"II", magic=42, tag_type=3):
    """The TIFF payload of an Exif segment: its first IFD holds the orientation tag,
    or another tag if `orientation` is None."""
    order = "little" if byte_order == b"II" else "big"

    def number(value, size):
        return value.to_bytes(size, order)

    tag, value = (0x010F, 6) if orientation is None else (0x0112, orientation)
    entry = number(tag, 2) + number(tag_type, 2) + number(1, 4) + number(value, 2) + bytes(2)
    return byte_order + number(magic, 2) + number(8, 4) + number(1, 2) + entry + number(0, 4)


def _with_segments(jpeg: bytes, *segments: tuple[int, bytes]) -> bytes:
    """`jpeg` with `(marker, payload)` segments inserted after its SOI marker."""
    inserted = b"".join(bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload
                        for marker, payload in segments)
    return jpeg[:2] + inserted + jpeg[2:]


EXIF = b"Exif\0\0"
XMP = b"http://ns.adobe.com/xap/1.0/\0<x/>"


@pytest.mark.parametrize("orientation", range(0, 10))
def test_exif_orientation_is_applied_as_opencv_applies_it(tmp_path, orientation):
    jpeg = cv2.imencode(".jpg", _photo((40, 70, 3)))[1].tobytes()
    app1 = 0xE1
    variants = {
        "little_endian": [(app1, EXIF + _tiff(orientation))],
        "big_endian": [(app1, EXIF + _tiff(orientation, b"MM"))],
        "long_type": [(app1, EXIF + _tiff(orientation, tag_type=4))],
        "after_xmp": [(app1, XMP), (app1, EXIF + _tiff(orientation))],
        "after_an_exif_without_it": [(app1, EXIF + _tiff()), (app1, EXIF + _tiff(orientation))],
        "after_a_broken_exif": [(app1, EXIF + b"garbage!"),
                                (app1, EXIF + _tiff(6, magic=43)),
                                (app1, EXIF + _tiff(orientation))],
        "before_another": [(app1, EXIF + _tiff(orientation)), (app1, EXIF + _tiff(6))],
        "not_exif": [(app1, b"Exif\0" + _tiff(orientation)), (0xE2, EXIF + _tiff(orientation))],
    }
    files = {name: _with_segments(jpeg, *segments) for name, segments in variants.items()}
    if 1 <= orientation <= 8:
        exif = Image.Exif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        Image.fromarray(_photo((40, 70, 3))).save(buffer, "JPEG", exif=exif.tobytes())
        files["pillow"] = buffer.getvalue()
    for name, data in files.items():
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(data)
        for size in ((70, 40), (40, 70)):  # as stored, and upright for orientations 5-8
            np.testing.assert_array_equal(decode_image(str(path), size),
                                          _opencv(str(path), size), err_msg=name)


def test_whatever_opencv_warns_about_is_refused(tmp_path, capfd):
    """Random damage anywhere: each file OpenCV refuses, or decodes with a libjpeg
    warning, is refused; what decodes cleanly in both is decoded the same."""
    rng = np.random.default_rng(1)
    good = cv2.imencode(".jpg", _photo((64, 64, 3)), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    warned = refused = 0
    for trial in range(300):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            at, count = int(rng.integers(2, len(data) - 2)), int(rng.integers(1, 4))
            data[at:at + count] = rng.integers(0, 256, count, dtype=np.uint8).tobytes()
        path = tmp_path / f"{trial}.jpg"
        path.write_bytes(bytes(data))
        capfd.readouterr()
        before = _opencv(str(path))
        warning = capfd.readouterr().err
        try:
            image = decode_image(str(path))
        except ValueError as err:
            assert str(err).startswith(f"{path}: ")
            refused += 1
        else:
            assert before is not None and not warning, (trial, warning)
            np.testing.assert_array_equal(image, before)
        warned += bool(warning)
        assert capfd.readouterr().err == "", trial
    assert warned > 20 and refused >= warned  # the trials did damage files


def test_damage_jpeg_keeps_the_end_marker(tmp_path):
    path = str(tmp_path / "a.jpg")
    cv2.imwrite(path, _photo())
    before = open(path, "rb").read()
    after = open(damage_jpeg(path), "rb").read()
    assert len(after) == len(before) and after != before and after.endswith(b"\xff\xd9")
    assert os.path.getsize(path) == len(before)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def _damaged_pngs(good: bytes) -> dict[str, tuple[bytes, str]]:
    """PNGs damaged as disks and downloads damage them: `{name: (data, why refused)}`."""
    idat = good.find(b"IDAT") - 4
    end = idat + 8 + int.from_bytes(good[idat:idat + 4], "big")  # where its CRC starts
    scan = bytearray(good)
    scan[(idat + end) // 2] ^= 0xFF
    crc = good[:end] + bytes(b ^ 0xFF for b in good[end:end + 4]) + good[end + 4:]
    body = bytearray(good[idat + 8:end])
    body[2] ^= 0x55  # the first deflate block's header, the chunk's CRC made to match
    deflate = good[:idat] + _chunk(b"IDAT", bytes(body)) + good[end + 4:]
    text = _chunk(b"tEXt", b"Comment\0hello")
    cut = "cut short: it has no end chunk"
    return {"cut_in_scan.png": (good[:(idat + end) // 2], cut),
            "cut_before_end.png": (good[:-12], cut),
            "signature_only.png": (good[:8], cut),
            "scan_byte.png": (bytes(scan), "its IDAT chunk fails its checksum"),
            "scan_checksum.png": (crc, "its IDAT chunk fails its checksum"),
            "deflate.png": (deflate, "IDAT: "),  # in libpng's words
            "text_checksum.png": (good[:idat] + text[:-4] + bytes(4) + good[idat:],
                                  "its tEXt chunk fails its checksum")}


def test_damaged_pngs_are_called_damaged_and_libpng_says_nothing(tmp_path, capfd):
    """libpng printed its own lines ("libpng error: IDAT: incorrect data check") and the
    file was called "not an image"; a bad checksum in a text chunk passed with a warning."""
    good = cv2.imencode(".png", _photo())[1].tobytes()
    for name, (data, why) in _damaged_pngs(good).items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError) as refused:
            decode_image(str(path))
        assert str(refused.value).startswith(f"{path}: is a damaged PNG ({why}"), name
        assert "\n" not in str(refused.value)
        assert capfd.readouterr().err == "", name


def test_a_whole_png_that_libpng_warns_about_decodes_quietly(tmp_path, capfd):
    good = cv2.imencode(".png", _photo())[1].tobytes()
    idat = good.find(b"IDAT") - 4
    path = tmp_path / "profile.png"  # an ICC profile libpng cannot use: it warns, and reads
    path.write_bytes(good[:idat] + _chunk(b"iCCP", b"ICC\0\0" + zlib.compress(b"?" * 40))
                     + good[idat:])
    expected = _opencv(str(path))
    assert "libpng warning" in capfd.readouterr().err
    np.testing.assert_array_equal(decode_image(str(path)), expected)
    assert capfd.readouterr().err == ""


def test_random_damage_to_a_png_is_refused_or_harmless(tmp_path, capfd):
    rng = np.random.default_rng(2)
    good = cv2.imencode(".png", _photo((32, 32, 3)))[1].tobytes()
    refused = 0
    for trial in range(200):
        data = bytearray(good)
        at = int(rng.integers(8, len(data)))
        data[at] ^= int(rng.integers(1, 256))
        path = tmp_path / f"{trial}.png"
        path.write_bytes(bytes(data))
        try:
            image = decode_image(str(path), (32, 32))
        except ValueError as err:
            assert str(err).startswith(f"{path}: is a damaged PNG ("), err
            refused += 1
        else:  # a changed byte that no chunk's checksum covers (none: so never)
            np.testing.assert_array_equal(image, _opencv(str(path), (32, 32)))
        assert capfd.readouterr().err == "", trial
    assert refused == 200  # every byte after the signature is in some chunk's checksum
