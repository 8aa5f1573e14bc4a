"""Python's tarfile as a writer and as an independent reader, for test/layers/tar-writers.test.ts.

  tar-oracle.py write FORMAT SPEC.json OUT.tar   FORMAT: gnu | pax | ustar; prints what it wrote
  tar-oracle.py list ARCHIVE.tar                 prints the members as JSON, as tarfile reads them

Both print [{name, type, size, linkname, sha}] (sha: SHA-256 of a regular file's first MiB).
tarfile's reader is not the judge of its own GNU archives: it turns a typeflag-NUL file into a
directory when the 100-byte name field of its long name ends in `/` (it checks the field before
applying the long name), and then reads the body as headers. So `write` reports what it wrote.

The spec is a JSON list of {name, kind, data (base64), linkname}; kind is file, afile (typeflag
NUL), dir, adir (typeflag NUL with a trailing slash), symlink or link. An entry the format cannot
hold (tarfile raises ValueError) is left out: the listing of the written archive is the truth.
"""
import base64
import hashlib
import io
import json
import sys
import tarfile

HEAD = 1 << 20
KINDS = {
    'file': tarfile.REGTYPE,
    'afile': tarfile.AREGTYPE,
    'dir': tarfile.DIRTYPE,
    'adir': tarfile.AREGTYPE,
    'symlink': tarfile.SYMTYPE,
    'link': tarfile.LNKTYPE,
}
FORMATS = {'gnu': tarfile.GNU_FORMAT, 'pax': tarfile.PAX_FORMAT, 'ustar': tarfile.USTAR_FORMAT}


def write(fmt, spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    extra = {'pax_headers': {'comment': spec['globalComment']}} if fmt == 'pax' and spec.get('globalComment') else {}
    with tarfile.open(out_path, 'w', format=FORMATS[fmt], **extra) as out:
        written = []
        for e in spec['entries']:
            info = tarfile.TarInfo(e['name'] + ('/' if e['kind'] == 'adir' else ''))
            info.type = KINDS[e['kind']]
            info.mtime = 1700000000
            data = base64.b64decode(e.get('data', ''))
            if e['kind'] in ('file', 'afile'):
                info.size = len(data)
            if e['kind'] in ('symlink', 'link'):
                info.linkname = e['linkname']
            if e['kind'] == 'dir':
                info.mode = 0o755
            try:
                out.addfile(info, io.BytesIO(data) if info.size else None)
            except ValueError:
                continue
            kind = {'file': 'file', 'afile': 'file', 'dir': 'directory', 'adir': 'directory'}.get(e['kind'], e['kind'])
            item = {'name': e['name'], 'type': kind, 'size': len(data) if kind == 'file' else 0,
                    'linkname': e.get('linkname', '')}
            if kind == 'file':
                item['sha'] = hashlib.sha256(data[:HEAD]).hexdigest()
            written.append(item)
    json.dump(written, sys.stdout)


def kind_of(m):
    if m.isreg():
        return 'file'
    if m.isdir():
        return 'directory'
    if m.issym():
        return 'symlink'
    if m.islnk():
        return 'link'
    return 'other'


def listing(path):
    out = []
    with tarfile.open(path, 'r:') as t:
        for m in t:
            item = {'name': m.name, 'type': kind_of(m), 'size': m.size if m.isreg() else 0,
                    'linkname': m.linkname if (m.issym() or m.islnk()) else ''}
            if m.isreg():
                item['sha'] = hashlib.sha256(t.extractfile(m).read(HEAD)).hexdigest()
            out.append(item)
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    if sys.argv[1] == 'write':
        write(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        listing(sys.argv[2])
