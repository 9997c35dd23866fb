"""Face drawing: :class:`FaceLocalVisualizer` (registered as ``FaceLocalVisualizer``, used by configs, the demo tools
and the API) over the one numpy / OpenCV routine :func:`draw_faces`."""
from .draw import KEYPOINT_COLORS, default_thickness, draw_faces
from .face_visualizer import FaceLocalVisualizer

__all__ = ['FaceLocalVisualizer', 'draw_faces', 'default_thickness', 'KEYPOINT_COLORS']
