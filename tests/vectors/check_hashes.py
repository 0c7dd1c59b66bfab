#!/usr/bin/env python3
"""check_hashes.py -- the hashes of the envelope test vectors, worked out
from docs/PROTOCOL.md (sections 3 and 5) alone, with nothing of keten's
code: header_hash, digest and wire_hash of every envelope in
tests/vectors/ against the values vectors.txt publishes.

Usage: check_hashes.py [VECTOR_DIR]
Prints one line per value checked and a closing "N passed, N failed";
exits 1 when any value differs or an envelope breaks the rules of
section 3.
"""
import hashlib
import os
import struct
import sys

CTX_ENVELOPE = b"keten/v1/envelope\0"
CTX_BODY = b"keten/v1/body\0"
CTX_WIRE = b"keten/v1/wire\0"


def u32(x):
    return struct.pack(">I", x)


def u64(x):
    return struct.pack(">Q", x)


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def varint(b, pos):
    """A shortest-form varint at pos: (value, next position)."""
    v = shift = 0
    start = pos
    while True:
        if pos >= len(b) or shift > 63:
            raise ValueError("varint runs past the end")
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            break
    if pos - start > 1 and b[pos - 1] == 0:
        raise ValueError("varint not in shortest form")
    return v, pos


def fields(b):
    """The outer Envelope's fields, in wire order: (number, offset of the
    contents, length)."""
    out, pos = [], 0
    while pos < len(b):
        tag, pos = varint(b, pos)
        if tag & 7 != 2:
            raise ValueError("field %d is not length-delimited" % (tag >> 3))
        n, pos = varint(b, pos)
        if pos + n > len(b):
            raise ValueError("field %d runs past the end" % (tag >> 3))
        out.append((tag >> 3, pos, n))
        pos += n
    return out


def hashes(wire):
    f = fields(wire)
    num = [x[0] for x in f]
    if num.count(1) != 1 or num.count(2) != 1 or num.count(4) != 1 or \
            any(x not in (1, 2, 3, 4) for x in num):
        raise ValueError("not one header, one signature and one ciphertext")
    (_, hoff, hlen), = [x for x in f if x[0] == 1]
    (_, coff, clen), = [x for x in f if x[0] == 4]
    stanzas = [wire[o:o + n] for (k, o, n) in f if k == 3]
    header_hash = sha256(wire[hoff:hoff + hlen])
    body = [CTX_BODY, u32(len(stanzas))]
    for s in stanzas:
        body += [u32(len(s)), s]
    body += [u64(clen), wire[coff:coff + clen]]
    body_hash = sha256(*body)
    digest = sha256(CTX_ENVELOPE, header_hash, body_hash)
    wire_hash = sha256(CTX_WIRE, digest, u64(coff), u64(clen),
                       wire[:coff], wire[coff + clen:])
    return {"header_hash": header_hash, "digest": digest,
            "wire_hash": wire_hash}


def published(path):
    """vectors.txt: {section: {key: value}}; "" is the top."""
    out, sec = {"": {}}, ""
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            sec = line[1:-1]
            out[sec] = {}
        elif "=" in line:
            k, v = line.split("=", 1)
            out[sec][k.strip()] = v.strip()
    return out


def main():
    vdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    pub = published(os.path.join(vdir, "vectors.txt"))
    passed = failed = 0
    for name in sorted(k for k in pub if k):
        try:
            got = hashes(open(os.path.join(vdir, name), "rb").read())
        except (OSError, ValueError) as e:
            print("not ok - %s: %s" % (name, e))
            failed += 1
            continue
        for key in ("header_hash", "digest", "wire_hash"):
            if key not in pub[name]:
                continue
            if got[key].hex() == pub[name][key]:
                print("ok - %s %s" % (name, key))
                passed += 1
            else:
                print("not ok - %s %s: computed %s, published %s" %
                      (name, key, got[key].hex(), pub[name][key]))
                failed += 1
        if "wire_hash" not in pub[name]:
            print("not ok - %s: vectors.txt publishes no wire_hash" % name)
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
