"""Writing converter / exporter outputs without ever destroying what the user had.

* An existing output is refused unless the caller asks to replace it (``overwrite=True``, ``--force`` on the
  command line): a typo in an output path must not silently replace a released model or a trained checkpoint.
* The file is written under a temporary name next to the output and renamed into place only once it is complete,
  so an interrupted or failed write never leaves a half file under the output's name (nor a stale one beside it).
"""
import contextlib
import os
import os.path as osp
import uuid


class OutputExistsError(FileExistsError):
    """The output path exists and overwriting was not allowed."""


def check_output_path(path, overwrite: bool = False) -> str:
    """Raise early (before any expensive work) when ``path`` cannot be written; returns ``path`` as a string.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False (the file is left untouched).
        FileNotFoundError: the folder ``path`` would go into does not exist.
        IsADirectoryError: ``path`` is a folder.
    """
    path = os.fspath(path)
    if osp.isdir(path):
        raise IsADirectoryError(f'{path}: is a folder; expected the path of an output file')
    if osp.lexists(path) and not overwrite:
        raise OutputExistsError(f'{path}: already exists and was left unchanged; choose another output path or '
                                'allow replacing it (--force on the command line, overwrite=True in Python)')
    parent = osp.dirname(osp.abspath(path))
    if not osp.isdir(parent):
        raise FileNotFoundError(f'{path}: the output folder {parent} does not exist')
    return path


def _temp_name(path: str) -> str:
    """A fresh name in the output's folder, keeping its extension (some writers look at it)."""
    folder, base = osp.split(osp.abspath(path))
    stem, ext = osp.splitext(base)
    return osp.join(folder, f'.{stem}.{uuid.uuid4().hex[:12]}.tmp{ext}')


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


@contextlib.contextmanager
def atomic_output(path, overwrite: bool = False):
    """Context manager yielding a temporary path to write instead of ``path``; on normal exit it becomes ``path``.

    The temporary file is not created here, so the writer creates it with the usual permissions. If the block
    raises, the temporary file is removed and ``path`` is untouched. Without ``overwrite`` the final step is a
    hard link (fails if ``path`` appeared meanwhile), so even a file created while we were writing survives.

    Raises:
        See :func:`check_output_path`; checked on entry and again before the rename.
    """
    path = check_output_path(path, overwrite)
    tmp = _temp_name(path)
    try:
        yield tmp
        if not osp.isfile(tmp):
            raise RuntimeError(f'{path}: the writer produced no file')
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic, and refuses an existing target
            except FileExistsError:
                raise OutputExistsError(f'{path}: was created by someone else while it was being written; it was '
                                        'left unchanged') from None
            except OSError:  # a file system without hard links: check, then rename
                check_output_path(path, overwrite=False)
                os.replace(tmp, path)
    finally:
        _remove(tmp)


__all__ = ['OutputExistsError', 'check_output_path', 'atomic_output']
