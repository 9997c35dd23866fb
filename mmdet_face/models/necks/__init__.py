from .ssh import RetinaFaceFPN, RetinaFaceSSH  # noqa: F401
