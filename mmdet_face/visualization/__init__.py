"""Visualizers: mmdet's DetLocalVisualizer is used by name in configs; face drawing for tools lives here."""
from .draw import KEYPOINT_COLORS, draw_faces

__all__ = ['draw_faces', 'KEYPOINT_COLORS']
