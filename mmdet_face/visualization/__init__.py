"""Visualizers: mmdet's DetLocalVisualizer is used by name; face-specific drawing lives in mmdet_face.demo."""
