"""Small CJK fonts in WeasyPrint's PDFs.

WeasyPrint subsets every font it embeds but keeps the glyph ids (HarfBuzz's
RETAIN_GIDS), so its content streams can show glyph ids as they are. Noto Sans CJK has
65,535 glyphs: its subset still carries metrics and an empty charstring for every id up
to the highest one drawn, about 130 KB per face once compressed. `compact_fonts`, a
WeasyPrint finisher, subsets such programs again without keeping the ids and leaves
content streams, /W and ToUnicode as they are (they speak in CIDs, which do not change):
- CIDFontType0 (CID-keyed CFF, as Noto CJK): the CFF charset maps each CID to its new
  glyph, and both subsetters keep the original CIDs in it;
- CIDFontType2 (TrueType): a CIDToGIDMap stream maps each CID to its new glyph.
Name-keyed CFF (CIDs used as glyph ids) and programs under SMALL_PROGRAM are left alone:
the Latin, Arabic and Thai subsets are about 20 KB and would only cost time.

HarfBuzz (the libharfbuzz-subset WeasyPrint uses) takes about a millisecond a face;
fontTools, where that library is missing, about 150 ms.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

# Below this a program is not worth subsetting again (uncompressed bytes).
SMALL_PROGRAM = 64 * 1024

_PASSTHROUGH_UNRECOGNIZED = 0x20
_NOTDEF_OUTLINE = 0x40
_INVALID = 0xFFFFFFFF  # HB_MAP_VALUE_INVALID

# (library, function, result, arguments); `None` result: void.
_VOID_P = ctypes.c_void_p
_UINT = ctypes.c_uint
_SIGNATURES: tuple[tuple[str, str, Any, list[Any]], ...] = (
    ("hb", "hb_blob_create", _VOID_P, [ctypes.c_char_p, _UINT, ctypes.c_int, _VOID_P, _VOID_P]),
    ("hb", "hb_blob_destroy", None, [_VOID_P]),
    ("hb", "hb_blob_get_data", _VOID_P, [_VOID_P, ctypes.POINTER(_UINT)]),
    ("hb", "hb_face_create", _VOID_P, [_VOID_P, _UINT]),
    ("hb", "hb_face_destroy", None, [_VOID_P]),
    ("hb", "hb_face_get_glyph_count", _UINT, [_VOID_P]),
    ("hb", "hb_face_reference_blob", _VOID_P, [_VOID_P]),
    ("hb", "hb_set_add", None, [_VOID_P, ctypes.c_uint32]),
    ("hb", "hb_map_get", ctypes.c_uint32, [_VOID_P, ctypes.c_uint32]),
    ("subset", "hb_subset_input_create_or_fail", _VOID_P, []),
    ("subset", "hb_subset_input_destroy", None, [_VOID_P]),
    ("subset", "hb_subset_input_glyph_set", _VOID_P, [_VOID_P]),
    ("subset", "hb_subset_input_set_flags", None, [_VOID_P, _UINT]),
    ("subset", "hb_subset_plan_create_or_fail", _VOID_P, [_VOID_P, _VOID_P]),
    ("subset", "hb_subset_plan_destroy", None, [_VOID_P]),
    ("subset", "hb_subset_plan_execute_or_fail", _VOID_P, [_VOID_P]),
    ("subset", "hb_subset_plan_old_to_new_glyph_mapping", _VOID_P, [_VOID_P]),
)


@lru_cache(maxsize=1)
def harfbuzz() -> dict[str, Any] | None:
    """HarfBuzz's subsetting functions by name, None without libharfbuzz-subset (or one
    older than the plan API, HarfBuzz 4)."""
    paths = ctypes.util.find_library("harfbuzz"), ctypes.util.find_library("harfbuzz-subset")
    if paths[0] is None or paths[1] is None:
        return None
    try:
        libraries = {"hb": ctypes.CDLL(paths[0]), "subset": ctypes.CDLL(paths[1])}
        functions = {}
        for library, name, result, arguments in _SIGNATURES:
            function = getattr(libraries[library], name)
            function.restype = result
            function.argtypes = arguments
            functions[name] = function
    except (OSError, AttributeError):
        return None
    return functions


def _harfbuzz_subset(hb: dict[str, Any], program: bytes, gids: set[int]) -> tuple[bytes, dict[int, int]] | None:
    blob = hb["hb_blob_create"](program, len(program), 0, None, None)  # 0: HB_MEMORY_MODE_DUPLICATE
    face = hb["hb_face_create"](blob, 0)
    hb["hb_blob_destroy"](blob)
    subset_input = plan = new_face = new_blob = None
    try:
        count = hb["hb_face_get_glyph_count"](face)
        if count <= 4 * len(gids):
            return None  # a font embedded whole (PDF forms) or nearly all used
        subset_input = hb["hb_subset_input_create_or_fail"]()
        if not subset_input:
            return None
        glyphs = hb["hb_subset_input_glyph_set"](subset_input)
        for gid in sorted(gids):
            if gid < count:
                hb["hb_set_add"](glyphs, gid)
        hb["hb_subset_input_set_flags"](subset_input, _PASSTHROUGH_UNRECOGNIZED | _NOTDEF_OUTLINE)
        plan = hb["hb_subset_plan_create_or_fail"](face, subset_input)
        if not plan:
            return None
        new_face = hb["hb_subset_plan_execute_or_fail"](plan)
        if not new_face:
            return None
        old_to_new = hb["hb_subset_plan_old_to_new_glyph_mapping"](plan)
        mapping = {gid: new for gid in gids if (new := hb["hb_map_get"](old_to_new, gid)) != _INVALID}
        new_blob = hb["hb_face_reference_blob"](new_face)
        length = _UINT(0)
        data = hb["hb_blob_get_data"](new_blob, ctypes.byref(length))
        if not data or not length.value:
            return None
        return ctypes.string_at(data, length.value), mapping
    finally:
        if new_blob:
            hb["hb_blob_destroy"](new_blob)
        if new_face:
            hb["hb_face_destroy"](new_face)
        if plan:
            hb["hb_subset_plan_destroy"](plan)
        if subset_input:
            hb["hb_subset_input_destroy"](subset_input)
        hb["hb_face_destroy"](face)


def _fonttools_subset(program: bytes, gids: set[int]) -> tuple[bytes, dict[int, int]] | None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(program), recalcBBoxes=False, recalcTimestamp=False)
    order = font.getGlyphOrder()
    if len(order) <= 4 * len(gids):
        return None
    kept = {gid: order[gid] for gid in gids if gid < len(order)}
    options = subset.Options(
        retain_gids=False,
        notdef_outline=True,
        passthrough_tables=True,
        hinting=True,
        layout_features=["*"],
        name_IDs=["*"],
        name_languages=["*"],
        prune_unicode_ranges=False,
        recalc_bounds=False,
    )
    subsetter = subset.Subsetter(options)
    subsetter.populate(glyphs=[".notdef", *kept.values()])
    subsetter.subset(font)
    new = {name: index for index, name in enumerate(font.getGlyphOrder())}
    out = io.BytesIO()
    font.save(out)
    return out.getvalue(), {gid: new[name] for gid, name in kept.items() if name in new}


def subset_program(program: bytes, gids: set[int]) -> tuple[bytes, dict[int, int]] | None:
    """`program` with only `gids` (and .notdef), new glyph ids, and old id -> new id;
    None when it would not get much smaller or the subsetter failed."""
    hb = harfbuzz()
    return _harfbuzz_subset(hb, program, gids) if hb is not None else _fonttools_subset(program, gids)


def _cid_keyed(program: bytes) -> bool:
    from fontTools.ttLib import TTFont, TTLibError

    try:
        font = TTFont(io.BytesIO(program), lazy=True)
        return "CFF " in font and hasattr(font["CFF "].cff.topDictIndex[0], "ROS")
    except (TTLibError, AssertionError, IndexError, KeyError, ValueError):
        return False


def _object(objects: list[Any], reference: object) -> Any:
    """The pydyf object behind b"12 0 R", None for anything else."""
    if isinstance(reference, bytes | str):
        parts = (reference.decode() if isinstance(reference, bytes) else reference).split()
        if len(parts) == 3 and parts[2] == "R" and parts[0].isdigit() and int(parts[0]) < len(objects):
            return objects[int(parts[0])]
    return None


def _cids(widths: Iterable[Any]) -> set[int]:
    """The CIDs of a /W array as WeasyPrint writes it: first CID, [widths], ..."""
    items = list(widths)
    cids: set[int] = set()
    for first, run in zip(items[::2], items[1::2], strict=False):
        if isinstance(first, int) and isinstance(run, list):
            cids.update(range(first, first + len(run)))
    return cids


def compact_fonts(pdf: Any) -> None:
    """Subset large embedded font programs again without their unused glyph slots.

    `pdf`: the pydyf.PDF a WeasyPrint finisher gets, before it is written."""
    import pydyf

    objects = pdf.objects
    programs: dict[int, tuple[str, set[int], list[Any]]] = {}  # stream number -> key, CIDs, CIDFonts
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("Subtype") not in ("/CIDFontType0", "/CIDFontType2"):
            continue
        descriptor = _object(objects, obj.get("FontDescriptor"))
        if not isinstance(descriptor, dict):
            continue
        for key in ("FontFile2", "FontFile3"):
            stream = _object(objects, descriptor.get(key))
            if isinstance(stream, pydyf.Stream):
                _, cids, fonts = programs.setdefault(stream.number, (key, set(), []))
                cids.update(_cids(obj.get("W") or ()))
                fonts.append(obj)
    for number, (key, cids, fonts) in programs.items():
        stream = objects[number]
        if len(stream.stream) != 1 or not isinstance(stream.stream[0], bytes):
            continue
        program = stream.stream[0]
        if len(program) < SMALL_PROGRAM:
            continue
        truetype = key == "FontFile2"
        if not truetype and not _cid_keyed(program):
            continue
        result = subset_program(program, cids | {0})
        if result is None:
            continue
        stream.stream[0], mapping = result
        if "Length1" in stream.extra:
            stream.extra["Length1"] = len(stream.stream[0])
        if truetype:
            table = bytearray(2 * (max(cids, default=0) + 1))
            for cid, gid in mapping.items():
                table[2 * cid : 2 * cid + 2] = gid.to_bytes(2, "big")
            cid_to_gid = pydyf.Stream([bytes(table)], compress=stream.compress)
            pdf.add_object(cid_to_gid)
            for font in fonts:
                font["CIDToGIDMap"] = cid_to_gid.reference
