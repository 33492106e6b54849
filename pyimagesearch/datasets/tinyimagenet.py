"""Tiny ImageNet-200 in its official on-disk layout.

    tiny-imagenet-200/wnids.txt              one wnid a line (the classes)
    tiny-imagenet-200/words.txt              wnid TAB comma-separated names (all of ImageNet)
    tiny-imagenet-200/train/<wnid>/images/<wnid>_<i>.JPEG
    tiny-imagenet-200/val/images/val_<i>.JPEG
    tiny-imagenet-200/val/val_annotations.txt   file TAB wnid TAB x1 TAB y1 TAB x2 TAB y2

A class's label is the position of its wnid in the sorted `wnids.txt`.
"""

import os
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

from pyimagesearch.errors import UserError
from pyimagesearch.startup import filtered_stderr

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# What OpenCV's image codecs write on stderr from C while decoding: libpng's own
# messages ("libpng error: IDAT: incorrect data check") and OpenCV's log lines
# ("[ WARN:0@0.017] global grfmt_png.cpp:793 readFromStreamOrBuffer PNG input ...").
_CODEC_SAYS = re.compile(r"(libpng (error|warning): |\[ ?(WARN|ERROR|INFO|DEBUG):[\d@.]+\] )")


@dataclass
class TinyImageNetLayout:
    """The files and labels of a Tiny ImageNet folder."""

    root: str
    wnids: list[str]                       # sorted: label i is wnids[i]
    class_names: list[str]                 # human-readable names, one per wnid
    train_paths: list[str] = field(repr=False)
    train_labels: np.ndarray = field(repr=False)
    val_paths: list[str] = field(repr=False)
    val_labels: np.ndarray = field(repr=False)


def _read_lines(path: str, what: str) -> list[str]:
    if not os.path.isfile(path):
        raise UserError(f"{path} is missing, so this is not a complete Tiny ImageNet folder "
                        f"({what}); unzip tiny-imagenet-200.zip again or fix --dataset-dir")
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {path} ({err}); unzip the dataset again") from None


def parse_layout(root: str) -> TinyImageNetLayout:
    """Reads the class list, human names, training files and validation labels.

    Raises:
        UserError: the folder or a file of the layout is missing, an
            annotation names an unknown wnid or a missing image, or a class
            has no training images.
    """
    if not os.path.isdir(root):
        raise UserError(f"--dataset-dir {root} is not a folder; pass the tiny-imagenet-200 "
                        "folder of the unzipped download")
    wnids = sorted(set(_read_lines(os.path.join(root, "wnids.txt"), "the class list")))
    if not wnids:
        raise UserError(f"{os.path.join(root, 'wnids.txt')} lists no classes; unzip the dataset "
                        "again")
    index = {w: i for i, w in enumerate(wnids)}

    names = {}
    words = os.path.join(root, "words.txt")
    if os.path.isfile(words):
        for line in _read_lines(words, "the class names"):
            wnid, _, text = line.partition("\t")
            if wnid in index:
                names[wnid] = text.strip()
    class_names = [names.get(w) or w for w in wnids]

    train_paths, train_labels = [], []
    for wnid in wnids:
        folder = os.path.join(root, "train", wnid, "images")
        if not os.path.isdir(folder):
            raise UserError(f"{folder} is missing (class {wnid} of wnids.txt has no training "
                            "images); unzip the dataset again or fix --dataset-dir")
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise UserError(f"{folder} holds no images; unzip the dataset again")
        train_paths += [os.path.join(folder, f) for f in files]
        train_labels += [index[wnid]] * len(files)

    val_dir = os.path.join(root, "val")
    val_paths, val_labels = [], []
    annotations = os.path.join(val_dir, "val_annotations.txt")
    for number, line in enumerate(_read_lines(annotations, "the validation labels"), 1):
        parts = line.split("\t")
        if len(parts) < 2:
            raise UserError(f"{annotations} line {number} is not 'file<TAB>wnid...'; unzip the "
                            "dataset again")
        name, wnid = parts[0].strip(), parts[1].strip()
        if wnid not in index:
            raise UserError(f"{annotations} line {number} names wnid {wnid}, which wnids.txt "
                            "does not list; use the matching wnids.txt")
        path = os.path.join(val_dir, "images", name)
        if not os.path.isfile(path):
            raise UserError(f"{annotations} line {number} names {path}, which does not exist; "
                            "unzip the dataset again")
        val_paths.append(path)
        val_labels.append(index[wnid])
    return TinyImageNetLayout(root, wnids, class_names, train_paths, np.array(train_labels),
                              val_paths, np.array(val_labels))


def list_errors(errors: list[str], limit: int = 10) -> str:
    """decode_image's messages as one bracketed list: all of them, or the first `limit`
    and how many more (which `--skip-bad` names one by one as it skips them)."""
    shown = list(errors[:limit])
    if len(errors) > limit:
        shown.append(f"and {len(errors) - limit} more, which --skip-bad names as it skips them")
    return "[" + "; ".join(shown) + "]"


def _exif_orientation(data: bytes) -> int:
    """A JPEG's EXIF orientation (1-8 are meaningful), found as OpenCV finds it; else 1.

    OpenCV takes the first orientation tag (0x0112) in the first IFD of the
    APP1 segments that start with "Exif\\0\\0" and hold a valid TIFF header.
    """
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image: the headers are over
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        segment = data[pos + 4:pos + 2 + length]
        pos += 2 + length
        if marker != 0xE1 or segment[:6] != b"Exif\0\0":
            continue
        tiff = segment[6:]
        order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
        if order is None or len(tiff) < 8 or int.from_bytes(tiff[2:4], order) != 42:
            continue
        ifd = int.from_bytes(tiff[4:8], order)
        count = int.from_bytes(tiff[ifd:ifd + 2], order)
        for entry in range(ifd + 2, min(ifd + 2 + 12 * count, len(tiff) - 11), 12):
            if int.from_bytes(tiff[entry:entry + 2], order) == 0x0112:
                return int.from_bytes(tiff[entry + 8:entry + 10], order)
    return 1


def _orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """`image` turned upright as its EXIF orientation says (as OpenCV's imdecode does)."""
    if orientation in (5, 6, 7, 8):
        image = image.transpose(1, 0, 2)
    if orientation in (2, 3, 6, 7):
        image = image[:, ::-1]  # flipped left to right
    if orientation in (3, 4, 7, 8):
        image = image[::-1]  # flipped upside down
    return np.ascontiguousarray(image)


def _decode_jpeg(path: str, data: bytes) -> np.ndarray:
    """A JPEG as RGB, strictly: any libjpeg warning (damaged scan data) is an error."""
    import simplejpeg  # (imported here: checking a folder's layout needs no decoder)

    # A complete JPEG ends its last scan with the end-of-image marker FF D9, which scan
    # data never holds (FF is byte-stuffed there); bytes appended after it are harmless.
    if data.find(b"\xff\xd9", max(2, data.rfind(b"\xff\xda"))) < 0:
        raise ValueError(f"{path}: is a truncated JPEG (no end-of-image marker)")
    try:
        # libjpeg-turbo, as inside OpenCV: the same pixels (grayscale and CMYK become RGB),
        # but a warning such as "Corrupt JPEG data: ..." raises instead of being printed.
        image = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError as err:
        reason = " ".join(str(err).split()).rstrip(".")
        raise ValueError(f"{path}: is a damaged JPEG ({reason})") from None
    return _orient(image, _exif_orientation(data))


def _png_damage(data: bytes) -> str | None:
    """What is wrong with a PNG's chunks (cut short, or one failing its CRC), or None:
    said in words, where libpng fails with its own on stderr (and lets a damaged
    ancillary chunk pass with a warning)."""
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):  # length, type, data, CRC
        end = pos + 12 + int.from_bytes(data[pos:pos + 4], "big")
        if end > len(data):
            break
        kind = data[pos + 4:pos + 8]
        if zlib.crc32(data[pos + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            return f"its {kind.decode('ascii', 'backslashreplace')} chunk fails its checksum"
        if kind == b"IEND":
            return None
        pos = end
    return "cut short: it has no end chunk"


def _opencv_decode(data: bytes) -> tuple[np.ndarray | None, list[str]]:
    """`(BGR image or None, what the codec said)`: OpenCV's `imdecode`, with the lines
    its codecs write on stderr (libpng's, OpenCV's log) kept from the user's screen."""
    import cv2

    said = []

    def codec_line(line: str) -> bool:
        if _CODEC_SAYS.match(line):
            said.append(_CODEC_SAYS.sub("", line, count=1).strip())
            return True
        return False

    with filtered_stderr(codec_line):
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return image, said


def decode_image(path: str, size: tuple[int, int] | None = (64, 64)) -> np.ndarray:
    """Reads an image file as (height, width, 3) uint8 RGB of `size` (width, height).

    Grayscale images become 3 equal channels; other sizes are resized with
    area interpolation (`size=None`: none, the image as stored); an EXIF
    orientation is applied. JPEGs are decoded
    strictly (libjpeg-turbo through simplejpeg): a truncated file, or damaged
    scan data that OpenCV would decode into garbage with only a warning on
    stderr, is refused. PNGs are checked whole (every chunk's CRC, the end
    chunk) before OpenCV reads them, and so are other formats, quietly.

    Raises:
        ValueError: the file cannot be read or decoded, is truncated or
            damaged; the message names the path. Nothing is printed.
    """
    import cv2

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror})") from None
    if not data:
        raise ValueError(f"{path}: is empty")
    if data[:2] == b"\xff\xd8":
        image = _decode_jpeg(path, data)
    else:
        png = data.startswith(PNG_SIGNATURE)
        damage = _png_damage(data) if png else None
        if damage is None:
            image, said = _opencv_decode(data)
            if image is None and png:
                damage = "; ".join(said) or "OpenCV cannot decode it"
        if damage is not None:
            raise ValueError(f"{path}: is a damaged PNG ({damage})")
        if image is None:
            raise ValueError(f"{path}: is not an image (OpenCV cannot decode it)")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image

