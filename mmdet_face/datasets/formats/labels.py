"""What a box label means in the formats that name their boxes (Pascal VOC ``<name>``, labelme ``label``): a face, an
ignore box, or something else to leave out. A label the mapping does not name is an error, so that a face class
spelt another way (``Face``, ``head``) never silently yields an image without faces."""
from typing import Dict, Optional

BOX_ROLES = ('face', 'ignore', 'skip')
DEFAULT_BOX_LABELS = dict(face='face')


def check_box_labels(box_labels: Optional[Dict[str, str]]) -> Dict[str, str]:
    """``box_labels`` (label -> ``'face'``, ``'ignore'`` or ``'skip'``), or the default ``{'face': 'face'}``."""
    box_labels = dict(DEFAULT_BOX_LABELS if box_labels is None else box_labels)
    for label, role in box_labels.items():
        if role not in BOX_ROLES:
            raise ValueError(f'box_labels: expected the role of label {label!r} to be one of {BOX_ROLES}, got '
                             f'{role!r}')
    if 'face' not in box_labels.values():
        raise ValueError(f'box_labels: expected at least one label with the role \'face\', got {box_labels}')
    return box_labels


def box_role(label, box_labels: Dict[str, str], path: str, where: str) -> str:
    """The role of ``label`` (``'face'``, ``'ignore'`` or ``'skip'``); an unknown label is an error naming the
    object."""
    if label not in box_labels:
        raise ValueError(f'{path}:{where}: expected a box label among {sorted(box_labels)}, got {label!r}; map it '
                         "with box_labels (e.g. box_labels={'" + str(label) + "': 'face'} or 'skip'; "
                         '--box-label LABEL=face|ignore|skip on the command line)')
    return box_labels[label]


def parse_box_label_options(items) -> Dict[str, str]:
    """``['face=face', 'crowd=ignore']`` (command-line ``LABEL=ROLE`` pairs) as a ``box_labels`` mapping."""
    mapping = {}
    for item in items:
        label, sep, role = item.rpartition('=')
        if not sep or not label:
            raise ValueError(f'--box-label: expected LABEL=face|ignore|skip, got {item!r}')
        mapping[label] = role
    return check_box_labels(mapping)
