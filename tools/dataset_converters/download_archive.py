"""A WIDER FACE download as ``tools/dataset_converters/prepare_widerface.py`` reads it: a zip file as downloaded or
the unpacked folder, with every zip member checked against its CRC as it is read."""
import os
import os.path as osp
import re
import shutil
import zipfile
import zlib
from typing import Dict, List, Optional, Sequence

_IMAGE_RE = re.compile(r'(?:^|/)images/([^/]+/[^/]+\.(?:jpe?g|png))$', re.IGNORECASE)


class PrepareError(RuntimeError):
    """The inputs cannot make a correct dataset (the message says what is wrong or missing)."""


def looks_like_zip(path: str) -> bool:
    """A file meant as a zip (readable or not): a zip, or named ``.zip``, or starting with the zip signature."""
    if path.lower().endswith('.zip') or zipfile.is_zipfile(path):
        return True
    with open(path, 'rb') as f:
        return f.read(2) == b'PK'


class Source:
    """A download as a zip file or an unpacked folder; members are ``/``-separated paths relative to it."""

    def __init__(self, path: str):
        self.path = path
        self.zip: Optional[zipfile.ZipFile] = None
        if osp.isdir(path):
            self.names = sorted(
                osp.relpath(osp.join(d, f), path).replace(os.sep, '/') for d, _, files in os.walk(path)
                for f in files)
        elif osp.isfile(path) and looks_like_zip(path):
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, EOFError, ValueError) as e:  # truncated download, not a zip
                raise PrepareError(f'{path} is damaged (not a readable zip: {e})') from None
            self.names = sorted(n for n in self.zip.namelist() if not n.endswith('/'))
        elif not osp.exists(path):
            raise PrepareError(f'{path}: no such file or folder')
        else:
            raise PrepareError(f'{path}: expected a .zip file or a folder')
        # macOS archive metadata is not data
        self.names = [n for n in self.names if not n.startswith('__MACOSX/') and not osp.basename(n).startswith('._')]

    def find(self, suffix: str) -> List[str]:
        """Members equal to ``suffix`` or ending with ``/suffix``."""
        return [n for n in self.names if n == suffix or n.endswith('/' + suffix)]

    def find_one(self, suffixes: Sequence[str]) -> Optional[str]:
        """The single member matching the first suffix that matches any; ``PrepareError`` if it is ambiguous."""
        for suffix in suffixes:
            found = self.find(suffix)
            if len(found) > 1:
                raise PrepareError(f'{self.path}: more than one {suffix}: {", ".join(found)}')
            if found:
                return found[0]
        return None

    def describe(self, name: str) -> str:
        return f'{self.path}:{name}' if self.zip else osp.join(self.path, name)

    def read(self, name: str) -> bytes:
        """The member's bytes; a zip member is checked against its CRC as it is read.

        Raises:
            PrepareError: naming the archive and the member, when the member's data is damaged (bad CRC, a
                broken compressed stream, data cut short).
        """
        if self.zip is None:
            with open(osp.join(self.path, name), 'rb') as f:
                return f.read()
        try:
            return self.zip.read(name)
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise PrepareError(f'{self.path} is damaged: its member {name} cannot be read '
                               f'({type(e).__name__}: {e})') from None

    def local_path(self, name: str, tmp_dir: str) -> str:
        """A path on disk holding the member (the member itself for a folder, an extracted copy for a zip,
        under ``tmp_dir/<zip name>/<member>`` so that messages still say where it came from)."""
        if self.zip is None:
            return osp.join(self.path, name)
        dest = osp.join(tmp_dir, osp.basename(self.path), name)
        self.copy(name, dest)
        return dest

    def copy(self, name: str, dest: str) -> None:
        os.makedirs(osp.dirname(dest), exist_ok=True)
        if self.zip is None:
            shutil.copyfile(osp.join(self.path, name), dest)
        else:
            data = self.read(name)
            with open(dest, 'wb') as dst:
                dst.write(data)

    def images(self) -> Dict[str, str]:
        """``{'<event>/<name>.jpg': member}`` for every ``images/<event>/<name>`` member."""
        found: Dict[str, str] = {}
        for name in self.names:
            m = _IMAGE_RE.search(name)
            if m:
                rel = m.group(1)
                if rel in found:
                    raise PrepareError(f'{self.path}: the image {rel} is there twice ({found[rel]}, {name})')
                found[rel] = name
        return found
