from .face_detector import FaceDetections, FaceDetector

__all__ = ['FaceDetector', 'FaceDetections']
