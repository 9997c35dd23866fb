"""Writing converter / exporter outputs without ever destroying what the user had.

* An existing output is refused unless the caller asks to replace it (``overwrite=True``, ``--force`` on the
  command line): a typo in an output path must not silently replace a released model or a trained checkpoint.
* The file is written under a temporary name next to the output and renamed into place only once it is complete,
  so an interrupted or failed write never leaves a half file under the output's name (nor a stale one beside it).
* An output that is one of the run's own inputs (the same file by its resolved real path, or a hard link to it) is
  refused whatever the overwrite flag says: the run would destroy what it reads. For folders,
  :func:`check_not_inside` refuses an output folder that is or holds an input.
* What is replaced on request can instead be kept under a new name (:func:`move_aside`).
* An output folder (:func:`check_output_folder`) is a folder, not a file or a link, and one that already holds
  something is refused unless replacing it is allowed; what it holds that the run would never write (someone
  else's files) is refused whatever the flag says.
"""
import contextlib
import os
import os.path as osp
import time
import uuid
from typing import Optional


class OutputExistsError(FileExistsError):
    """The output path exists and overwriting was not allowed."""


class OutputIsInputError(ValueError):
    """The output path is one of the run's inputs (or a folder holding one); refused even with overwriting allowed."""


def real_path(path) -> str:
    """``path`` absolute, with symbolic links resolved (what two names of one file have in common)."""
    return osp.realpath(osp.abspath(os.fspath(path)))


def same_file(a, b) -> bool:
    """Whether ``a`` and ``b`` name the same file or folder: equal real paths, or (both existing) one inode."""
    if real_path(a) == real_path(b):
        return True
    try:
        return osp.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def is_inside(path, folder) -> bool:
    """Whether ``path`` is ``folder`` or lies somewhere below it (real paths compared)."""
    real, top = real_path(path), real_path(folder)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def check_not_input(path, inputs=(), what: str = 'the output') -> None:
    """Raise :class:`OutputIsInputError` when ``path`` names the same file as one of ``inputs`` (``None`` entries
    are skipped), whatever the overwrite flag: writing there would destroy what the run reads."""
    for source in inputs:
        if source is not None and same_file(path, source):
            if os.fspath(path) == os.fspath(source):
                alias = ''
            elif real_path(path) == real_path(source):
                alias = f' (both resolve to {real_path(source)})'
            else:
                alias = ' (hard links to one file)'
            raise OutputIsInputError(f'{path}: {what} is also an input of this run ({source}){alias}; writing it '
                                     'would destroy the input, so it is refused even when replacing outputs is '
                                     'allowed. Choose another output path.')


def check_not_inside(folder, inputs=(), what: str = 'the output folder') -> None:
    """Raise :class:`OutputIsInputError` when the output ``folder`` is one of ``inputs`` or holds one of them
    (``None`` entries are skipped): files written under it could replace what the run reads."""
    for source in inputs:
        if source is not None and (is_inside(source, folder) or same_file(source, folder)):
            where = 'is' if same_file(source, folder) else 'holds'
            raise OutputIsInputError(f'{folder}: {what} {where} the input {source}; writing there could replace '
                                     'the input, so it is refused even when replacing outputs is allowed. Choose '
                                     'an output folder outside the inputs.')


def check_output_path(path, overwrite: bool = False, inputs=()) -> str:
    """Raise early (before any expensive work) when ``path`` cannot be written; returns ``path`` as a string.

    ``inputs``: the paths the run reads; ``path`` must not be one of them (see :func:`check_not_input`).

    Raises:
        OutputIsInputError: ``path`` is one of ``inputs`` (whatever ``overwrite`` says).
        OutputExistsError: ``path`` exists and ``overwrite`` is False (the file is left untouched).
        FileNotFoundError: the folder ``path`` would go into does not exist.
        IsADirectoryError: ``path`` is a folder.
    """
    path = os.fspath(path)
    check_not_input(path, inputs)
    if osp.isdir(path):
        raise IsADirectoryError(f'{path}: is a folder; expected the path of an output file')
    if osp.lexists(path) and not overwrite:
        raise OutputExistsError(f'{path}: already exists and was left unchanged; choose another output path or '
                                'allow replacing it (--force on the command line, overwrite=True in Python)')
    parent = osp.dirname(osp.abspath(path))
    if not osp.isdir(parent):
        raise FileNotFoundError(f'{path}: the output folder {parent} does not exist')
    return path


def check_output_folder(folder, overwrite: bool = False, *, contents: str = 'files', holds: str = None,
                        foreign_entries=None, allow_link: bool = False,
                        fix: str = 'Choose another folder, or allow replacing it (--force on the command line, '
                                   'overwrite=True in Python).') -> str:
    """Raise early (before any expensive work) when the output folder ``folder`` cannot be written; returns it as a
    string. A missing or empty folder is free.

    Args:
        contents: What the folder is meant to hold, for the messages (``'a WIDER FACE submission
            (<event>/<image>.txt)'``).
        holds: What an occupied folder is said to hold (default: ``contents``).
        foreign_entries: ``callable(folder) -> [names]``: the entries that are no part of ``contents``. A folder
            with any is never replaced, whatever ``overwrite`` says (some are named).
        allow_link: Accept a symbolic link to a folder (refused by default: a folder replaced whole is not
            replaced through a link).
        fix: The sentence that ends the message of an occupied folder.

    Raises:
        NotADirectoryError: ``folder`` is a file (or, without ``allow_link``, a symbolic link), whatever
            ``overwrite`` says.
        FileExistsError: ``folder`` holds foreign entries (whatever ``overwrite`` says), or anything at all and
            ``overwrite`` is False.
    """
    folder = os.fspath(folder)
    if osp.islink(folder) and not allow_link:
        raise NotADirectoryError(f'{folder}: is a symbolic link; the output folder is written (and replaced) whole, '
                                 'which is not done through a link. Give the folder itself.')
    if osp.lexists(folder) and not osp.isdir(folder):
        raise NotADirectoryError(f'{folder}: is a file, not a folder; the output names the folder {contents} is '
                                 'written to. The file is left as it is (also with overwriting allowed); choose a '
                                 'folder name.')
    if osp.isdir(folder) and os.listdir(folder):
        foreign = foreign_entries(folder) if foreign_entries else []
        if foreign:
            raise FileExistsError(f'{folder}: holds files that are not {contents}, e.g. {", ".join(foreign)}; it '
                                  'is never replaced (also not with overwriting allowed). Choose another (new or '
                                  'empty) folder.')
        if not overwrite:
            raise FileExistsError(f'{folder} already holds {holds or contents}: refusing to mix two runs in one '
                                  'folder. ' + fix)
    return folder


def move_aside(path, stamp: Optional[str] = None) -> str:
    """Rename ``path`` (a file or a folder) to ``<path>.<stamp>`` (``-2``, ``-3``... appended when taken) instead of
    replacing or deleting it; returns the new path. ``stamp`` defaults to the current local time,
    ``YYYYmmdd-HHMMSS``."""
    path = os.fspath(path).rstrip('/')
    stamp = stamp or time.strftime('%Y%m%d-%H%M%S')
    target, n = f'{path}.{stamp}', 1
    while osp.lexists(target):
        n += 1
        target = f'{path}.{stamp}-{n}'
    os.rename(path, target)
    return target


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


@contextlib.contextmanager
def atomic_output_folder(folder):
    """Context manager yielding a new, empty temporary folder (next to ``folder``) to fill instead of ``folder``;
    on normal exit it is renamed to ``folder``, so a reader sees all of it or nothing. If the block raises (an
    error, Ctrl-C), the temporary folder is removed with what it holds and ``folder`` is untouched.

    ``folder`` must be free (absent or an empty folder) when the block ends: move an old one aside in the block
    (:func:`move_aside`), once everything it writes has succeeded.

    Raises:
        OutputExistsError: ``folder`` holds something when the block ends (left unchanged).
    """
    import shutil
    folder = os.fspath(folder).rstrip('/') or '/'
    tmp = _temp_name(folder)
    os.makedirs(tmp)
    try:
        yield tmp
        if osp.isdir(folder) and not osp.islink(folder) and not os.listdir(folder):
            os.rmdir(folder)
        if osp.lexists(folder):
            raise OutputExistsError(f'{folder}: exists; it was left unchanged')
        os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ['OutputExistsError', 'OutputIsInputError', 'check_output_path', 'check_output_folder', 'check_not_input',
           'check_not_inside', 'atomic_output', 'atomic_output_folder', 'move_aside', 'is_inside', 'real_path',
           'same_file']
