"""A small reader (and writer, for tests) of the safetensors format, standard library only:
8 bytes little-endian header length N, N bytes of JSON header ({name: {dtype, shape,
data_offsets: [begin, end]}, optional "__metadata__"}), then the raw little-endian bytes, with
offsets relative to the end of the header. Reads SOL-ExecBench workload inputs of the form
`{"type": "safetensors", "path", "tensor_key"}`, so the `safetensors` package is not needed."""

import json
import struct

# safetensors dtype names -> (torch dtype name, bytes per element)
DTYPES = {
    "F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
    "F8_E4M3": ("float8_e4m3fn", 1), "F8_E5M2": ("float8_e5m2", 1),
    "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1),
    "U8": ("uint8", 1), "BOOL": ("bool", 1),
}
TORCH_TO_ST = {v[0]: k for k, v in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def read_header(path):
    """Return (header dict without __metadata__, metadata, data start offset)."""
    with open(path, "rb") as handle:
        raw = handle.read(8)
        if len(raw) != 8:
            raise SafetensorsError("%s: too short for a safetensors header" % path)
        (size,) = struct.unpack("<Q", raw)
        if size > MAX_HEADER:
            raise SafetensorsError("%s: header of %d bytes is too large" % (path, size))
        text = handle.read(size)
        if len(text) != size:
            raise SafetensorsError("%s: header cut short" % path)
        handle.seek(0, 2)
        file_size = handle.tell()
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SafetensorsError("%s: header is not JSON: %s" % (path, exc))
    if not isinstance(header, dict):
        raise SafetensorsError("%s: header is not an object" % path)
    metadata = header.pop("__metadata__", None)
    start = 8 + size
    for name, entry in header.items():
        dtype = entry.get("dtype")
        if dtype not in DTYPES:
            raise SafetensorsError("%s: tensor %r has unsupported dtype %r" % (path, name, dtype))
        begin, end = entry.get("data_offsets", [None, None])
        count = 1
        for dim in entry.get("shape", []):
            count *= int(dim)
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
            raise SafetensorsError("%s: tensor %r has bad data_offsets" % (path, name))
        if end - begin != count * DTYPES[dtype][1]:
            raise SafetensorsError("%s: tensor %r: %d bytes for shape %s of %s" % (
                path, name, end - begin, entry.get("shape"), dtype))
        if start + end > file_size:
            raise SafetensorsError("%s: tensor %r runs past the end of the file" % (path, name))
    return header, metadata, start


def read_tensor_bytes(path, key):
    """Return (torch dtype name, shape list, bytes) of one tensor."""
    header, _, start = read_header(path)
    if key not in header:
        raise SafetensorsError("%s: no tensor %r (has %s)" % (path, key, sorted(header)[:10]))
    entry = header[key]
    begin, end = entry["data_offsets"]
    with open(path, "rb") as handle:
        handle.seek(start + begin)
        data = handle.read(end - begin)
    return DTYPES[entry["dtype"]][0], list(entry.get("shape", [])), data


def write(path, tensors, metadata=None):
    """tensors: {name: (torch dtype name, shape, bytes)}. Writes a valid file (for tests)."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": TORCH_TO_ST[dtype], "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)))
        handle.write(text)
        for blob in blobs:
            handle.write(blob)
